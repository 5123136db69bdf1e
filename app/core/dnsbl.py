"""DNS blacklists (DNSBLs, RFC 5782): which name to ask, and what an answer means.

Pure: no network. A list answers a query for a listed domain or IP with A records in
127.0.0.0/8 whose value is the reason ("return code"); a name that is not listed does not
exist. Two kinds of answer look like a listing and are not, and reporting them as one would
blame a customer for our resolver:

* 127.255.255.0/24 is the lists' error range (Spamhaus: .252 typing error in the list name,
  .254 query through a public/open resolver, .255 excessive number of queries), and
  Spamhaus DBL answers 127.0.1.255 to an IP asked of a domain list.
* 127.0.0.1 is never a listing (RFC 5782 §5: a list MUST NOT list it); URIBL answers it to
  every query it refuses. Anything outside 127.0.0.0/8 is not a DNSBL answer at all, usually
  a resolver that rewrites NXDOMAIN into the address of an advertising page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, ip_address
from types import MappingProxyType

from app.core.findings import Finding, finding

LISTED, REFUSED, NOT_LISTED = "listed", "refused", "not_listed"
DOMAIN, IP = "domain", "ip"

DNSBL_ANSWERS = IPv4Network("127.0.0.0/8")  # RFC 5782 §2.1
ERROR_ANSWERS = IPv4Network("127.255.255.0/24")
NEVER_LISTED = IPv4Address("127.0.0.1")  # RFC 5782 §5

SPAMHAUS_ERRORS = MappingProxyType({
    "127.255.255.252": "a typing error in the list's name",
    "127.255.255.254": "the query came through a public or open resolver, which Spamhaus "
                       "does not answer",
    "127.255.255.255": "too many queries from our resolver",
})


@dataclass(frozen=True)
class Blocklist:
    """What we know about one list: its name, what it lists, its return codes, where to delist."""

    name: str
    codes: Mapping[str, str]
    removal: str
    refusals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


SPAMHAUS_REMOVAL = "https://check.spamhaus.org/"
# Keyed by the list's zone; a zone below one of these (a Spamhaus DQS key zone such as
# <key>.zen.dq.spamhaus.net) uses the same table.
KNOWN_LISTS: Mapping[str, Blocklist] = MappingProxyType({
    zone: list_ for zones, list_ in (
        (tuple(f"{part}.{base}" for part in ("zen", "sbl", "xbl", "pbl", "sbl-xbl")
               for base in ("spamhaus.org", "dq.spamhaus.net")), Blocklist(
            "Spamhaus", MappingProxyType({
                "127.0.0.2": "SBL: a known spam source or spam operation",
                "127.0.0.3": "SBL CSS: snowshoe spam (low-volume spam spread over many IPs)",
                "127.0.0.4": "XBL: the host looks infected or hijacked (exploits, bots)",
                "127.0.0.9": "SBL DROP: a hijacked or criminal network",
                "127.0.0.10": "PBL (ISP-maintained): an address its owner says should not "
                              "send mail to other servers directly",
                "127.0.0.11": "PBL (Spamhaus-maintained): an address that should not send "
                              "mail to other servers directly",
                "127.0.0.30": "BCL: a botnet controller",
            }), SPAMHAUS_REMOVAL, SPAMHAUS_ERRORS)),
        (("dbl.spamhaus.org", "dbl.dq.spamhaus.net"), Blocklist(
            "Spamhaus DBL", MappingProxyType({
                "127.0.1.2": "a domain with a poor reputation: seen in spam",
                "127.0.1.4": "a domain used for phishing",
                "127.0.1.5": "a domain used for malware",
                "127.0.1.6": "a domain used as a botnet controller",
                "127.0.1.102": "an abused legitimate domain: seen in spam",
                "127.0.1.103": "an abused legitimate domain: a redirector used by spammers",
                "127.0.1.104": "an abused legitimate domain: used in phishing",
                "127.0.1.105": "an abused legitimate domain: used by malware",
                "127.0.1.106": "an abused legitimate domain: hosting a botnet controller",
            }), SPAMHAUS_REMOVAL, MappingProxyType({
                **SPAMHAUS_ERRORS,
                "127.0.1.255": "an IP address was asked of a domain list",
            }))),
        (("bl.spamcop.net",), Blocklist(
            "SpamCop",
            MappingProxyType({"127.0.0.2": "reported by SpamCop users as a spam source; "
                                           "listings expire about 24 hours after the "
                                           "reports stop"}),
            "https://www.spamcop.net/bl.shtml")),
        (("b.barracudacentral.org",), Blocklist(
            "Barracuda Reputation Block List",
            MappingProxyType({"127.0.0.2": "a poor sending reputation at Barracuda"}),
            "https://www.barracudacentral.org/rbl/removal-request")),
    ) for zone in zones
})


@dataclass(frozen=True)
class DnsblQuery:
    """One question to one list: `name` is what to look up (A) in DNS."""

    list_zone: str
    subject: str  # the domain or IP address asked about
    kind: str  # DOMAIN or IP
    name: str


@dataclass(frozen=True)
class DnsblVerdict:
    status: str  # LISTED, REFUSED or NOT_LISTED
    reasons: tuple[str, ...] = ()  # "127.0.1.2 (a domain used for phishing)", one per code


def domain_query(domain: str, list_zone: str) -> DnsblQuery:
    """Domain lists are asked `<domain>.<list>` (RFC 5782 §2.2)."""
    zone = _zone(list_zone)
    domain = domain.lower().removesuffix(".")
    return DnsblQuery(zone, domain, DOMAIN, f"{domain}.{zone}")


def ip_query(ip: str, list_zone: str) -> DnsblQuery:
    """IP lists are asked the address reversed: octets for IPv4, nibbles for IPv6 (RFC 5782
    §2.1, §2.4). Raises ValueError for a string that is not an IP address."""
    address = ip_address(ip)
    zone = _zone(list_zone)
    reversed_name = address.reverse_pointer.rsplit(".", 2)[0]  # without in-addr.arpa / ip6.arpa
    return DnsblQuery(zone, str(address), IP, f"{reversed_name}.{zone}")


def judge(query: DnsblQuery, addresses: Sequence[str]) -> DnsblVerdict:
    """What a list's A records for `query` mean. Empty (NXDOMAIN / NODATA) is not listed."""
    known = blocklist(query.list_zone)
    listed, refused = [], []
    for text in addresses:
        try:
            address = ip_address(text)
        except ValueError:
            refused.append(f"{text} (not an address)")
            continue
        if not isinstance(address, IPv4Address) or address not in DNSBL_ANSWERS:
            refused.append(f"{address} (outside 127.0.0.0/8, so not a blacklist answer: "
                           "probably a resolver that rewrites unknown names)")
        elif known is not None and str(address) in known.refusals:
            refused.append(f"{address} ({known.refusals[str(address)]})")
        elif address in ERROR_ANSWERS:
            refused.append(f"{address} (the list's error range 127.255.255.x: the query was "
                           "refused, this is not a listing)")
        elif address == NEVER_LISTED:
            refused.append(f"{address} (never a listing, RFC 5782 §5: lists such as URIBL "
                           "answer it to queries they refuse)")
        else:
            listed.append(_reason(known, address))
    if listed:
        return DnsblVerdict(LISTED, tuple(listed))
    if refused:
        return DnsblVerdict(REFUSED, tuple(refused))
    return DnsblVerdict(NOT_LISTED)


def blocklist(list_zone: str) -> Blocklist | None:
    """The known list behind a zone, also for a zone below it (a DQS key zone)."""
    zone = _zone(list_zone)
    for known_zone, known in KNOWN_LISTS.items():
        if zone == known_zone or zone.endswith("." + known_zone):
            return known
    return None


def listing_finding(domain: str, query: DnsblQuery, verdict: DnsblVerdict) -> Finding:
    """DNSBL_LISTED for `domain`: which list, why (its return codes), and what to do.

    IP lists are only asked about the platform's own sending IPs, so an IP listing is ours
    to clear and the customer has nothing to change.
    """
    known = blocklist(query.list_zone)
    list_name = f"{known.name} ({query.list_zone})" if known else query.list_zone
    removal = f" ({known.removal})" if known else ""
    reasons = "; ".join(verdict.reasons)
    if query.kind == DOMAIN:
        what = f"{query.subject} is listed on {list_name}: {reasons}."
        fix = ("Find and stop what got the domain listed (compromised accounts or site, a "
               f"bought list, links in spam), then ask the list to remove it{removal}.")
    else:
        what = (f"Our sending IP {query.subject}, which sends {domain}'s mail, is listed on "
                f"{list_name}: {reasons}. Receivers that use this list refuse that mail.")
        fix = ("Nothing to change in your DNS: the address is PenguinMails', and the platform "
               f"team handles its removal{removal}.")
    return finding("DNSBL_LISTED", query.name, "A", what, fix)


def refused_finding(query: DnsblQuery, why: str) -> Finding:
    """DNSBL_QUERY_REFUSED (info): the list could not be asked, so nothing is known either way."""
    return finding("DNSBL_QUERY_REFUSED", query.name, "A",
                   f"{query.list_zone} did not give a usable answer about {query.subject}: "
                   f"{why}. This is not a listing; the domain's health is not affected.",
                   "Nothing to change in your DNS. The platform's resolver must be allowed to "
                   "query this list (lists such as Spamhaus refuse public resolvers).")


def _reason(known: Blocklist | None, address: IPv4Address) -> str:
    if known is not None and str(address) in known.codes:
        return f"{address} ({known.codes[str(address)]})"
    return f"{address} (listed; see the list's documentation for this return code)"


def _zone(list_zone: str) -> str:
    return list_zone.strip().lower().strip(".")
