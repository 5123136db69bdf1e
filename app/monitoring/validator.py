"""The DNS validator: fetch a domain's SPF, DKIM and DMARC records and judge them as findings.

One engine for the wizard, the sweeps, the CLI and the API. Judging is pure and lives in
`app.core` (spf, dkim_findings, dmarc, health); this module only asks DNS and hands the answers
over. Every lookup goes through `_Lookups`, which remembers failed ones: a timeout or SERVFAIL
becomes a DNS_TIMEOUT / DNS_SERVFAIL finding for that name and never a "missing record".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address

from app.adapters.dns import Answer, Resolver
from app.core import spf
from app.core.dkim_findings import dkim_findings
from app.core.dmarc import (
    DmarcError,
    dmarc_findings,
    is_report_authorization,
    parse_dmarc_as_receiver,
    report_authorization_names,
)
from app.core.findings import FINDING_KINDS, SEVERITIES, Finding, finding
from app.core.health import HealthScore, score
from app.core.names import DomainNameError, organisational_domain
from app.core.spf_merge import SpfMergeError, is_modifier, merge_spf
from app.core.verification import combined_spf

DOCUMENTATION_IP = "192.0.2.1"  # RFC 5737: runs check_host for its limits when no IP is ours
MAX_SPF_BYTES = 512  # RFC 7208 §3.4: keep the answer within a 512-byte UDP reply
DEFAULT_SELECTORS = ("pm1",)
# check_host's problem codes that are not finding codes of their own.
SPF_CODE_ALIASES = {"SPF_REDIRECT_NO_RECORD": "SPF_INCLUDE_NO_RECORD"}


@dataclass(frozen=True)
class ValidationReport:
    domain: str
    findings: list[Finding]
    health: HealthScore
    checked_at: datetime
    # What DNS served for each name asked, `"<name> <TYPE>" -> sorted values` ([] for NXDOMAIN /
    # NODATA; failed lookups are left out): the drift monitor compares these between sweeps.
    records: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The issue's JSON shape, plus the band and when the check ran."""
        return {"domain": self.domain, "score": self.health.score, "band": self.health.band,
                "checked_at": self.checked_at.isoformat(),
                "findings": [found.to_dict() for found in by_severity(self.findings)]}


def by_severity(findings: Sequence[Finding]) -> list[Finding]:
    """Worst first, then by code and host, so output is stable from one run to the next."""
    return sorted(findings, key=lambda found: (SEVERITIES.index(found.severity), found.code,
                                               found.record_host))


def validate_domain(domain: str, resolver: Resolver, *,
                    selectors: Sequence[str] = DEFAULT_SELECTORS,
                    platform_spf_include: str | None = None,
                    platform_ips: Sequence[str] = (),
                    expected_dkim_keys: Mapping[str, bytes] | None = None,
                    return_path_host: str | None = None,
                    dkim_domain: str | None = None) -> ValidationReport:
    """Everything wrong with `domain`'s live records, and its health score.

    `domain` must already be normalised. The platform arguments are for a domain we send for;
    leave them out for an unmanaged domain and those expectations are not checked. DKIM keys
    are looked up at `<selector>._domainkey.<domain>`; `dkim_domain` and `return_path_host`
    are our signing and envelope identities, judged for DMARC alignment.
    """
    lookups = _Lookups(resolver)
    findings = [
        *_spf_findings(domain, lookups, platform_spf_include, list(platform_ips)),
        *_all_dkim_findings(domain, lookups, selectors, expected_dkim_keys or {}),
        *_dmarc_findings(domain, lookups, return_path_host, dkim_domain),
    ]
    findings += lookups.failure_findings()
    return ValidationReport(domain, findings, score(findings), datetime.now(UTC),
                            lookups.observed_records())


# --- DNS ------------------------------------------------------------------------------------


@dataclass
class _Lookups:
    """The resolver as check_host's SpfLookup: answers cached per run, failures remembered."""

    resolver: Resolver
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    failures: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def answer(self, name: str, rdtype: str, *, report_failure: bool = True) -> Answer:
        key = (name.lower().removesuffix("."), rdtype)
        if key not in self.answers:
            self.answers[key] = self.resolver.query(name, rdtype)
        found = self.answers[key]
        if found.failed and report_failure:
            self.failures.setdefault(key, found)
        return found

    def txt(self, name: str) -> list[str]:
        return self._values(self.answer(name, "TXT")).txt_values()

    def a(self, name: str) -> list[str]:
        return self._values(self.answer(name, "A")).records

    def aaaa(self, name: str) -> list[str]:
        return self._values(self.answer(name, "AAAA")).records

    def mx(self, name: str) -> list[str]:
        # Presentation form is "preference exchange" (RFC 1035 §3.3.9).
        return [record.split()[-1] for record in self._values(self.answer(name, "MX")).records]

    def ptr(self, ip: IPv4Address | IPv6Address) -> list[str]:
        # RFC 7208 §5.5 ignores a failed PTR lookup, so it is not a finding either.
        return self._values(self.answer(ip.reverse_pointer, "PTR", report_failure=False)).records

    @staticmethod
    def _values(found: Answer) -> Answer:
        if found.failed:
            raise spf.DnsTemporaryError(f"{found.status}: {found.detail or found.server}",
                                        code=_failure_code(found))
        return found

    def observed_records(self) -> dict[str, list[str]]:
        """Every successful answer as `"<name> <TYPE>" -> sorted values`; TXT values joined."""
        observed = {}
        for (name, rdtype), found in sorted(self.answers.items()):
            if not found.failed:
                values = found.txt_values() if rdtype == "TXT" else found.records
                observed[f"{name} {rdtype}"] = sorted(values)
        return observed

    def failure_findings(self) -> list[Finding]:
        return [_failure_finding(found) for found in self.failures.values()]


def _failure_code(found: Answer) -> str:
    return "DNS_TIMEOUT" if found.status == "timeout" else "DNS_SERVFAIL"


def _failure_finding(found: Answer) -> Finding:
    name = found.name.removesuffix(".")
    seen = {"timeout": "timed out", "servfail": "got SERVFAIL", "refused": "was refused",
            "lame": "got a lame (non-authoritative) answer"}.get(found.status, "failed")
    where = f" from {found.server}" if found.server else ""
    detail = f" ({found.detail})" if found.detail else ""
    return finding(_failure_code(found), name, found.rdtype,
                   f"The {found.rdtype} lookup of {name} {seen}{where}{detail}, so this record "
                   "could not be checked; it is not reported as missing.",
                   "Make sure every nameserver of the zone answers for this name; the check "
                   "runs again on the next sweep.")


# --- SPF ------------------------------------------------------------------------------------


def _spf_findings(domain: str, lookups: _Lookups, platform_include: str | None,
                  platform_ips: list[str]) -> list[Finding]:
    answer = lookups.answer(domain, "TXT")
    if answer.failed:
        return []
    records = [text for text in answer.txt_values() if spf.is_spf_record(text)]
    if not records:
        return [_spf_missing(domain, platform_include)]
    if len(records) > 1:
        shown = "; ".join(f"`{record}`" for record in records)
        return [finding("SPF_MULTIPLE_RECORDS", domain, "TXT",
                        f"{domain} publishes {len(records)} SPF records ({shown}); receivers "
                        "then fail SPF for all mail (RFC 7208 §4.5).",
                        f"Publish one record instead: {combined_spf(records)}")]
    record = records[0]
    try:
        parsed = spf.parse_record(record)
    except spf.SpfSyntaxError as error:
        return [finding("SPF_SYNTAX", domain, "TXT", f"In `{record}`: {error}",
                        "Correct the term named above; receivers treat the whole record as "
                        "an error (permerror).")]
    return [*_structure_findings(domain, record, parsed),
            *_evaluation_findings(domain, record, lookups, platform_include, platform_ips)]


def _spf_missing(domain: str, platform_include: str | None) -> Finding:
    fix = (f"Publish a TXT record at {domain}: {merge_spf(None, platform_include)}"
           if platform_include else
           f"Publish one TXT record at {domain} listing your senders, e.g. v=spf1 mx ~all "
           "(or v=spf1 -all if the domain sends no mail).")
    return finding("SPF_MISSING", domain, "TXT", f"{domain} has no SPF record.", fix)


def _structure_findings(domain: str, record: str, parsed: spf.SpfRecord) -> list[Finding]:
    findings = []
    all_term = next((m for m in parsed.mechanisms if m.name == "all"), None)
    if all_term is not None and all_term.result == spf.PASS:
        findings.append(finding(
            "SPF_PLUS_ALL", domain, "TXT",
            f"`{record}` ends in {all_term.term}: every server on the internet passes SPF.",
            "Publish: " + _with_term(record, all_term.term, "~all")))
    if all_term is not None and all_term.result == spf.NEUTRAL:
        findings.append(finding(
            "SPF_NEUTRAL_ALL", domain, "TXT",
            f"`{record}` ends in ?all: mail from anyone else is neutral, not rejected.",
            "Publish: " + _with_term(record, all_term.term, "~all")))
    if all_term is None and parsed.redirect is None:
        findings.append(finding(
            "SPF_NO_ALL", domain, "TXT",
            f"`{record}` has no all mechanism, so mail from unlisted servers is neutral.",
            f"Publish: {record.rstrip()} ~all"))
    if all_term is not None and parsed.redirect is not None:
        findings.append(finding(
            "SPF_REDIRECT_IGNORED", domain, "TXT",
            f"`{record}` has both all and redirect=; redirect= is never used (RFC 7208 §6.1).",
            "Publish: " + _with_term(record, _redirect_term(record), None)))
    for mechanism in (m for m in parsed.mechanisms if m.name == "ptr"):
        findings.append(finding(
            "SPF_PTR", domain, "TXT",
            f"`{record}` uses {mechanism.term}, which RFC 7208 §5.5 says not to use: it is "
            "slow and many receivers skip it.",
            "Replace it with ip4:/ip6: or a: terms for those servers: "
            + _with_term(record, mechanism.term, None)))
    if len(record.encode()) > MAX_SPF_BYTES:
        findings.append(finding(
            "SPF_TOO_LONG", domain, "TXT",
            f"The SPF record is {len(record.encode())} bytes; over {MAX_SPF_BYTES} the answer "
            "may not fit a UDP reply (RFC 7208 §3.4).",
            "Move groups of ip4:/ip6: terms into an included record of your own."))
    return findings


def _evaluation_findings(domain: str, record: str, lookups: _Lookups,
                         platform_include: str | None, platform_ips: list[str]) -> list[Finding]:
    """Run check_host as a receiver would: for our IPs, else a documentation IP for the limits."""
    results = {ip: spf.check_host(ip, domain, f"postmaster@{domain}", domain, lookups)
               for ip in platform_ips or [DOCUMENTATION_IP]}
    broken = next((result for result in results.values() if result.result == spf.PERMERROR),
                  None)
    if broken is not None:
        return [_permerror_finding(domain, broken)]
    return [_not_authorized(domain, record, ip, result, platform_include)
            for ip, result in results.items()
            if platform_ips and result.result not in (spf.PASS, spf.TEMPERROR)]


def _permerror_finding(domain: str, result: spf.SpfResult) -> Finding:
    code = SPF_CODE_ALIASES.get(result.code, result.code)
    if code not in FINDING_KINDS:
        code = "SPF_SYNTAX"
    fixes = {
        "SPF_TOO_MANY_LOOKUPS": "Remove includes you no longer use, or replace some with the "
                                "ip4:/ip6: ranges they publish, to stay within 10 lookups.",
        "SPF_VOID_LOOKUPS": "Remove the a:, mx:, include: or exists: terms whose names do not "
                            "exist.",
        "SPF_INCLUDE_LOOP": "Remove the include or redirect that points back to a record "
                            "already being evaluated.",
        "SPF_INCLUDE_NO_RECORD": "Remove the include (or redirect) of a domain with no SPF "
                                 "record, or fix the name.",
    }
    return finding(code, domain, "TXT",
                   f"Receivers get permerror for {domain}: {result.problem}",
                   fixes.get(code, "Correct the record named above."))


def _not_authorized(domain: str, record: str, ip: str, result: spf.SpfResult,
                    platform_include: str | None) -> Finding:
    fix = "Add our sending IPs (ip4:/ip6:) before the all term."
    if platform_include:
        try:
            fix = "Publish: " + merge_spf(record, platform_include)
        except SpfMergeError as error:
            fix = error.message
    return finding("SPF_PLATFORM_NOT_AUTHORIZED", domain, "TXT",
                   f"Our sending IP {ip} gets SPF {result.result} at {domain} "
                   f"(decided by {result.mechanism or 'nothing'}), so receivers may reject it.",
                   fix)


def _with_term(record: str, old: str, new: str | None) -> str:
    """The record with one term replaced (or dropped, for None); terms are split on SP (§4.6.1)."""
    terms = [term for term in record.split(" ") if term]
    return " ".join(new if term == old else term
                    for term in terms if term != old or new is not None)


def _redirect_term(record: str) -> str:
    return next(term for term in record.split(" ")
                if is_modifier(term) and term.partition("=")[0].lower() == "redirect")


# --- DKIM -----------------------------------------------------------------------------------


def _all_dkim_findings(domain: str, lookups: _Lookups, selectors: Sequence[str],
                       expected_keys: Mapping[str, bytes]) -> list[Finding]:
    findings = []
    for selector in selectors:
        host = f"{selector}._domainkey.{domain}"
        answer = lookups.answer(host, "TXT")
        if not answer.failed:
            findings += dkim_findings(answer.txt_strings, host, expected_keys.get(selector))
    return findings


# --- DMARC ----------------------------------------------------------------------------------


def _dmarc_findings(domain: str, lookups: _Lookups, return_path_host: str | None,
                    dkim_domain: str | None) -> list[Finding]:
    """RFC 7489 §6.6.3: without a record of its own, the organisational domain's applies."""
    findings = _dmarc_findings_at(domain, lookups, return_path_host, dkim_domain)
    org = _organisational(domain)
    if findings is None or org == domain or not _is_missing(findings):
        return findings or []
    inherited = _dmarc_findings_at(org, lookups, return_path_host, dkim_domain)
    if inherited is None or _is_missing(inherited):
        return findings  # the org record could not be read, or there is none either
    return [replace(found, message=f"{domain} has no DMARC record, so {org}'s applies to it. "
                                   + found.message) for found in inherited]


def _dmarc_findings_at(domain: str, lookups: _Lookups, return_path_host: str | None,
                       dkim_domain: str | None) -> list[Finding] | None:
    """The findings for the record at `_dmarc.<domain>`; None when the lookup failed."""
    answer = lookups.answer(f"_dmarc.{domain}", "TXT")
    if answer.failed:
        return None
    return dmarc_findings(answer.txt_strings, domain, org_domain=_organisational,
                          our_return_path_domain=return_path_host, our_dkim_domain=dkim_domain,
                          report_authorizations=_report_authorizations(domain, answer, lookups))


def _report_authorizations(domain: str, answer: Answer, lookups: _Lookups) -> dict[str, bool]:
    """Whether each external report destination authorises us; hosts whose lookup failed are
    left out, so they are reported as a DNS failure rather than as unauthorised."""
    records = []
    for strings in answer.txt_strings:
        try:
            records.append(parse_dmarc_as_receiver(strings)[0])
        except DmarcError:
            continue  # not DMARC, or ignored by receivers: dmarc_findings says so
    if len(records) != 1:
        return {}
    authorizations = {}
    for host, name in report_authorization_names(records[0], domain, _organisational).items():
        found = lookups.answer(name, "TXT")
        if not found.failed:
            authorizations[host] = is_report_authorization(found.txt_strings)
    return authorizations


def _is_missing(findings: list[Finding]) -> bool:
    return any(found.code == "DMARC_MISSING" for found in findings)


def _organisational(name: str) -> str:
    """The organisational domain, or the name itself for a public suffix (nothing above it)."""
    try:
        return organisational_domain(name)
    except DomainNameError:
        return name
