"""Findings about the records that carry mail rather than authenticate it, and about DNS itself.

Pure: no network. The validator asks DNS and passes the answers in as plain values: the
return path (bounces must reach us, RFC 5321 §4.5.5), the tracking CNAME, a CNAME that shares
its name with other data (RFC 1034 §3.6.2, RFC 2181 §10.1), the domain's own MX (RFC 5321
§5.1, RFC 7505), and what each authoritative nameserver said about one name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from app.core.findings import ERROR, INFO, WARNING, Finding, finding

ANSWERED = frozenset({"ok", "nxdomain", "nodata"})  # the server spoke for the zone
LAME = frozenset({"lame", "refused"})  # RFC 8499: a server that does not serve the zone
SERVER_FAILURES = MappingProxyType({"timeout": "DNS_TIMEOUT", "servfail": "DNS_SERVFAIL"})
SHOWN_VALUE = 90  # characters of a record shown in a message


@dataclass(frozen=True)
class ServerAnswer:
    """One authoritative nameserver's answer for one name and type; TXT values joined."""

    server: str
    status: str  # the resolver's: ok, nxdomain, nodata, timeout, servfail, refused, lame, error
    values: tuple[str, ...] = ()
    detail: str = ""


def mx_pairs(records: Sequence[str]) -> list[tuple[int, str]]:
    """(preference, exchange) from MX presentation form, exchange lower-case without the dot;
    the null MX (RFC 7505) has the exchange ""."""
    pairs = []
    for record in records:
        preference, _, exchange = record.strip().partition(" ")
        pairs.append((int(preference), exchange.strip().lower().removesuffix(".")))
    return pairs


def is_null_mx(pairs: Sequence[tuple[int, str]]) -> bool:
    """RFC 7505 §3: one MX with an empty exchange (".") means the domain takes no mail."""
    return any(exchange == "" for _, exchange in pairs)


# --- CNAME records we ask for (return path, tracking) -----------------------------------------


def cname_findings(code: str, host: str, expected_target: str,
                   chain: Sequence[str]) -> list[Finding]:
    """`host` must be a CNAME that leads to `expected_target`; `chain` is what it leads to,
    hop by hop (empty: no CNAME). A chain through a name of the customer's own is fine."""
    target = _host(expected_target)
    hops = [_host(hop) for hop in chain]
    if target in hops:
        return []
    record = f"{host} CNAME {target}"
    what = {"RETURN_PATH_WRONG": "bounces to your return path do not reach us and SPF for "
                                 "your mail is not checked against our servers",
            "TRACKING_CNAME_WRONG": "open and click tracking links on your domain do not "
                                    "work"}.get(code, "it does not reach us")
    if not hops:
        return [finding(code, host, "CNAME", f"There is no CNAME record at {host}, so {what}.",
                        f"Publish the record {record}.")]
    return [finding(code, host, "CNAME",
                    f"{host} is a CNAME to {' → '.join(hops)}, not to {target}, so {what}.",
                    f"Change the record to {record}.")]


# --- return path in MX mode -------------------------------------------------------------------


def return_path_mx_findings(host: str, expected_exchange: str, expected_preference: int,
                            mx_records: Sequence[str]) -> list[Finding]:
    """Bounces to `host` go to its most preferred MX hosts (RFC 5321 §5.1): ours must be one."""
    exchange = _host(expected_exchange)
    record = f"{host} MX {expected_preference} {exchange}"
    pairs = mx_pairs(mx_records)
    if not pairs:
        return [finding("MX_MISSING", host, "MX",
                        f"{host}, your return path, has no MX record, so bounces for your "
                        "mail cannot reach us and are lost.",
                        f"Publish the record {record}.")]
    if is_null_mx(pairs):
        return [finding("RETURN_PATH_WRONG", host, "MX",
                        f"{host}, your return path, publishes a null MX (RFC 7505): it "
                        "declares that it takes no mail, so bounces are refused.",
                        f"Replace it with the record {record}.")]
    best = min(preference for preference, _ in pairs)
    if (best, exchange) in pairs:
        return []
    shown = ", ".join(f"{p} {e}" for p, e in sorted(pairs))
    where = ("is only a backup there" if exchange in (e for _, e in pairs)
             else "is not among them")
    return [finding("RETURN_PATH_WRONG", host, "MX",
                    f"The MX records of {host}, your return path, are {shown}; our bounce "
                    f"host {exchange} {where}, so bounces go elsewhere.",
                    f"Publish only the record {record}.")]


def return_path_spf_findings(host: str, expected_value: str, spf_records: Sequence[str],
                             not_passing: Mapping[str, str]) -> list[Finding]:
    """Receivers check SPF against the return path (RFC 7208 §2.4), so `host` needs one SPF
    record our IPs pass; `not_passing` maps each IP of ours that does not to its result."""
    fix = f"Publish exactly one TXT record at {host}: {expected_value}"
    if not spf_records:
        return [finding("RETURN_PATH_WRONG", host, "TXT",
                        f"{host}, your return path, has no SPF record, so receivers cannot "
                        "confirm that we may send with it.", fix)]
    if len(spf_records) > 1:
        return [finding("RETURN_PATH_WRONG", host, "TXT",
                        f"{host}, your return path, has {len(spf_records)} SPF records; "
                        "receivers then fail SPF for all mail (RFC 7208 §4.5).", fix)]
    if not_passing:
        shown = ", ".join(f"{ip} gets {result}" for ip, result in sorted(not_passing.items()))
        return [finding("RETURN_PATH_WRONG", host, "TXT",
                        f"The SPF record of {host}, your return path, does not let our "
                        f"servers send: {shown} for `{_shorten(spf_records[0])}`.", fix)]
    return []


# --- CNAME beside other data ------------------------------------------------------------------


def cname_conflict_finding(host: str, target: str, other_types: Sequence[str], *,
                           cname_expected: bool) -> Finding:
    """A CNAME and other data at one name: resolvers return either at random (RFC 1034
    §3.6.2, RFC 2181 §10.1). `cname_expected` says which of the two we asked for."""
    types = _types(other_types)
    if cname_expected:
        fix = f"Delete the {types} records at {host}; keep only the CNAME to {_host(target)}."
    elif "SOA" in other_types or "NS" in other_types:
        fix = (f"Delete the CNAME at {host}: the top of a zone (SOA, NS) can never be a CNAME "
               "(RFC 1912 §2.4); publish the records themselves there.")
    else:
        fix = (f"Delete the CNAME at {host} (to {_host(target)}) and publish the {types} "
               "records there yourself, or delete those records and keep the CNAME.")
    return finding("CNAME_CONFLICT", host, "CNAME",
                   f"{host} has a CNAME (to {_host(target)}) and {types} records as well. A "
                   "name with a CNAME can hold nothing else, so resolvers may see either one "
                   "and DNS hosts may drop one of them.", fix)


# --- the domain's own MX (unmanaged domains) ---------------------------------------------------


def domain_mx_findings(domain: str, mx_records: Sequence[str], has_address: bool, *,
                       sends_mail: bool = True) -> list[Finding]:
    """Whether mail to `domain` (bounces, replies, DMARC failure reports) can be delivered.

    A domain that says it sends no mail (SPF `v=spf1 -all`) needs no MX: a null MX or none at
    all is then the parked-domain setup done right, not a finding.

    RFC 5321 §5.1: without MX records the domain's A/AAAA is its implicit MX, so mail still
    arrives; that is only worth an info note. With neither, nothing sent to the domain can be
    delivered and receivers that check the sender's domain (Postfix
    reject_unknown_sender_domain, for one) refuse its mail: an error. A null MX (RFC 7505)
    says on purpose that the domain takes no mail; receivers may refuse it as a sender
    (§4.2), so it warns.
    """
    pairs = mx_pairs(mx_records)
    publish = f"Publish MX records at {domain} naming the server that receives its mail."
    if not sends_mail or (pairs and not is_null_mx(pairs)):
        return []
    if pairs:
        message, severity = (f"{domain} publishes a null MX (RFC 7505): it takes no mail, so "
                             "bounces and replies to it are refused, and receivers may refuse "
                             "mail sent from it.", WARNING)
        publish = (f"If {domain} sends mail, replace the null MX with the MX records of the "
                   "server that receives its mail.")
    elif has_address:
        message, severity = (f"{domain} has no MX record; mail to it goes to its A/AAAA "
                             "address (the implicit MX of RFC 5321 §5.1), which works only if "
                             "that host runs a mail server.", INFO)
    else:
        message, severity = (f"{domain} has no MX record and no address, so no mail to it can "
                             "be delivered: bounces and replies are lost, and receivers that "
                             "check the sender's domain refuse its mail.", ERROR)
    return [finding("MX_MISSING", domain, "MX", message, publish, severity=severity)]


# --- authoritative nameservers -----------------------------------------------------------------


def lame_servers(answers: Sequence[ServerAnswer]) -> dict[str, str]:
    """The servers that do not serve the zone (server → why), but only when another server
    does: if none answers with authority, the nameservers are not the zone's authoritative
    ones at all (a recursive resolver given as --nameserver) and nothing is known."""
    if not any(answer.status in ANSWERED for answer in answers):
        return {}
    return {answer.server: answer.detail or answer.status
            for answer in answers if answer.status in LAME}


def lame_finding(domain: str, lame: Mapping[str, str]) -> Finding:
    shown = "; ".join(f"{server}: {why}" for server, why in sorted(lame.items()))
    return finding("NS_LAME", domain, "NS",
                   f"These nameservers of {domain} do not serve its zone (lame "
                   f"delegation): {shown}. Resolvers that ask them get no answer and retry "
                   "elsewhere, or fail.",
                   "Remove these nameservers from the NS records (at your registrar and in the "
                   "zone), or set the zone up on them.")


def server_failure_findings(name: str, rdtype: str,
                            answers: Sequence[ServerAnswer]) -> list[Finding]:
    """A nameserver that timed out or failed while others answered: resolvers retry the
    others, so it is a warning, not the record's failure."""
    if not any(answer.status in ANSWERED for answer in answers):
        return []
    failing: dict[str, list[str]] = {}
    for answer in answers:
        # "error" is left out: it is mostly our side (no IPv6 route to the server, say).
        if answer.status in SERVER_FAILURES:
            code = SERVER_FAILURES[answer.status]
            detail = f" ({answer.detail})" if answer.detail else ""
            failing.setdefault(code, []).append(f"{answer.server}: {answer.status}{detail}")
    return [finding(code, name, rdtype,
                    f"Asked for the {rdtype} records of {name}: {'; '.join(servers)}. The "
                    "other nameservers answered, so resolvers retry with them; lookups are "
                    "slower and fail when those are busy too.",
                    "Check that every nameserver of the zone is up and serves it.",
                    severity=WARNING)
            for code, servers in sorted(failing.items())]


def inconsistency_finding(name: str, rdtype: str,
                          answers: Sequence[ServerAnswer]) -> Finding | None:
    """NS_INCONSISTENT when the servers that answered serve different records for `name`."""
    served: dict[tuple[str, ...], list[str]] = {}
    for answer in answers:
        if answer.status in ANSWERED:
            served.setdefault(tuple(sorted(answer.values)), []).append(answer.server)
    if len(served) < 2:
        return None
    shown = "; ".join(f"{', '.join(sorted(servers))} serve{'s' if len(servers) == 1 else ''} "
                      f"{_served(values)}" for values, servers in sorted(served.items()))
    return finding("NS_INCONSISTENT", name, rdtype,
                   f"The nameservers disagree about the {rdtype} records at {name}: {shown}. "
                   "Receivers see one or the other at random.",
                   "Make every nameserver serve the same zone: after moving DNS hosts, list "
                   "only the new host's nameservers at your registrar; with secondary servers, "
                   "check that zone transfers reach them (the SOA serial must match).")


def _served(values: tuple[str, ...]) -> str:
    if not values:
        return "nothing"
    return ", ".join(f"`{_shorten(value)}`" for value in values)


def _types(types: Sequence[str]) -> str:
    return "/".join(sorted(set(types)))


def _host(name: str) -> str:
    return name.strip().lower().removesuffix(".")


def _shorten(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE - 1] + "…"
