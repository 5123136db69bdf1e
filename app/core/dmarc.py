"""DMARC policy records (RFC 7489): parse them as receivers do, and judge them as findings.

Pure: no Flask, database or network. The caller fetches the TXT records at `_dmarc.<domain>`
and the report-authorisation records, and passes organisational domains as a callable
(`app.core.names.organisational_domain` in the app), so this module only reads what it is handed.

Records are read by their tags, never by matching the raw text: tag order after v=, whitespace
around `;`, `=` and `,`, the case of tag names and keyword values, a trailing `;` and how the
TXT is split into strings never make a correct record look wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import unquote

from app.core.dkim import DkimSyntaxError
from app.core.dkim import txt_value
from app.core.findings import ERROR, WARNING, Finding, finding

POLICIES = ("none", "quarantine", "reject")  # RFC 7489 §6.3, weakest first
ALIGNMENT_MODES = {"r": "relaxed", "s": "strict"}
FAILURE_OPTIONS = frozenset({"0", "1", "d", "s"})  # fo=, RFC 7489 §6.3
DEFAULT_REPORT_INTERVAL = 86400
MAX_REPORT_INTERVAL = 2**32 - 1  # ri= is a 32-bit unsigned integer (RFC 7489 §6.4)
SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}  # RFC 7489 §6.4
URI_TAGS = ("rua", "ruf")
POLICY_TAGS = ("p", "sp", "np")  # np= comes from RFC 9091
NEW_RECORD = "v=DMARC1; p=none"

_WSP = " \t\r\n"
Organisational = Callable[[str], str]


class DmarcError(ValueError):
    """A DMARC problem a caller can act on: a stable `code`, a plain `message`, a `fix`.

    `severity` is what the problem costs at a receiver: `error` when the policy is not applied
    as written, `warning` when only one optional tag falls back to its default.
    """

    def __init__(self, code: str, message: str, fix: str = "", *, tag: str = "",
                 severity: str = ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix
        self.tag = tag
        self.severity = severity
        self.valid_uris: tuple[DmarcUri, ...] = ()  # rua=/ruf=: the entries that were fine


class DmarcSyntaxError(DmarcError):
    """The TXT value is not a valid DMARC record, or one of its known tags is malformed."""

    def __init__(self, message: str, fix: str = "", *, tag: str = "", code: str = "DMARC_SYNTAX",
                 severity: str = ERROR) -> None:
        super().__init__(code, message, fix, tag=tag, severity=severity)


@dataclass(frozen=True)
class DmarcUri:
    """One report destination of rua=/ruf= (RFC 7489 §6.2): a URI with an optional size limit."""

    uri: str  # as published, without the !size suffix
    scheme: str  # lower-case
    address: str | None  # the mailbox of a mailto: URI, percent-decoded
    max_bytes: int | None  # the !size limit in bytes; None when there is none

    @property
    def host(self) -> str | None:
        """The destination host (RFC 7489 §7.1): the mailbox's domain, lower-case."""
        if self.address is None:
            return None
        return self.address.rpartition("@")[2].lower().rstrip(".")


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed DMARC record. Absent optional tags hold their RFC 7489 §6.3 defaults."""

    policy: str  # p=, lower-case
    subdomain_policy: str | None = None  # sp= as published (lower-case); None when absent
    nonexistent_policy: str | None = None  # np= (RFC 9091); None when absent
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    failure_options: tuple[str, ...] = ("0",)
    report_formats: tuple[str, ...] = ("afrf",)
    report_interval: int = DEFAULT_REPORT_INTERVAL
    rua: tuple[DmarcUri, ...] = ()
    ruf: tuple[DmarcUri, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict, repr=False)  # lower-case names, in order

    @property
    def sp(self) -> str:
        """The policy for subdomains: sp=, else p= (RFC 7489 §6.3)."""
        return self.subdomain_policy or self.policy

    @property
    def np(self) -> str:
        """The policy for non-existent subdomains: np=, else sp=, else p= (RFC 9091 §4.1)."""
        return self.nonexistent_policy or self.sp


def parse_dmarc(txt: str | bytes | Sequence[str | bytes]) -> DmarcRecord:
    """Parse a DMARC record strictly: the first problem of any kind raises DmarcSyntaxError.

    `txt` is one TXT record, as its character-strings or as one joined (or zone-quoted) value.
    """
    record, problems = parse_dmarc_as_receiver(txt)
    if problems:
        raise problems[0]
    return record


def parse_dmarc_as_receiver(txt: str | bytes | Sequence[str | bytes],
                            ) -> tuple[DmarcRecord, list[DmarcSyntaxError]]:
    """The record as a receiver applies it, and every problem found on the way.

    RFC 7489 §6.3: a malformed optional tag falls back to its default. §6.6.3 step 6: without a
    valid p= (or with an invalid sp=) the record counts as p=none if it has a valid rua= URI and
    is ignored otherwise; an ignored record raises DmarcSyntaxError.
    """
    pairs = _tag_pairs(_joined(txt))
    problems: list[DmarcSyntaxError] = []
    values: dict[str, object] = {}
    for name, value in pairs[1:]:
        reader = _TAG_READERS.get(name)
        if reader is None:
            continue  # RFC 7489 §6.3: unknown tags MUST be ignored
        try:
            values[name] = reader(name, value)
        except DmarcSyntaxError as problem:
            if name in URI_TAGS:
                values[name] = problem.valid_uris
            problems.append(problem)
    policy_broken = "p" not in values or any(p.tag in ("p", "sp") for p in problems)
    if policy_broken:
        if "p" not in values and not any(p.tag == "p" for p in problems):
            problems.insert(0, DmarcSyntaxError(
                "The record has no p= tag; p= is the policy receivers apply.",
                "Add p=none (monitoring), p=quarantine or p=reject after v=DMARC1.", tag="p"))
        if not values.get("rua"):
            first = next(p for p in problems if p.tag in ("p", "sp"))
            raise DmarcSyntaxError(
                f"{first.message} Receivers ignore this record entirely "
                "(it has no valid rua= either).", first.fix, tag=first.tag)
        problems = [DmarcSyntaxError(f"{problem.message} Receivers treat the record as p=none "
                                     "(RFC 7489 §6.6.3).", problem.fix, tag=problem.tag)
                    if problem.tag in ("p", "sp") else problem for problem in problems]
        values["p"] = "none"
        values.pop("sp", None)
    record = DmarcRecord(
        policy=values["p"], subdomain_policy=values.get("sp"),
        nonexistent_policy=values.get("np"),
        adkim=values.get("adkim", "r"), aspf=values.get("aspf", "r"),
        pct=values.get("pct", 100), failure_options=values.get("fo", ("0",)),
        report_formats=values.get("rf", ("afrf",)),
        report_interval=values.get("ri", DEFAULT_REPORT_INTERVAL),
        rua=values.get("rua", ()), ruf=values.get("ruf", ()),
        tags=MappingProxyType(dict(pairs)))
    return record, problems


def effective_policy(record_for_domain: DmarcRecord | None, record_for_org: DmarcRecord | None,
                     is_subdomain: bool, *, domain_exists: bool = True) -> str | None:
    """The policy a receiver applies to mail from a domain (RFC 7489 §6.6.3, RFC 9091 §4.1).

    A record at the domain itself wins, with its p=. A subdomain without one falls back to its
    organisational domain's record: sp= (default p=), or np= for a name that does not exist.
    None means no DMARC applies.
    """
    if record_for_domain is not None:
        return record_for_domain.policy
    if not is_subdomain or record_for_org is None:
        return None
    return record_for_org.sp if domain_exists else record_for_org.np


@dataclass(frozen=True)
class AppliedPolicy:
    """Which DMARC policy governs mail from `domain`, and whose record it comes from."""

    domain: str
    source: str  # the domain whose record applies: `domain` itself or its organisational one
    tag: str  # the tag it is read from: p for a record of its own, sp (or p) when inherited
    policy: str

    @property
    def inherited(self) -> bool:
        return self.source != self.domain

    @property
    def words(self) -> str:
        """"marketing.example.com has no DMARC record; example.com's sp=quarantine applies"."""
        if not self.inherited:
            return f"{self.domain}'s own DMARC record applies (p={self.policy})"
        without_sp = " (it has no sp=)" if self.tag == "p" else ""
        return (f"{self.domain} has no DMARC record; {self.source}'s {self.tag}={self.policy} "
                f"applies{without_sp}")


def applied_policy(domain: str, organisational: str, own: DmarcRecord | None,
                   org_record: DmarcRecord | None) -> AppliedPolicy | None:
    """RFC 7489 §6.6.3: a record of the domain's own wins; a subdomain without one gets the
    organisational record's sp=, else its p=. None when no DMARC applies at all."""
    domain, organisational = _name(domain), _name(organisational)
    if own is not None:
        return AppliedPolicy(domain, domain, "p", own.policy)
    if org_record is None or organisational == domain:
        return None
    tag = "sp" if org_record.subdomain_policy else "p"
    return AppliedPolicy(domain, organisational, tag, org_record.sp)


def single_record(records_at_dmarc_host: Sequence[str | Sequence[str | bytes]],
                  ) -> DmarcRecord | None:
    """The one record receivers apply from these TXT records, or None (none, several, or
    ignored as broken, RFC 7489 §6.6.3)."""
    readings = []
    for txt in records_at_dmarc_host:
        if _mentions_dmarc(txt):
            try:
                readings.append(parse_dmarc_as_receiver(txt)[0])
            except DmarcSyntaxError:
                continue
    return readings[0] if len(readings) == 1 else None


def is_aligned(identifier_domain: str, from_domain: str, mode: str,
               org_domain: Organisational) -> bool:
    """RFC 7489 §3.1: strict needs the same name, relaxed the same organisational domain."""
    identifier, author = _name(identifier_domain), _name(from_domain)
    if identifier == author:
        return True
    return mode == "r" and org_domain(identifier) == org_domain(author)


def report_authorization_names(record: DmarcRecord, domain: str,
                               org_domain: Organisational) -> dict[str, str]:
    """For each external report destination host, the TXT name that must authorise it.

    RFC 7489 §7.1: a destination outside the domain's organisational domain must publish
    `<domain>._report._dmarc.<destination host>` starting with v=DMARC1.
    """
    domain = _name(domain)
    names: dict[str, str] = {}
    for uri in (*record.rua, *record.ruf):
        host = uri.host
        if host and org_domain(host) != org_domain(domain):
            names[host] = f"{domain}._report._dmarc.{host}"
    return names


def is_report_authorization(txt_records: Iterable[str | bytes | Sequence[str | bytes]]) -> bool:
    """Whether the TXT records at a `_report._dmarc` name authorise reports (RFC 7489 §7.1)."""
    for txt in txt_records:
        try:
            pairs = _tag_pairs(_joined(txt))
        except DmarcSyntaxError:
            continue
        if pairs:
            return True
    return False


# --- findings --------------------------------------------------------------------------------


def dmarc_findings(records_at_dmarc_host: Sequence[str | Sequence[str | bytes]], domain: str, *,
                   org_domain: Organisational, our_return_path_domain: str | None = None,
                   our_dkim_domain: str | None = None,
                   report_authorizations: Mapping[str, bool] | None = None,
                   inherited_by: str | None = None) -> list[Finding]:
    """Everything wrong with the DMARC record of `domain`, from the TXT records at its _dmarc name.

    `report_authorizations` maps an external destination host (see
    `report_authorization_names`) to whether its authorisation record exists; a host left out
    is not judged, since its lookup may have failed. Alignment is judged only for the
    identities given (an unmanaged domain has no return path or DKIM domain of ours).

    `inherited_by` names a subdomain without a record of its own that `domain` (its
    organisational domain) governs: the record is then judged as it applies to that
    subdomain (RFC 7489 §6.6.3): its sp= (else p=) is the policy, alignment is against the
    subdomain, and every message starts by saying which policy applies.
    """
    if inherited_by is not None:
        return _inherited_findings(records_at_dmarc_host, _name(domain), _name(inherited_by),
                                   org_domain=org_domain,
                                   our_return_path_domain=our_return_path_domain,
                                   our_dkim_domain=our_dkim_domain,
                                   report_authorizations=report_authorizations)
    domain = _name(domain)
    host = f"_dmarc.{domain}"
    candidates = [txt for txt in records_at_dmarc_host if _mentions_dmarc(txt)]
    if not candidates:
        others = (f" The {len(records_at_dmarc_host)} other TXT record(s) there are not DMARC."
                  if records_at_dmarc_host else "")
        return [finding("DMARC_MISSING", host, "TXT",
                        f"There is no DMARC record at {host}.{others}",
                        f"Publish a TXT record at {host}: {NEW_RECORD} — then move to "
                        "p=quarantine and p=reject once reports show only your own mail.")]
    readings, broken = [], []
    for txt in candidates:
        try:
            readings.append((txt, *parse_dmarc_as_receiver(txt)))
        except DmarcSyntaxError as error:
            broken.append((txt, error))
    if len(readings) > 1:
        shown = "; ".join(f"`{_joined(txt)}`" for txt, _, _ in readings)
        return [finding("DMARC_MULTIPLE_RECORDS", host, "TXT",
                        f"There are {len(readings)} DMARC records at {host} ({shown}); receivers "
                        "then apply none of them (RFC 7489 §6.6.3).",
                        "Delete all but one DMARC record.")]
    ignored_severity = WARNING if readings else ERROR
    findings = [finding("DMARC_SYNTAX", host, "TXT",
                        f"The record `{_joined(txt)}` is ignored by receivers: {error.message}",
                        error.fix, severity=ignored_severity)
                for txt, error in broken]
    if not readings:
        return findings
    txt, record, problems = readings[0]
    record = _without_problems(record, problems)
    findings += [finding(problem.code, host, "TXT",
                         f"In `{_joined(txt)}`: {problem.message}",
                         _fix_with(problem.fix, record, dropped=problem.tag), severity=problem.severity)
                 for problem in problems]
    if not any(problem.tag in ("p", "sp") for problem in problems):
        findings += _policy_findings(record, host)
    findings += _report_findings(record, host, domain, org_domain, report_authorizations or {})
    findings += _alignment_findings(record, host, domain, org_domain,
                                    {"aspf": our_return_path_domain, "adkim": our_dkim_domain})
    return findings


def _inherited_findings(records_at_dmarc_host: Sequence[str | Sequence[str | bytes]], org: str,
                        subdomain: str, *, org_domain: Organisational,
                        our_return_path_domain: str | None, our_dkim_domain: str | None,
                        report_authorizations: Mapping[str, bool] | None) -> list[Finding]:
    """The organisational record's findings as they bear on `subdomain`'s mail.

    Problems of the record itself (syntax, reports) are shown as they are; the policy is
    judged by sp=, and sp= weaker than p= is left to the organisational domain's own check,
    since for the subdomain it simply is the policy that applies.
    """
    own = dmarc_findings(records_at_dmarc_host, org, org_domain=org_domain,
                         report_authorizations=report_authorizations)
    record = single_record(records_at_dmarc_host)
    if record is None:
        return own  # missing, several or ignored: the subdomain is as unprotected as the org
    applied = applied_policy(subdomain, org, None, record)
    kept = [found for found in own if found.code not in POLICY_CODES]
    host = f"_dmarc.{org}"
    if not any(found.code == "DMARC_SYNTAX" and found.severity == ERROR for found in own):
        kept += _subdomain_policy_findings(record, host, subdomain, org)
    kept += _alignment_findings(record, host, subdomain, org_domain,
                                {"aspf": our_return_path_domain, "adkim": our_dkim_domain})
    return [replace(found, message=f"{applied.words}. {found.message}") for found in kept]


# Findings about the policy itself, which _inherited_findings judges by sp= instead.
POLICY_CODES = frozenset({"DMARC_POLICY_NONE", "DMARC_PCT_PARTIAL", "DMARC_SP_WEAKER"})


def _subdomain_policy_findings(record: DmarcRecord, host: str, subdomain: str,
                               org: str) -> list[Finding]:
    tag = "sp" if record.subdomain_policy else "p"
    if record.sp == "none":
        return [finding(
            "DMARC_POLICY_NONE", host, "TXT",
            f"{tag}=none only asks receivers to report: mail that spoofs {subdomain} is still "
            "delivered.",
            f"Publish a DMARC record of its own at _dmarc.{subdomain} (v=DMARC1; p=quarantine), "
            f"or protect every subdomain of {org} with: "
            + corrected_record(record, sp="quarantine"))]
    if record.pct < 100:
        return [finding(
            "DMARC_PCT_PARTIAL", host, "TXT",
            f"pct={record.pct}: {tag}={record.sp} applies to only {record.pct}% of failing mail "
            f"from {subdomain}; the rest is treated one step weaker.",
            "Remove pct= (it defaults to 100): " + corrected_record(record, pct=None))]
    return []


def _policy_findings(record: DmarcRecord, host: str) -> list[Finding]:
    findings = []
    if record.policy == "none":
        findings.append(finding(
            "DMARC_POLICY_NONE", host, "TXT",
            "The policy is p=none: receivers only report; spoofed mail is still delivered.",
            "When reports show only your own mail passing, publish: "
            + corrected_record(record, p="quarantine")))
    elif record.pct < 100:
        findings.append(finding(
            "DMARC_PCT_PARTIAL", host, "TXT",
            f"pct={record.pct}: p={record.policy} applies to only {record.pct}% of failing mail; "
            "the rest is treated one step weaker.",
            "Remove pct= (it defaults to 100): " + corrected_record(record, pct=None)))
    for tag, published in (("sp", record.subdomain_policy), ("np", record.nonexistent_policy)):
        if published and POLICIES.index(published) < POLICIES.index(record.policy):
            findings.append(finding(
                "DMARC_SP_WEAKER", host, "TXT",
                f"{tag}={published} is weaker than p={record.policy}: spoofers can send as "
                f"{'any subdomain' if tag == 'sp' else 'made-up subdomains'} of the domain.",
                f"Remove {tag}= so subdomains inherit p=: "
                + corrected_record(record, **{tag: None})))
    return findings


def _report_findings(record: DmarcRecord, host: str, domain: str, org_domain: Organisational,
                     authorizations: Mapping[str, bool]) -> list[Finding]:
    findings = []
    for tag in URI_TAGS:
        for uri in getattr(record, tag):
            if uri.scheme != "mailto":
                findings.append(finding(
                    "DMARC_RUA_INVALID", host, "TXT",
                    f"{tag}= lists {uri.uri}: receivers only send reports to mailto: URIs "
                    "(RFC 7489 §6.2), so no reports arrive there.",
                    f"Use a mailto: address in {tag}=, e.g. {tag}=mailto:dmarc@{domain}."))
    external = report_authorization_names(record, domain, org_domain)
    for destination, name in external.items():
        if authorizations.get(destination) is False:
            findings.append(finding(
                "DMARC_RUA_UNAUTHORIZED", host, "TXT",
                f"Reports go to {destination}, outside {org_domain(domain)}, but {name} has no "
                "DMARC record authorising them, so receivers drop those reports (RFC 7489 §7.1).",
                f"Ask the operator of {destination} to publish a TXT record at {name} with "
                "the value v=DMARC1, or report to an address at your own domain."))
    return findings


def _alignment_findings(record: DmarcRecord, host: str, domain: str, org_domain: Organisational,
                        identities: Mapping[str, str | None]) -> list[Finding]:
    words = {"aspf": ("SPF", "return-path (envelope from)", "a custom return path"),
             "adkim": ("DKIM", "DKIM d=", "a DKIM key that signs as your domain")}
    known = {tag: identity for tag, identity in identities.items() if identity}
    failing = {tag: identity for tag, identity in known.items()
               if not is_aligned(identity, domain, getattr(record, tag), org_domain)}
    # DMARC passes when either SPF or DKIM aligns; it fails outright only when none can.
    severity = ERROR if failing and len(failing) == len(known) else WARNING
    findings = []
    for tag, identity in failing.items():
        mechanism, what, remedy = words[tag]
        mode = ALIGNMENT_MODES[getattr(record, tag)]
        if getattr(record, tag) == "s" and is_aligned(identity, domain, "r", org_domain):
            fix = (f"Relax {tag}= (r is the default): " + corrected_record(record, **{tag: None}))
        else:
            fix = (f"Use a {what} domain under {org_domain(domain)} ({remedy}) so it shares "
                   "your organisational domain.")
        findings.append(finding(
            "DMARC_NOT_ALIGNED", host, "TXT",
            f"Our {what} domain {identity} does not align with {domain} under {tag}="
            f"{getattr(record, tag)} ({mode}), so {mechanism} cannot make our mail pass DMARC.",
            fix, severity=severity))
    return findings


def corrected_record(record: DmarcRecord, **changes: str | None) -> str:
    """The record as published with tags changed (a value) or removed (None), order kept."""
    tags = dict(record.tags)
    for name, value in changes.items():
        if value is None:
            tags.pop(name, None)
        else:
            tags[name] = value
    return "; ".join(f"{name}={value}" for name, value in tags.items())


def _without_problems(record: DmarcRecord, problems: Sequence[DmarcError]) -> DmarcRecord:
    """The record with its broken tags dropped (and broken URIs left out), for corrected forms."""
    tags = dict(record.tags)
    for problem in problems:
        if problem.tag in URI_TAGS and problem.valid_uris:
            tags[problem.tag] = ",".join(uri.uri for uri in problem.valid_uris)
        elif problem.tag not in ("", "v"):
            tags.pop(problem.tag, None)
    tags.setdefault("p", record.policy)
    return replace(record, tags=MappingProxyType(tags))


def _fix_with(fix: str, cleaned: DmarcRecord, *, dropped: str) -> str:
    """The problem's fix, plus the record without the dropped optional tag."""
    if dropped in ("", "v", "p", "sp", *URI_TAGS):
        return fix
    return f"{fix} Or remove {dropped}= to use its default: {corrected_record(cleaned)}"


# --- reading the tag list --------------------------------------------------------------------


def _joined(txt: str | bytes | Sequence[str | bytes]) -> str:
    """One TXT value; strings are concatenated (RFC 7489 §6.6.3 via RFC 6376 §3.6.2.2)."""
    try:
        return txt_value(txt)
    except DkimSyntaxError as error:
        raise DmarcSyntaxError(error.message, error.fix) from None


def _split_tags(value: str) -> list[tuple[str, str, bool]]:
    """(name, value, had '=') for each non-empty `;`-separated spec; no validation."""
    specs = []
    for spec in value.split(";"):
        if spec.strip(_WSP):  # a trailing ";" (allowed) or ";;" carries nothing
            name, equals, raw = spec.partition("=")
            specs.append((name.strip(_WSP), raw.strip(_WSP), bool(equals)))
    return specs


def _mentions_dmarc(txt: str | bytes | Sequence[str | bytes]) -> bool:
    """Whether a TXT value is meant as DMARC: it has a v= tag whose value starts with DMARC.

    Receivers discard anything not starting with exactly v=DMARC1 (§6.6.3); we still want to
    name a misplaced or misspelt version as a syntax problem rather than say "missing".
    """
    try:
        specs = _split_tags(_joined(txt))
    except DmarcSyntaxError:
        return False
    return any(name.lower() == "v" and value.upper().startswith("DMARC")
               for name, value, _ in specs)


def _tag_pairs(value: str) -> list[tuple[str, str]]:
    """RFC 7489 §6.4: v=DMARC1 first, then tag=value pairs; names lower-cased, no duplicates."""
    specs = _split_tags(value)
    if not specs:
        raise DmarcSyntaxError("The TXT record is empty.", f"Publish {NEW_RECORD}.")
    pairs: list[tuple[str, str]] = []
    for position, (name, tag_value, had_equals) in enumerate(specs, start=1):
        if not had_equals:
            raise DmarcSyntaxError(f"Part {position} of the record ({name!r}) is not tag=value.",
                                   "Write tags as name=value, separated by ';'.")
        if not _is_tag_name(name):
            raise DmarcSyntaxError(f"{name!r} is not a valid tag name.",
                                   "Tag names are a letter followed by letters, digits or '_'.")
        if any(name.lower() == seen for seen, _ in pairs):
            raise DmarcSyntaxError(f"The tag {name.lower()}= appears more than once; receivers "
                                   "then reject the whole record (RFC 6376 §3.2).",
                                   f"Keep a single {name.lower()}= tag.", tag=name.lower())
        pairs.append((name.lower(), tag_value))
    first_name, first_value = specs[0][0], specs[0][1]
    # RFC 7489 §6.4 ABNF: v and DMARC1 are case-sensitive (%x76, %x44 ...) and must come first.
    if first_name != "v":
        where = next((str(n) for n, (tag, _) in enumerate(pairs, start=1) if tag == "v"), None)
        seen = f"v= is tag {where}" if where else "there is no v= tag"
        raise DmarcSyntaxError(f"A DMARC record must start with v=DMARC1; {seen}.",
                               "Move v=DMARC1 to the very front of the record.", tag="v")
    if first_value != "DMARC1":
        hint = " (a ';' is missing after it)" if "=" in first_value else ""
        raise DmarcSyntaxError(f"v= must be exactly DMARC1, found v={first_value}{hint}.",
                               "Write v=DMARC1 followed by ';'.", tag="v")
    return pairs


def _is_tag_name(name: str) -> bool:
    return (bool(name) and name.isascii() and name[0].isalpha()
            and all(char.isalnum() or char == "_" for char in name))


# --- tag values (RFC 7489 §6.3, §6.4) ----------------------------------------------------------


def _policy(name: str, value: str) -> str:
    if value.lower() not in POLICIES:
        raise DmarcSyntaxError(f"{name}={value} is not a policy; it must be none, quarantine or "
                               "reject.", f"Write {name}=none, {name}=quarantine or {name}=reject.",
                               tag=name, severity=ERROR if name != "np" else WARNING)
    return value.lower()


def _alignment(name: str, value: str) -> str:
    if value.lower() not in ALIGNMENT_MODES:
        raise DmarcSyntaxError(f"{name}={value} is not an alignment mode; it must be r or s.",
                               f"Write {name}=r (relaxed, the default) or {name}=s (strict).",
                               tag=name, severity=WARNING)
    return value.lower()


def _unsigned(name: str, value: str, *, maximum: int, what: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise DmarcSyntaxError(f"{name}={value} is not {what}.", f"Write {name}= as {what}.",
                               tag=name, severity=WARNING)
    return int(value)


def _pct(name: str, value: str) -> int:
    return _unsigned(name, value, maximum=100, what="a whole number from 0 to 100")


def _interval(name: str, value: str) -> int:
    return _unsigned(name, value, maximum=MAX_REPORT_INTERVAL, what="a number of seconds")


def _colon_list(name: str, value: str, allowed: Callable[[str], bool], what: str
                ) -> tuple[str, ...]:
    items = tuple(item.strip(_WSP).lower() for item in value.split(":"))
    bad = next((item for item in items if not allowed(item)), None)
    if bad is not None:
        raise DmarcSyntaxError(f"{name}={value}: {bad!r} is not {what}.",
                               f"Write {name}= as {what} values separated by ':'.",
                               tag=name, severity=WARNING)
    return items


def _failure_options(name: str, value: str) -> tuple[str, ...]:
    return _colon_list(name, value, FAILURE_OPTIONS.__contains__, "one of 0, 1, d, s")


def _report_formats(name: str, value: str) -> tuple[str, ...]:
    return _colon_list(name, value, _is_keyword, "a report format name such as afrf")


def _is_keyword(text: str) -> bool:
    return bool(text) and text.isascii() and all(char.isalnum() or char == "-" for char in text)


def _uri_list(name: str, value: str) -> tuple[DmarcUri, ...]:
    """RFC 7489 §6.4 dmarc-urilist: URIs separated by ',' with optional whitespace around it.

    Valid URIs beside a bad one still receive reports, so they are kept on the error
    (`valid_uris`) for the receiver view.
    """
    uris, errors = [], []
    for part in value.split(","):
        try:
            uris.append(_dmarc_uri(name, part.strip(_WSP)))
        except DmarcSyntaxError as error:
            errors.append(error)
    if errors:
        errors[0].valid_uris = tuple(uris)
        raise errors[0]
    return tuple(uris)


def _dmarc_uri(name: str, text: str) -> DmarcUri:
    def invalid(why: str, fix: str = "") -> DmarcSyntaxError:
        return DmarcSyntaxError(f"{name}= entry {text!r} {why}.",
                                fix or f"Write {name}=mailto:address@example.com, several "
                                "separated by ','.", tag=name, code="DMARC_RUA_INVALID",
                                severity=WARNING)

    if not text:
        raise invalid("is empty")
    uri, bang, size = text.partition("!")
    scheme, colon, rest = uri.partition(":")
    if not colon or not _is_scheme(scheme):
        fix = (f"Write {name}=mailto:{uri}." if "@" in uri else "")
        raise invalid("is not a URI (it needs a scheme such as mailto:)", fix)
    max_bytes = _size(size, invalid) if bang else None
    address = None
    if scheme.lower() == "mailto":
        address = unquote(rest.partition("?")[0])
        local, at, host = address.rpartition("@")
        if not at or not local or not _is_host(host) or any(c in _WSP + "," for c in address):
            raise invalid("is not a single mailbox address")
    return DmarcUri(uri=uri, scheme=scheme.lower(), address=address, max_bytes=max_bytes)


def _size(size: str, invalid: Callable[..., DmarcSyntaxError]) -> int:
    digits, unit = (size[:-1], size[-1].lower()) if size[-1:].isalpha() else (size, "")
    if not (digits.isascii() and digits.isdigit()) or unit not in SIZE_UNITS:
        raise invalid(f"has a size limit !{size} that is not a number with k, m, g or t")
    return int(digits) * SIZE_UNITS[unit]


def _is_scheme(scheme: str) -> bool:
    # RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    return (bool(scheme) and scheme.isascii() and scheme[0].isalpha()
            and all(char.isalnum() or char in "+-." for char in scheme))


def _is_host(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return len(labels) >= 2 and all(
        0 < len(label) <= 63 and label.isascii() and not label.startswith("-")
        and not label.endswith("-") and all(char.isalnum() or char == "-" for char in label)
        for label in labels)


def _name(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


_TAG_READERS: Mapping[str, Callable[[str, str], object]] = MappingProxyType({
    "p": _policy, "sp": _policy, "np": _policy,
    "adkim": _alignment, "aspf": _alignment,
    "pct": _pct, "ri": _interval,
    "fo": _failure_options, "rf": _report_formats,
    "rua": _uri_list, "ruf": _uri_list,
})
