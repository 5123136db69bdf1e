"""Findings: what the DNS validator says about a domain, one actionable problem at a time.

Pure: no Flask, database or network. Every checker (SPF, DKIM, DMARC, delivery records, DNS
itself, blacklists) returns `Finding`s with codes from `FINDING_KINDS`, so the health score, the
dashboard filters, alerts and the API all speak the same stable vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)  # worst first

# Code groups: the health score weighs a finding by its group and severity (app.core.health).
SPF, DKIM, DMARC, DELIVERY, DNS, DNSBL = "spf", "dkim", "dmarc", "delivery", "dns", "dnsbl"
GROUPS = (SPF, DKIM, DMARC, DELIVERY, DNS, DNSBL)


@dataclass(frozen=True)
class FindingKind:
    """A code the validator may emit: its group, the severity it usually has, a one-line title."""

    code: str
    group: str
    severity: str
    title: str


def _kinds(*rows: tuple[str, str, str, str]) -> Mapping[str, FindingKind]:
    return MappingProxyType({code: FindingKind(code, group, severity, title)
                             for code, group, severity, title in rows})


FINDING_KINDS: Mapping[str, FindingKind] = _kinds(
    ("SPF_MISSING", SPF, ERROR, "No SPF record"),
    ("SPF_MULTIPLE_RECORDS", SPF, ERROR, "More than one SPF record"),
    ("SPF_SYNTAX", SPF, ERROR, "SPF record is malformed"),
    ("SPF_TOO_MANY_LOOKUPS", SPF, ERROR, "SPF needs more than 10 DNS lookups"),
    ("SPF_VOID_LOOKUPS", SPF, ERROR, "SPF has more than 2 lookups that find nothing"),
    ("SPF_INCLUDE_LOOP", SPF, ERROR, "SPF includes loop back on themselves"),
    ("SPF_INCLUDE_NO_RECORD", SPF, ERROR, "An SPF include has no SPF record"),
    ("SPF_PLUS_ALL", SPF, ERROR, "SPF ends in +all: anyone may send"),
    ("SPF_NEUTRAL_ALL", SPF, WARNING, "SPF ends in ?all: no protection"),
    ("SPF_NO_ALL", SPF, WARNING, "SPF has no all mechanism"),
    ("SPF_PTR", SPF, WARNING, "SPF uses the deprecated ptr mechanism"),
    ("SPF_REDIRECT_IGNORED", SPF, WARNING, "SPF redirect= is ignored beside all"),
    ("SPF_TOO_LONG", SPF, WARNING, "SPF record is over 512 bytes"),
    ("SPF_PLATFORM_NOT_AUTHORIZED", SPF, ERROR, "Our sending IPs do not pass SPF"),
    ("DKIM_MISSING", DKIM, ERROR, "No DKIM key record at the selector"),
    ("DKIM_MULTIPLE_RECORDS", DKIM, ERROR, "More than one DKIM key record at the selector"),
    ("DKIM_SYNTAX", DKIM, ERROR, "DKIM key record is malformed"),
    ("DKIM_KEY_INVALID", DKIM, ERROR, "DKIM p= is not a valid public key"),
    ("DKIM_KEY_WEAK", DKIM, WARNING, "DKIM key is too short"),
    ("DKIM_REVOKED", DKIM, ERROR, "DKIM key is revoked (empty p=)"),
    ("DKIM_TESTING", DKIM, WARNING, "DKIM key is in testing mode (t=y)"),
    ("DKIM_KEY_MISMATCH", DKIM, ERROR, "DKIM key is not the key we sign with"),
    ("DKIM_SHA1_ONLY", DKIM, ERROR, "DKIM key only allows rsa-sha1"),
    ("DMARC_MISSING", DMARC, ERROR, "No DMARC record"),
    ("DMARC_MULTIPLE_RECORDS", DMARC, ERROR, "More than one DMARC record"),
    ("DMARC_SYNTAX", DMARC, ERROR, "DMARC record is malformed"),
    ("DMARC_POLICY_NONE", DMARC, WARNING, "DMARC policy is p=none (monitoring only)"),
    ("DMARC_PCT_PARTIAL", DMARC, WARNING, "DMARC policy applies to only part of the mail"),
    ("DMARC_SP_WEAKER", DMARC, WARNING, "DMARC subdomain policy is weaker than p="),
    ("DMARC_RUA_INVALID", DMARC, WARNING, "A DMARC report address is invalid"),
    ("DMARC_RUA_UNAUTHORIZED", DMARC, WARNING, "An external DMARC report address is not authorised"),
    ("DMARC_NOT_ALIGNED", DMARC, ERROR, "Our mail would not align under the DMARC policy"),
    ("MX_MISSING", DELIVERY, ERROR, "No MX record"),
    ("RETURN_PATH_WRONG", DELIVERY, ERROR, "Return-path record is missing or wrong"),
    ("TRACKING_CNAME_WRONG", DELIVERY, WARNING, "Tracking CNAME is missing or wrong"),
    ("CNAME_CONFLICT", DELIVERY, ERROR, "A CNAME sits beside other records"),
    ("NS_LAME", DNS, WARNING, "A nameserver is not authoritative (lame)"),
    ("NS_INCONSISTENT", DNS, WARNING, "Authoritative nameservers disagree"),
    ("DNS_TIMEOUT", DNS, WARNING, "A DNS query timed out"),
    ("DNS_SERVFAIL", DNS, ERROR, "A nameserver answered SERVFAIL"),
    ("DNSBL_LISTED", DNSBL, ERROR, "Listed on a blacklist"),
    ("DNSBL_QUERY_REFUSED", DNSBL, INFO, "A blacklist refused our query"),
)


@dataclass(frozen=True)
class Finding:
    """One problem with one record: a stable code, what was seen, and what to publish instead."""

    code: str
    severity: str
    record_host: str
    record_type: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def kind(self) -> FindingKind | None:
        """None for a code this deploy does not know (a snapshot from a newer one)."""
        return FINDING_KINDS.get(self.code)

    def to_dict(self) -> dict:
        """The issue's JSON shape: `record` holds the host and type the finding is about."""
        return {"code": self.code, "severity": self.severity,
                "record": {"host": self.record_host, "type": self.record_type},
                "message": self.message, "fix": self.fix}

    @classmethod
    def from_dict(cls, data: Mapping) -> Finding:
        """Reads `to_dict` output; unknown keys are ignored since snapshots outlive deploys."""
        record = data.get("record") or {}
        return cls(code=data["code"], severity=data["severity"],
                   record_host=record.get("host", data.get("record_host", "")),
                   record_type=record.get("type", data.get("record_type", "")),
                   message=data.get("message", ""), fix=data.get("fix", ""))


def finding(code: str, record_host: str, record_type: str, message: str, fix: str = "",
            severity: str | None = None) -> Finding:
    """A Finding for a registered code, at the code's usual severity unless one is given."""
    kind = FINDING_KINDS[code]
    return Finding(code=code, severity=severity or kind.severity, record_host=record_host,
                   record_type=record_type, message=message, fix=fix)
