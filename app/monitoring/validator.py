"""The DNS validator: fetch a sending domain's records and judge them as findings.

One engine for the wizard, the sweeps, the CLI and the API. Judging is pure and lives in
`app.core` (spf, spf_findings, dkim_findings, dmarc, delivery_findings, dnsbl, health); this
module only asks DNS and hands the answers over. Every lookup of the domain's own records goes
through `_Lookups`, which remembers failed ones: a timeout or SERVFAIL becomes a DNS_TIMEOUT /
DNS_SERVFAIL finding for that name and never a "missing record". Blacklist lookups go around
it: they are not the domain's records, and a list that cannot be asked is never the domain's
fault.

The resolver is used through `query(name, rdtype)` and `query_each_authoritative(name,
rdtype)` only, and exceptions from them are never caught here: a caching resolver may raise to
ask for a lookup and run the validator again once it has the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address

from app.adapters.dns import Answer, Resolver
from app.core import delivery_findings as delivery
from app.core import dnsbl, spf
from app.core.dkim_findings import dkim_findings
from app.core.dmarc import (
    AppliedPolicy,
    DmarcError,
    applied_policy,
    dmarc_findings,
    is_report_authorization,
    parse_dmarc_as_receiver,
    report_authorization_names,
    single_record,
)
from app.core.findings import FINDING_KINDS, SEVERITIES, Finding, finding
from app.core.health import HealthScore, score
from app.core.names import DomainNameError, organisational_domain
from app.core.records import DnsRecord, Purpose
from app.core.spf_findings import declares_no_mail, spf_record_findings
from app.core.spf_merge import SpfMergeError, merge_spf
from app.core.verification import combined_spf

DOCUMENTATION_IP = "192.0.2.1"  # RFC 5737: runs check_host for its limits when no IP is ours
DEFAULT_SELECTORS = ("pm1",)
# check_host's problem codes that are not finding codes of their own.
SPF_CODE_ALIASES = {"SPF_REDIRECT_NO_RECORD": "SPF_INCLUDE_NO_RECORD"}
MAX_CNAME_HOPS = 8  # as the resolver adapter's MAX_CNAME_CHAIN
# Looked for beside a CNAME; at the domain itself also SOA, which only a zone apex has.
TYPES_BESIDE_CNAME = ("TXT", "MX", "A")


@dataclass(frozen=True)
class ValidationReport:
    domain: str
    findings: list[Finding]
    health: HealthScore
    checked_at: datetime
    # What DNS served for each name asked, `"<name> <TYPE>" -> sorted values` ([] for NXDOMAIN /
    # NODATA; failed lookups are left out): the drift monitor compares these between sweeps.
    records: dict[str, list[str]] = field(default_factory=dict)
    # Which DMARC policy governs the domain's mail and whose record it comes from (a
    # subdomain without its own gets its organisational domain's sp=); None: none, or unknown.
    dmarc_policy: AppliedPolicy | None = None

    def to_dict(self) -> dict:
        """The issue's JSON shape, plus the band, when the check ran, and the DMARC policy
        that applies in words."""
        return {"domain": self.domain, "score": self.health.score, "band": self.health.band,
                "checked_at": self.checked_at.isoformat(),
                "dmarc_policy": self.dmarc_policy.words if self.dmarc_policy else None,
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
                    dkim_domain: str | None = None,
                    expected_records: Sequence[DnsRecord] = (),
                    dnsbl_domain_lists: Sequence[str] = (),
                    dnsbl_ip_lists: Sequence[str] = ()) -> ValidationReport:
    """Everything wrong with `domain`'s live records, and its health score.

    `domain` must already be normalised. The platform arguments are for a domain we send for;
    leave them out for an unmanaged domain and those expectations are not checked. DKIM keys
    are looked up at `<selector>._domainkey.<domain>`; `dkim_domain` and `return_path_host`
    are our signing and envelope identities, judged for DMARC alignment. `expected_records`
    are the return-path and tracking records we asked the customer to publish (other
    purposes are ignored); without a return-path record the domain's own MX is judged
    instead. Blacklists are asked about the domain (domain lists) and `platform_ips` (IP lists).
    See `app.monitoring.managed` for all of these filled in from a domain we manage.
    """
    lookups = _Lookups(resolver)
    findings = [
        *_spf_findings(domain, lookups, platform_spf_include, list(platform_ips)),
        *_all_dkim_findings(domain, lookups, selectors, expected_dkim_keys or {}),
        *_dmarc_findings(domain, lookups, return_path_host, dkim_domain),
        *_delivery_findings(domain, lookups, expected_records, list(platform_ips)),
        *_cname_conflicts(domain, lookups, selectors, expected_records),
        *_nameserver_findings(domain, lookups),
    ]
    findings += lookups.failure_findings()
    findings += _dnsbl_findings(domain, resolver, dnsbl_domain_lists, dnsbl_ip_lists,
                                platform_ips)
    return ValidationReport(domain, findings, score(findings), datetime.now(UTC),
                            lookups.observed_records(), applied_dmarc_policy(domain, lookups))


# --- DNS ------------------------------------------------------------------------------------


@dataclass
class _Lookups:
    """The resolver as check_host's SpfLookup: answers cached per run, failures remembered."""

    resolver: Resolver
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    failures: dict[tuple[str, str], Answer] = field(default_factory=dict)
    per_server: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)

    def answer(self, name: str, rdtype: str, *, report_failure: bool = True) -> Answer:
        key = (name.lower().removesuffix("."), rdtype)
        if key not in self.answers:
            self.answers[key] = self.resolver.query(name, rdtype)
        found = self.answers[key]
        if found.failed and report_failure:
            self.failures.setdefault(key, found)
        return found

    def each_authoritative(self, name: str, rdtype: str) -> list[Answer]:
        """Every authoritative nameserver's own answer; kept out of the observed records."""
        key = (name.lower().removesuffix("."), rdtype)
        if key not in self.per_server:
            self.per_server[key] = self.resolver.query_each_authoritative(name, rdtype)
        return self.per_server[key]

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


def _what_happened(found: Answer) -> str:
    """A failed lookup in words: "timed out from 192.0.2.53:53 (no answer within 8s)"."""
    seen = {"timeout": "timed out", "servfail": "got SERVFAIL", "refused": "was refused",
            "lame": "got a lame (non-authoritative) answer"}.get(found.status, "failed")
    where = f" from {found.server}" if found.server else ""
    detail = f" ({found.detail})" if found.detail else ""
    return f"{seen}{where}{detail}"


def _failure_finding(found: Answer) -> Finding:
    name = found.name.removesuffix(".")
    return finding(_failure_code(found), name, found.rdtype,
                   f"The {found.rdtype} lookup of {name} {_what_happened(found)}, so this record "
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
    findings = spf_record_findings(domain, records[0])
    if any(found.code == "SPF_SYNTAX" for found in findings):
        return findings  # receivers stop at the syntax error: nothing to evaluate
    return [*findings, *_evaluation_findings(domain, records[0], lookups, platform_include,
                                             platform_ips)]


def _spf_missing(domain: str, platform_include: str | None) -> Finding:
    fix = (f"Publish a TXT record at {domain}: {merge_spf(None, platform_include)}"
           if platform_include else
           f"Publish one TXT record at {domain} listing your senders, e.g. v=spf1 mx ~all "
           "(or v=spf1 -all if the domain sends no mail).")
    return finding("SPF_MISSING", domain, "TXT", f"{domain} has no SPF record.", fix)


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
    """RFC 7489 §6.6.3: without a record of its own, the organisational domain's applies,
    with its sp= (else p=) as the policy."""
    findings = _dmarc_findings_at(domain, lookups, return_path_host, dkim_domain)
    org = _organisational(domain)
    if findings is None or org == domain or not _is_missing(findings):
        return findings or []
    inherited = _dmarc_findings_at(org, lookups, return_path_host, dkim_domain,
                                   inherited_by=domain)
    if inherited is None or _is_missing(inherited):
        return findings  # the org record could not be read, or there is none either
    return inherited


def applied_dmarc_policy(domain: str, lookups: _Lookups) -> AppliedPolicy | None:
    """The policy receivers apply to `domain`'s mail, from the answers already fetched;
    None when none applies or a lookup failed (then it cannot be said)."""
    own = lookups.answer(f"_dmarc.{domain}", "TXT")
    if own.failed:
        return None
    record = single_record(own.txt_strings)
    org = _organisational(domain)
    org_record = None
    if record is None and org != domain:
        org_answer = lookups.answer(f"_dmarc.{org}", "TXT")
        if org_answer.failed:
            return None
        org_record = single_record(org_answer.txt_strings)
    return applied_policy(domain, org, record, org_record)


def _dmarc_findings_at(domain: str, lookups: _Lookups, return_path_host: str | None,
                       dkim_domain: str | None, *,
                       inherited_by: str | None = None) -> list[Finding] | None:
    """The findings for the record at `_dmarc.<domain>`; None when the lookup failed."""
    answer = lookups.answer(f"_dmarc.{domain}", "TXT")
    if answer.failed:
        return None
    return dmarc_findings(answer.txt_strings, domain, org_domain=_organisational,
                          our_return_path_domain=return_path_host, our_dkim_domain=dkim_domain,
                          report_authorizations=_report_authorizations(domain, answer, lookups),
                          inherited_by=inherited_by)


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


# --- Return path, tracking and the domain's MX ------------------------------------------------


def _delivery_findings(domain: str, lookups: _Lookups, expected_records: Sequence[DnsRecord],
                       platform_ips: list[str]) -> list[Finding]:
    findings = []
    for record in expected_records:
        if record.purpose == Purpose.RETURN_PATH and record.type == "CNAME":
            findings += _expected_cname("RETURN_PATH_WRONG", record, lookups)
        elif record.purpose == Purpose.TRACKING and record.type == "CNAME":
            findings += _expected_cname("TRACKING_CNAME_WRONG", record, lookups)
        elif record.purpose == Purpose.RETURN_PATH and record.type == "MX":
            answer = lookups.answer(record.host, "MX")
            if not answer.failed:
                [(preference, exchange)] = delivery.mx_pairs([record.value])
                findings += delivery.return_path_mx_findings(record.host, exchange, preference,
                                                             answer.records)
        elif record.purpose == Purpose.RETURN_PATH and record.type == "TXT":
            findings += _return_path_spf(record, lookups, platform_ips)
    if not any(record.purpose == Purpose.RETURN_PATH for record in expected_records):
        findings += _domain_mx(domain, lookups)
    return findings


def _expected_cname(code: str, record: DnsRecord, lookups: _Lookups) -> list[Finding]:
    chain = _cname_chain(record.host, record.value, lookups)
    return [] if chain is None else delivery.cname_findings(code, record.host, record.value,
                                                            chain)


def _cname_chain(host: str, wanted: str, lookups: _Lookups) -> list[str] | None:
    """The CNAME targets from `host` on, until `wanted` or the end; None if `host`'s own
    lookup failed. Later hops are followed only while `wanted` is not reached, and their
    failures just end the chain: they may be outside the customer's DNS."""
    answer = lookups.answer(host, "CNAME")
    if answer.failed:
        return None
    chain: list[str] = []
    wanted = _comparable(wanted)
    while answer.ok and len(chain) < MAX_CNAME_HOPS:
        target = _comparable(answer.records[0])
        if target == wanted or target in chain or target == _comparable(host):
            return [*chain, target]
        chain.append(target)
        answer = lookups.answer(target, "CNAME", report_failure=False)
    return chain


def _return_path_spf(record: DnsRecord, lookups: _Lookups,
                     platform_ips: list[str]) -> list[Finding]:
    """MX mode: the return path's own SPF record must let our IPs pass (RFC 7208 §2.4)."""
    answer = lookups.answer(record.host, "TXT")
    if answer.failed:
        return []
    records = [text for text in answer.txt_values() if spf.is_spf_record(text)]
    not_passing = {}
    if len(records) == 1:
        for ip in platform_ips:
            result = spf.check_host(ip, record.host, f"postmaster@{record.host}", record.host,
                                    lookups)
            if result.result not in (spf.PASS, spf.TEMPERROR):
                not_passing[ip] = result.result
    return delivery.return_path_spf_findings(record.host, record.value, records, not_passing)


def _domain_mx(domain: str, lookups: _Lookups) -> list[Finding]:
    """Without a return path of ours, the domain's own MX receives its bounces and replies."""
    answer = lookups.answer(domain, "MX")
    if answer.failed:
        return []
    sends_mail = not _declares_no_mail(domain, lookups)
    if answer.ok:
        return delivery.domain_mx_findings(domain, answer.records, has_address=True,
                                           sends_mail=sends_mail)
    for rdtype in ("A", "AAAA"):  # RFC 5321 §5.1: the implicit MX
        address = lookups.answer(domain, rdtype)
        if address.failed:
            return []  # unknown; the failure is reported as such
        if address.ok:
            return delivery.domain_mx_findings(domain, [], has_address=True,
                                               sends_mail=sends_mail)
    return delivery.domain_mx_findings(domain, [], has_address=False, sends_mail=sends_mail)


def _declares_no_mail(domain: str, lookups: _Lookups) -> bool:
    answer = lookups.answer(domain, "TXT")
    records = [] if answer.failed else [text for text in answer.txt_values()
                                        if spf.is_spf_record(text)]
    return len(records) == 1 and declares_no_mail(records[0])


# --- CNAME beside other data ------------------------------------------------------------------


def _cname_conflicts(domain: str, lookups: _Lookups, selectors: Sequence[str],
                     expected_records: Sequence[DnsRecord]) -> list[Finding]:
    """A server that holds a CNAME and other data at one name answers a query for that data
    directly, without the CNAME: seeing both is the conflict (RFC 2181 §10.1)."""
    cname_hosts = {_comparable(record.host) for record in expected_records
                   if record.type == "CNAME"}
    names = [domain, f"_dmarc.{domain}", *(f"{s}._domainkey.{domain}" for s in selectors),
             *(record.host for record in expected_records)]
    findings = []
    for name in dict.fromkeys(_comparable(name) for name in names):
        cname = lookups.answer(name, "CNAME", report_failure=False)
        if not cname.ok:
            continue
        types = (*TYPES_BESIDE_CNAME, "SOA") if name == domain else TYPES_BESIDE_CNAME
        beside = [rdtype for rdtype in types
                  if _served_at(lookups.answer(name, rdtype, report_failure=False))]
        if beside:
            findings.append(delivery.cname_conflict_finding(
                name, cname.records[0], beside, cname_expected=name in cname_hosts))
    return findings


def _served_at(answer: Answer) -> bool:
    """Data served at the name asked itself, not reached through its CNAME."""
    return answer.ok and not answer.cname_chain


# --- Authoritative nameservers ----------------------------------------------------------------


def _nameserver_findings(domain: str, lookups: _Lookups) -> list[Finding]:
    """Each nameserver asked directly for the SPF and DMARC records: lame servers, servers
    that fail while others answer, and servers that serve different records."""
    findings: list[Finding] = []
    lame: dict[str, str] = {}
    for name in (domain, f"_dmarc.{domain}"):
        if lookups.answer(name, "TXT").failed:
            continue  # the failure is the finding; per-server answers would repeat it
        answers = [_server_answer(found) for found in lookups.each_authoritative(name, "TXT")]
        lame.update(delivery.lame_servers(answers))
        findings += delivery.server_failure_findings(name, "TXT", answers)
        inconsistent = delivery.inconsistency_finding(name, "TXT", answers)
        if inconsistent is not None:
            findings.append(inconsistent)
    if lame:
        findings.append(delivery.lame_finding(domain, lame))
    return findings


def _server_answer(found: Answer) -> delivery.ServerAnswer:
    values = found.txt_values() if found.rdtype == "TXT" else found.records
    return delivery.ServerAnswer(found.server, found.status, tuple(values), found.detail)


# --- Blacklists -------------------------------------------------------------------------------


def _dnsbl_findings(domain: str, resolver: Resolver, domain_lists: Sequence[str],
                    ip_lists: Sequence[str], platform_ips: Sequence[str]) -> list[Finding]:
    """Ask each list; a listing is a finding, a refusal or failed lookup at most an info one
    per list. Asked through the resolver directly: not records of the domain, not drift."""
    subjects = list(dict.fromkeys([domain, _organisational(domain)]))
    queries = [*(dnsbl.domain_query(subject, zone) for zone in domain_lists
                 for subject in subjects),
               *(dnsbl.ip_query(ip, zone) for zone in ip_lists for ip in platform_ips)]
    findings, refused_lists = [], set()
    for query in queries:
        answer = resolver.query(query.name, "A")
        if answer.failed:
            verdict = dnsbl.DnsblVerdict(dnsbl.REFUSED, (f"the lookup {_what_happened(answer)}",))
        else:
            verdict = dnsbl.judge(query, answer.records if answer.ok else [])
        if verdict.status == dnsbl.LISTED:
            findings.append(dnsbl.listing_finding(domain, query, verdict))
        elif verdict.status == dnsbl.REFUSED and query.list_zone not in refused_lists:
            refused_lists.add(query.list_zone)
            findings.append(dnsbl.refused_finding(query, "; ".join(verdict.reasons)))
    return findings


def _comparable(name: str) -> str:
    return name.strip().lower().removesuffix(".")
