"""The DNS records a customer publishes for a sending domain, as data.

One list feeds the wizard, the API, the BIND and CSV downloads and the verifier, so what we
tell people to publish and what we check are the same records. Hosts are absolute names
without the trailing dot; each record knows both its web-panel value and its zone-file form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.core.names import is_ldh_label, is_subdomain_of, organisational_domain
from app.core.spf_merge import merge_spf

TXT_STRING_OCTETS = 255  # RFC 1035 §3.3: one <character-string> holds at most 255 octets
MAX_TTL = 2**31 - 1  # RFC 2181 §8


class Purpose(StrEnum):
    """Why a record exists; stable codes the verifier and the API use."""

    OWNERSHIP = "ownership"
    SPF = "spf"
    DKIM = "dkim"
    DMARC = "dmarc"
    RETURN_PATH = "return_path"
    TRACKING = "tracking"


class DmarcPolicy(StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(frozen=True)
class DnsRecord:
    """One record to publish.

    `value` is what a web DNS panel wants: TXT joined and unquoted, names without the final
    dot, MX as `<priority> <host>`. `zone_values` are the same data as zone-file fields: TXT
    split into ≤255-octet character-strings, names absolute with the final dot.
    """

    purpose: Purpose
    type: str
    host: str
    value: str
    ttl: int
    why: str
    zone_values: tuple[str, ...]

    def zone_rdata(self) -> str:
        """The record data as a zone file writes it (RFC 1035 §5.1), TXT strings quoted."""
        if self.type == "TXT":
            return " ".join(_quoted(text) for text in self.zone_values)
        return " ".join(self.zone_values)


@dataclass(frozen=True)
class DkimKeyRecord:
    """A DKIM public key as published: its selector and TXT value (`v=DKIM1; k=rsa; p=…`).

    Several may be published at once: the key in use and the next one during a rotation, or an
    Ed25519 key beside the RSA one.
    """

    selector: str
    value: str


@dataclass(frozen=True)
class ReturnPath:
    """The customer's own bounce (envelope sender) host, `<label>.<domain>`.

    Either a CNAME to our bounce host, which then answers for that name's MX and SPF, or, for
    customers whose policy forbids CNAMEs to outside parties, an MX plus an SPF TXT at that
    name. Never both: a name that has a CNAME can have no other data (RFC 1034 §3.6.2,
    RFC 2181 §10.1), so an MX beside the CNAME would be ignored or refused by the DNS host.
    """

    label: str
    cname_target: str | None = None
    mx_host: str | None = None
    mx_priority: int = 10

    def __post_init__(self) -> None:
        if (self.cname_target is None) == (self.mx_host is None):
            raise ValueError("a return path is either a CNAME or an MX, exactly one of them")
        if not 0 <= self.mx_priority <= 65535:  # RFC 1035 §3.3.9: 16-bit preference
            raise ValueError(f"MX priority {self.mx_priority} is not between 0 and 65535")


@dataclass(frozen=True)
class TrackingHost:
    """The customer's branded host for open and click tracking, a CNAME to ours."""

    label: str
    cname_target: str


@dataclass(frozen=True)
class RecordSettings:
    """Everything that decides a domain's expected records; `domain` is a normalised name.

    `verification_token` is None when ownership is already proven above the domain (a
    verified parent): a subdomain then publishes no ownership record.
    """

    domain: str
    verification_token: str | None
    spf_include: str
    dkim_keys: tuple[DkimKeyRecord, ...] = ()
    dmarc_policy: DmarcPolicy | str = DmarcPolicy.NONE
    dmarc_rua: str | None = None
    return_path: ReturnPath | None = None
    tracking: TrackingHost | None = None
    existing_spf: str | None = None
    ttl: int = 3600

    def __post_init__(self) -> None:
        DmarcPolicy(self.dmarc_policy)
        if not 0 < self.ttl <= MAX_TTL:
            raise ValueError(f"TTL {self.ttl} is outside 1..{MAX_TTL}")
        if self.dmarc_rua is not None and not _is_plain_mailbox(self.dmarc_rua):
            raise ValueError(f"DMARC report address {self.dmarc_rua!r} is not a plain mailbox")
        for name in self._names_we_create():
            if not all(is_ldh_label(label) for label in name.split(".")):
                raise ValueError(f"{name!r} is not a valid host name")
        if self.return_path and self.tracking and self.return_path.label == self.tracking.label:
            # Both are CNAMEs (or an MX beside a CNAME): one name cannot hold them.
            raise ValueError("the return-path and tracking hosts must have different names")

    def _names_we_create(self) -> list[str]:
        names = [key.selector for key in self.dkim_keys]
        names += [host.label for host in (self.return_path, self.tracking) if host]
        return names


def expected_records(settings: RecordSettings) -> list[DnsRecord]:
    """The full record set for a domain, in the order the wizard shows it."""
    records = [_ownership(settings)] if settings.verification_token else []
    records.append(_spf(settings))
    records += [_dkim(settings, key) for key in settings.dkim_keys]
    records.append(_dmarc(settings))
    if settings.return_path:
        records += _return_path(settings, settings.return_path)
    if settings.tracking:
        records.append(_tracking(settings, settings.tracking))
    return records


def _ownership(settings: RecordSettings) -> DnsRecord:
    return _txt(
        Purpose.OWNERSHIP,
        f"_pm-verify.{settings.domain}",
        settings.verification_token,
        settings.ttl,
        f"Proves you control the DNS of {settings.domain}. It is not used for mail; leave it "
        "in place, because we may check it again to confirm the domain is still yours.",
    )


def _spf(settings: RecordSettings) -> DnsRecord:
    record = merge_spf(settings.existing_spf, settings.spf_include)
    return _txt(Purpose.SPF, settings.domain, record, settings.ttl, _spf_why(settings, record))


def _spf_why(settings: RecordSettings, record: str) -> str:
    if settings.existing_spf is None:
        return (
            f"Tells receiving mail servers that PenguinMails may send mail for "
            f"{settings.domain} (SPF). A domain can have only one SPF record: if you add "
            "another sender later, add it to this record instead of creating a second one."
        )
    if record.split() == settings.existing_spf.split():
        return (
            f"Your SPF record at {settings.domain} already lets PenguinMails send for it "
            f"(include:{settings.spf_include}), so there is nothing to change."
        )
    return (
        f"You already publish an SPF record at {settings.domain}. Replace it with this one: "
        f"it is your record with include:{settings.spf_include} added, so your other senders "
        "keep working. Do not add it as a second SPF record: with two, SPF fails for all of "
        "your mail."
    )


def _dkim(settings: RecordSettings, key: DkimKeyRecord) -> DnsRecord:
    return _txt(
        Purpose.DKIM,
        f"{key.selector}._domainkey.{settings.domain}",
        key.value,
        settings.ttl,
        f"The public half of the key PenguinMails signs your mail with (DKIM, selector "
        f"{key.selector}). Receivers use it to check that a message really comes from "
        f"{settings.domain} and was not changed on the way. Paste the whole value as one "
        "line; if your DNS host asks for quoted pieces, use the zone-file form.",
    )


def _dmarc(settings: RecordSettings) -> DnsRecord:
    # v and p come first (RFC 7489 §6.4). Relaxed alignment is spelled out although it is the
    # default (§6.3): our bounce address is <label>.<domain>, which aligns with <domain> only
    # under aspf=r, and an owner copying a "stricter" example must see what it would break.
    tags = ["v=DMARC1", f"p={DmarcPolicy(settings.dmarc_policy)}"]
    if settings.dmarc_rua:
        tags.append(f"rua=mailto:{settings.dmarc_rua}")
    tags += ["adkim=r", "aspf=r"]
    host = f"_dmarc.{settings.domain}"
    return _txt(Purpose.DMARC, host, "; ".join(tags), settings.ttl, _dmarc_why(settings))


def _dmarc_why(settings: RecordSettings) -> str:
    why = (
        f"Tells receivers what to do with mail that claims to come from {settings.domain} but "
        "passes neither SPF nor DKIM for it (DMARC)"
        + (", and where to send daily reports about it." if settings.dmarc_rua else ".")
        + " p=none only watches; move to quarantine, then reject, once you are sure all your "
        "mail passes."
    )
    organisational = organisational_domain(settings.domain)
    if organisational != settings.domain:
        # RFC 7489 §6.6.3: a record at the subdomain is used instead of the organisational
        # one; without it, receivers apply the organisational record's sp= (else its p=).
        why += (
            f" Optional for {settings.domain}: without it, the DMARC record of "
            f"{organisational} applies, with its sp= policy (or p= when it has no sp=). We "
            f"count this record as in place when that policy is quarantine or reject; when "
            f"{organisational} has no DMARC record or its policy for subdomains is none, "
            f"publish this one. If you publish it, it takes the place of {organisational}'s "
            f"for {settings.domain}, so do not make it weaker."
        )
    return why


def _return_path(settings: RecordSettings, return_path: ReturnPath) -> list[DnsRecord]:
    host = f"{return_path.label}.{settings.domain}"
    if return_path.cname_target is not None:
        return [
            _cname(
                Purpose.RETURN_PATH,
                host,
                return_path.cname_target,
                settings.ttl,
                f"Makes {host} the bounce address of your mail and points it at PenguinMails, "
                "so bounces reach us and SPF is checked under your own domain (which DMARC "
                "needs). Our host answers for this name's MX and SPF through the CNAME. "
                "Publish nothing else at this name: a CNAME cannot share its name with an MX "
                "or TXT record.",
            )
        ]
    return [
        _mx(
            Purpose.RETURN_PATH,
            host,
            return_path.mx_host,
            return_path.mx_priority,
            settings.ttl,
            f"Sends bounces for {host}, the bounce address of your mail, to PenguinMails. It "
            f"is only for this name: the MX records of {settings.domain} itself stay as they "
            "are, so your incoming mail is not affected.",
        ),
        _txt(
            Purpose.RETURN_PATH,
            host,
            f"v=spf1 include:{settings.spf_include} -all",
            settings.ttl,
            f"Receivers check SPF against the bounce address, so {host} needs its own SPF "
            "record. Only PenguinMails sends with this address, hence -all.",
        ),
    ]


def _tracking(settings: RecordSettings, tracking: TrackingHost) -> DnsRecord:
    host = f"{tracking.label}.{settings.domain}"
    return _cname(
        Purpose.TRACKING,
        host,
        tracking.cname_target,
        settings.ttl,
        f"Open and click tracking links use {host} instead of a PenguinMails address, so "
        "links in your mail show your own domain and do not share a reputation with other "
        "senders.",
    )


def _txt(purpose: Purpose, host: str, text: str, ttl: int, why: str) -> DnsRecord:
    return DnsRecord(purpose, "TXT", host, text, ttl, why, character_strings(text))


def _cname(purpose: Purpose, host: str, target: str, ttl: int, why: str) -> DnsRecord:
    target = target.removesuffix(".")
    return DnsRecord(purpose, "CNAME", host, target, ttl, why, (f"{target}.",))


def _mx(purpose: Purpose, host: str, exchange: str, priority: int, ttl: int, why: str) -> DnsRecord:
    exchange = exchange.removesuffix(".")
    return DnsRecord(
        purpose, "MX", host, f"{priority} {exchange}", ttl, why, (str(priority), f"{exchange}.")
    )


def character_strings(text: str) -> tuple[str, ...]:
    """`text` cut into pieces of at most 255 octets, never inside a character.

    Receivers join the pieces with nothing in between (RFC 7208 §3.3, RFC 6376 §3.6.2.2), so
    any cut point is correct; the joined pieces are exactly `text`.
    """
    pieces: list[str] = []
    current: list[str] = []
    octets = 0
    for char in text:
        size = len(char.encode())
        if octets + size > TXT_STRING_OCTETS:
            pieces.append("".join(current))
            current, octets = [], 0
        current.append(char)
        octets += size
    pieces.append("".join(current))
    return tuple(pieces)


def _quoted(text: str) -> str:
    """A zone-file <character-string> (RFC 1035 §5.1): `"` and `\\` escaped, other bytes \\DDD."""
    escaped = []
    for octet in text.encode():
        if octet in b'"\\':
            escaped.append("\\" + chr(octet))
        elif 0x20 <= octet < 0x7F:
            escaped.append(chr(octet))
        else:
            escaped.append(f"\\{octet:03d}")
    return '"' + "".join(escaped) + '"'


def _is_plain_mailbox(address: str) -> bool:
    # rua is a comma-separated list of URIs inside a ;-separated tag list (RFC 7489 §6.4), and
    # "!" starts a size limit, so none of those may appear unencoded in the address.
    local, at, domain = address.rpartition("@")
    return bool(local and at and domain) and not any(c in address for c in ",;! \t")


def relative_host(host: str, zone: str) -> str:
    """`host` as written inside `zone`: `pm1._domainkey`, or "" for the zone's own name."""
    zone = zone.lower().removesuffix(".")
    if host == zone:
        return ""
    if not is_subdomain_of(host, zone):
        raise ValueError(f"{host} is not inside the zone {zone}")
    return host.removesuffix(f".{zone}")


def to_bind(records: Iterable[DnsRecord], zone: str) -> str:
    """A zone-file snippet to paste into `zone`, names relative to `$ORIGIN`."""
    origin = zone.lower().removesuffix(".")
    lines = [f"$ORIGIN {origin}."]
    for record in records:
        lines.append(f"; {record.purpose}: {record.why}")
        owner = relative_host(record.host, origin) or "@"
        lines.append(f"{owner}\t{record.ttl}\tIN\t{record.type}\t{_bind_rdata(record)}")
    return "\n".join(lines) + "\n"


def _bind_rdata(record: DnsRecord) -> str:
    """Long TXT records are spread over lines inside parentheses (RFC 1035 §5.1)."""
    if record.type == "TXT" and len(record.zone_values) > 1:
        return "(\n\t" + "\n\t".join(_quoted(text) for text in record.zone_values) + " )"
    return record.zone_rdata()


def to_csv(records: Iterable[DnsRecord]) -> str:
    """One row per record (RFC 4180 quoting), TXT values joined as a web panel wants them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["type", "host", "value", "ttl", "purpose"])
    writer.writerows(
        [record.type, record.host, record.value, record.ttl, str(record.purpose)]
        for record in records
    )
    return buffer.getvalue()


class HostStyle(StrEnum):
    """How a DNS host's name field is filled in."""

    RELATIVE = "relative"  # the panel adds the zone; "@" means the zone itself
    RELATIVE_BLANK_APEX = "relative_blank_apex"  # the panel adds the zone; empty means the zone
    FQDN = "fqdn"  # the full name, as in our `host`

    @property
    def advice(self) -> str:
        """The style in words, for DNS hosts we have no specific hint for."""
        return {
            HostStyle.RELATIVE: "If your DNS host adds your domain to the name for you, enter "
            "only the part before it, and @ for the domain itself.",
            HostStyle.RELATIVE_BLANK_APEX: "If your DNS host shows your domain after the name "
            "box, enter only the part before it, and leave the box empty for the domain itself.",
            HostStyle.FQDN: "If your DNS host asks for the full name, enter it exactly as shown.",
        }[self]


def host_for_provider(record: DnsRecord, zone: str, style: HostStyle) -> str:
    """What to type in the name field of a DNS host that works in `style`, for `zone`."""
    if style is HostStyle.FQDN:
        return record.host
    relative = relative_host(record.host, zone)
    if style is HostStyle.RELATIVE:
        return relative or "@"
    return relative


@dataclass(frozen=True)
class ProviderHint:
    provider: str
    style: HostStyle
    note: str


DOUBLED_NAME_WARNING = (
    "After saving, check the name your DNS host shows: if it reads like "
    "pm1._domainkey.example.com.example.com, the host added your domain a second time; edit "
    "the record and enter only the short name."
)

PROVIDER_HINTS = (
    ProviderHint(
        "Cloudflare",
        HostStyle.RELATIVE,
        "Name field: Cloudflare adds your domain; @ is the domain itself.",
    ),
    ProviderHint(
        "GoDaddy",
        HostStyle.RELATIVE,
        "Name (host) field: GoDaddy adds your domain; @ is the domain itself.",
    ),
    ProviderHint(
        "Namecheap",
        HostStyle.RELATIVE,
        "Host field: Namecheap adds your domain; @ is the domain itself.",
    ),
    ProviderHint(
        "Amazon Route 53 (console)",
        HostStyle.RELATIVE_BLANK_APEX,
        "Record name box: the console shows your domain after the box and adds it; leave it "
        "empty for the domain itself. TXT values go in double quotes, and a value over 255 "
        "characters as several quoted pieces: copy the zone-file form.",
    ),
)
