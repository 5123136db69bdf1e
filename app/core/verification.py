"""Comparing the records we expect with what DNS returned, one record at a time, as values.

Pure: no Flask, database or network. The resolver adapter fetches and `app.domains.checks`
turns its answers into `Observation`s; this module judges them. Records are compared as DNS
facts, never as strings: DKIM by parsed tags and key bytes, SPF by whether the platform include
is reachable through nested `include:` / `redirect=`, DMARC by its tag list. So a correct record
written differently is never "wrong", and a lookup that failed (timeout, SERVFAIL, a lame
server) is an "error", never "missing": we cannot tell what is published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace

from app.core.dmarc import applied_policy, single_record
from app.core.dkim import (
    DkimSyntaxError,
    parse_dkim_record,
    parse_tag_list,
    same_public_key,
)
from app.core.records import DnsRecord, Purpose
from app.core.spf_merge import (
    PASS_QUALIFIERS,
    is_modifier,
    mechanism_parts,
    merge_spf,
)

FOUND, MISSING, WRONG, ERROR = "found", "missing", "wrong", "error"
STATUSES = (FOUND, MISSING, WRONG, ERROR)

# The resolver's statuses for a lookup that itself failed (app.adapters.dns.FAILURES).
DNS_FAILURES = frozenset({"timeout", "servfail", "refused", "lame", "error"})
RETRY_FIX = "Nothing to change yet; we retry."

MAX_SPF_LOOKUPS = 10  # RFC 7208 §4.6.4
SPF_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})  # + redirect=
SPF_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
DMARC_POLICIES = ("none", "quarantine", "reject")  # RFC 7489 §6.3, weakest first

_FAILURE_WORDS = {
    "timeout": "our DNS query timed out",
    "servfail": "the server answered SERVFAIL (server failure)",
    "refused": "the server refused the query (REFUSED)",
    "lame": "the server is not authoritative for the name (a lame delegation)",
    "error": "the DNS lookup failed",
}


@dataclass(frozen=True)
class RecordCheck:
    """The verdict on one expected record, as the wizard, the API and snapshots show it.

    `code` is a stable reason (`SPF_MULTIPLE_RECORDS`, `DKIM_KEY_MISMATCH`, …) for findings;
    a found record may still carry one as a note (e.g. `SPF_TOO_MANY_LOOKUPS`).
    """

    purpose: str
    type: str
    host: str
    status: str  # found | missing | wrong | error (error = DNS failure, never "missing")
    expected: str  # the value as a web panel shows it
    observed: list[str]  # joined TXT values / CNAME target / "10 host", possibly several
    message: str
    fix: str  # what to publish instead; "" when found
    agreeing: int | None = None  # authoritative nameservers that served the right value
    total: int | None = None  # authoritative nameservers asked; None: the resolver was asked
    code: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RecordCheck:
        """Tolerates keys it does not know and missing optional ones: snapshots outlive deploys."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["observed"] = list(values.get("observed", []))
        return cls(**values)


@dataclass(frozen=True)
class Observation:
    """What one nameserver (or the resolver) answered for a name, reduced to what comparing needs.

    `status` is the resolver's (ok / nxdomain / nodata / timeout / servfail / refused / lame /
    error). `txt` holds each TXT record's character-strings as served; `records` the other types
    in presentation form (`target.` for CNAME, `10 host.` for MX); `cname_chain` the aliases the
    resolver followed on the way.
    """

    status: str
    txt: Sequence[Sequence[bytes]] = ()
    records: Sequence[str] = ()
    cname_chain: Sequence[str] = ()
    server: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in DNS_FAILURES

    def txt_values(self) -> list[str]:
        # A record's strings are joined with nothing between them (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
        return [b"".join(strings).decode("utf-8", "replace") for strings in self.txt]


# The TXT values published at a name (strings joined), or the Observation of a lookup that
# gave none (nxdomain, nodata, or a failure). The caller does the DNS; the core stays pure.
SpfLookup = Callable[[str], "list[str] | Observation"]


# --- entry points ----------------------------------------------------------------------------


def check(expected: DnsRecord, observation: Observation, *, spf_include: str | None = None,
          lookup_spf: SpfLookup | None = None) -> RecordCheck:
    """Judge one answer for one expected record.

    SPF records need `lookup_spf` to follow nested includes. `spf_include` names the platform
    include that must be reachable; without it every `include:` of the expected record must be.
    """
    if observation.failed:
        return _dns_failure(expected, observation)
    if expected.type == "CNAME":
        return _check_cname(expected, observation)
    if expected.type == "MX":
        return _check_mx(expected, observation)
    if expected.type != "TXT":
        raise ValueError(f"no comparison for {expected.type} records")
    if expected.purpose == Purpose.OWNERSHIP:
        return _check_ownership(expected, observation)
    if expected.purpose == Purpose.DKIM:
        return _check_dkim(expected, observation)
    if expected.purpose == Purpose.DMARC:
        return _check_dmarc(expected, observation)
    # The apex SPF and the return path's own SPF (MX mode) are both SPF records.
    if lookup_spf is None:
        raise ValueError("checking an SPF record needs lookup_spf to follow its includes")
    return _check_spf(expected, observation, _wanted_includes(expected, spf_include), lookup_spf)


def check_on_nameservers(expected: DnsRecord, observations: Sequence[Observation], *,
                         spf_include: str | None = None,
                         lookup_spf: SpfLookup | None = None) -> RecordCheck:
    """One verdict from every authoritative nameserver's answer ("3 of 4 nameservers").

    Found only when every server that answered serves the right value: receivers ask any of
    them, so a stale secondary hands out the old record. Servers that failed (lame, refused,
    silent) count in `total` and are named, but do not turn a found record into a finding.
    """
    if not observations:
        raise ValueError("no nameserver answers to judge")
    judged = [(observation, check(expected, observation, spf_include=spf_include,
                                  lookup_spf=lookup_spf)) for observation in observations]
    return _agreement(judged)


def summarise(checks: Iterable[RecordCheck]) -> dict[str, int]:
    """How many records are in each status, plus `total`."""
    counts = dict.fromkeys(STATUSES, 0)
    for record_check in checks:
        counts[record_check.status] += 1
    counts["total"] = sum(counts.values())
    return counts


def all_found(checks: Sequence[RecordCheck]) -> bool:
    """Whether the domain is verified; an empty check list verifies nothing."""
    return bool(checks) and all(record_check.status == FOUND for record_check in checks)


# --- shared pieces ---------------------------------------------------------------------------


def _result(expected: DnsRecord, status: str, observed: Iterable[str], message: str,
            fix: str = "", code: str = "") -> RecordCheck:
    return RecordCheck(purpose=str(expected.purpose), type=expected.type, host=expected.host,
                       status=status, expected=expected.value, observed=list(observed),
                       message=message, fix=fix, code=code)


def _publish(expected: DnsRecord) -> str:
    return f"Publish a {expected.type} record at {expected.host} with the value: {expected.value}"


def _failure_words(observation: Observation) -> str:
    words = _FAILURE_WORDS.get(observation.status, _FAILURE_WORDS["error"])
    return f"{words} ({observation.detail})" if observation.detail else words


def _dns_failure(expected: DnsRecord, observation: Observation) -> RecordCheck:
    where = f" at {observation.server}" if observation.server else ""
    return _result(expected, ERROR, [],
                   f"We could not check {expected.host}: {_failure_words(observation)}{where}. "
                   "This says nothing about whether the record is published.",
                   RETRY_FIX, code=f"DNS_{observation.status.upper()}")


def _comparable(name: str) -> str:
    return name.lower().removesuffix(".")


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else f"{value[:limit - 1]}…"


def _quoted_list(values: Sequence[str]) -> str:
    return ", ".join(f"`{_shorten(value)}`" for value in values)


def _is_missing(expected: DnsRecord, observation: Observation, values: Sequence[str],
                what: str) -> RecordCheck | None:
    """The "nothing there" verdict shared by every TXT comparison, or None when there is data."""
    if values:
        return None
    there = "no such name" if observation.status == "nxdomain" else "no TXT record"
    return _result(expected, MISSING, [], f"There is no {what} at {expected.host} ({there}).",
                   _publish(expected), code=f"{str(expected.purpose).upper()}_MISSING")


# --- ownership -------------------------------------------------------------------------------


def _check_ownership(expected: DnsRecord, observation: Observation) -> RecordCheck:
    values = observation.txt_values()
    missing = _is_missing(expected, observation, values, "verification TXT record")
    if missing:
        return missing
    if expected.value in values:
        return _result(expected, FOUND, values, f"We found the verification token at {expected.host}.")
    near = any(value.strip(" \t\"'") == expected.value for value in values)
    hint = " One of them has extra quotes or spaces around the token." if near else ""
    return _result(expected, WRONG, values,
                   f"We found {_quoted_list(values)} at {expected.host}, but none of them is the "
                   f"token `{expected.value}`.{hint}",
                   f"Set the TXT value to exactly: {expected.value}", code="OWNERSHIP_WRONG")


# --- DKIM ------------------------------------------------------------------------------------


def _check_dkim(expected: DnsRecord, observation: Observation) -> RecordCheck:
    values = observation.txt_values()
    missing = _is_missing(expected, observation, values, "DKIM key record")
    if missing:
        return missing
    if len(values) > 1:
        # RFC 6376 §3.6.2.2: one TXT record per selector; with several, results are undefined.
        return _result(expected, WRONG, values,
                       f"There are {len(values)} TXT records at {expected.host}; a DKIM selector "
                       "must have exactly one, or receivers may pick the wrong one.",
                       f"Delete all but one and set it to: {expected.value}",
                       code="DKIM_MULTIPLE_RECORDS")
    via = f" (through the alias {' → '.join(observation.cname_chain)})" \
        if observation.cname_chain else ""
    try:
        published = parse_dkim_record(observation.txt[0])
    except DkimSyntaxError as exc:
        return _result(expected, WRONG, values,
                       f"The DKIM record at {expected.host}{via} is not valid: {exc.message}",
                       f"{exc.fix} The full value is: {expected.value}".strip(),
                       code="DKIM_SYNTAX")
    if published.revoked:
        return _result(expected, WRONG, values,
                       f"The DKIM record at {expected.host}{via} has an empty p=, which means the "
                       "key is revoked (RFC 6376 §3.6.1): receivers fail every signature.",
                       f"Set the value to: {expected.value}", code="DKIM_REVOKED")
    if not same_public_key(published, parse_dkim_record(expected.value)):
        return _result(expected, WRONG, values,
                       f"The DKIM record at {expected.host}{via} holds a different public key "
                       f"(p={_shorten(published.tags['p'], 24)}) from the one we sign with, "
                       "perhaps an older key or another provider's.",
                       f"Replace the value with: {expected.value}", code="DKIM_KEY_MISMATCH")
    return _result(expected, FOUND, values,
                   f"We found the DKIM key for {expected.host}{via}, and it matches ours.")


# --- DMARC -----------------------------------------------------------------------------------


class _DmarcSyntaxError(ValueError):
    pass


def _looks_like_dmarc(value: str) -> bool:
    """Whether a TXT value is meant as DMARC: its first tag is v= starting DMARC1.

    RFC 7489 §6.6.3 discards records that do not start with v=DMARC1; we still want to call a
    broken one (`v=DMARC1 p=none`, no `;`) malformed rather than pretend nothing is there.
    """
    name, equals, version = value.split(";", 1)[0].partition("=")
    return bool(equals) and name.strip() == "v" and version.strip().upper().startswith("DMARC1")


def _dmarc_tags(value: str) -> dict[str, str]:
    """RFC 7489 §6.4: the DKIM tag-list syntax, v=DMARC1 first, p= one of the three policies."""
    try:
        tags = {name.lower(): tag_value for name, tag_value in parse_tag_list(value).items()}
    except DkimSyntaxError as exc:
        raise _DmarcSyntaxError(exc.message) from None
    if next(iter(tags)) != "v" or tags["v"] != "DMARC1":
        raise _DmarcSyntaxError("It must start with exactly v=DMARC1.")
    if "p" not in tags:
        raise _DmarcSyntaxError("It has no p= tag, which holds the policy.")
    if tags["p"].lower() not in DMARC_POLICIES:
        raise _DmarcSyntaxError(f"p={tags['p']} is not a policy; use none, quarantine or reject.")
    return tags


def _check_dmarc(expected: DnsRecord, observation: Observation) -> RecordCheck:
    values = observation.txt_values()
    records = [value for value in values if _looks_like_dmarc(value)]
    if not records:
        others = f" We found only {_quoted_list(values)}." if values else ""
        there = "no such name" if observation.status == "nxdomain" else "none starts with v=DMARC1"
        return _result(expected, MISSING, values,
                       f"There is no DMARC record at {expected.host} ({there}).{others}",
                       _publish(expected), code="DMARC_MISSING")
    if len(records) > 1:
        # RFC 7489 §6.6.3: with more than one DMARC record, receivers apply none of them.
        return _result(expected, WRONG, records,
                       f"There are {len(records)} DMARC records at {expected.host} "
                       f"({_quoted_list(records)}); receivers then ignore DMARC altogether.",
                       f"Keep a single record: {expected.value}", code="DMARC_MULTIPLE_RECORDS")
    try:
        policy = _dmarc_tags(records[0])["p"].lower()
    except _DmarcSyntaxError as exc:
        return _result(expected, WRONG, records,
                       f"The DMARC record `{records[0]}` at {expected.host} is not valid: {exc}",
                       f"Replace it with: {expected.value}", code="DMARC_INVALID")
    suggested = _dmarc_tags(expected.value)["p"]
    return _result(expected, FOUND, records,
                   f"We found the DMARC record `{records[0]}`{_policy_note(policy, suggested)}.")


def with_inherited_dmarc(verdict: RecordCheck, domain: str, organisational: str,
                         org_observation: Observation) -> RecordCheck:
    """A subdomain's missing DMARC record judged with its organisational domain's record.

    RFC 7489 §6.6.3: without a record of its own the subdomain gets the organisational
    record's sp= (else p=). When that is quarantine or reject the subdomain is protected and
    its own record is optional, so the check counts as found; otherwise (none, no record, or
    a record receivers ignore) the subdomain still needs its own. An organisational lookup
    that failed makes the verdict an error: we cannot tell which applies.
    """
    if verdict.status != MISSING or verdict.purpose != Purpose.DMARC or \
            organisational == domain:
        return verdict
    host = f"_dmarc.{organisational}"
    if org_observation.failed:
        return replace(verdict, status=ERROR, fix=RETRY_FIX,
                       code=f"DNS_{org_observation.status.upper()}",
                       message=f"{verdict.message} Whether {organisational}'s DMARC record "
                       f"covers {domain} is unknown: looking up {host}, "
                       f"{_failure_words(org_observation)}.")
    org_record = single_record(org_observation.txt)
    applied = applied_policy(domain, organisational, None, org_record)
    if applied is None:
        return replace(verdict, message=f"{verdict.message} {organisational} has no DMARC "
                       "record receivers would apply either, so nothing protects "
                       f"{domain}: publish this record.")
    if applied.policy == "none":
        return replace(verdict, message=f"{applied.words}, which only asks for reports and "
                       f"does not protect {domain}: publish this record (or set sp=quarantine "
                       f"at {host}).")
    return replace(verdict, status=FOUND, fix="", code="DMARC_INHERITED",
                   observed=[value for value in org_observation.txt_values()
                             if _looks_like_dmarc(value)],
                   message=f"{applied.words}, which protects it; a record of its own at "
                   f"{verdict.host} is optional.")


def _policy_note(published: str, suggested: str) -> str:
    """The owner may choose their own policy; say how it compares with what we suggested."""
    if published == suggested:
        return f" (policy {published})"
    stricter = DMARC_POLICIES.index(published) > DMARC_POLICIES.index(suggested)
    return (f" (policy {published}, {'stricter' if stricter else 'weaker'} than the "
            f"{suggested} in your instructions; that is your choice)")


# --- CNAME and MX ----------------------------------------------------------------------------


def _check_cname(expected: DnsRecord, observation: Observation) -> RecordCheck:
    targets = [_comparable(name) for name in (observation.cname_chain or observation.records)]
    if observation.status == "nxdomain":
        return _result(expected, MISSING, [], f"There is no record at {expected.host}.",
                       _publish(expected), code="CNAME_MISSING")
    if not targets:
        return _result(expected, WRONG, [],
                       f"{expected.host} exists but is not an alias (it has no CNAME record). "
                       "If your DNS host proxies or flattens CNAMEs (such as Cloudflare's "
                       "orange cloud), switch that off for this name.",
                       f"{_publish(expected)}, and remove other records at that name (a CNAME "
                       "cannot share its name with them).", code="CNAME_NOT_ALIAS")
    if targets[0] == _comparable(expected.value):
        return _result(expected, FOUND, targets[:1],
                       f"{expected.host} is an alias of {expected.value}, as it should be.")
    return _result(expected, WRONG, targets[:1],
                   f"{expected.host} is an alias of {targets[0]} instead of {expected.value}.",
                   f"Change the CNAME target to: {expected.value}", code="CNAME_WRONG_TARGET")


def _mx_pairs(records: Iterable[str]) -> list[tuple[int, str]]:
    """MX records in presentation form (`10 host.`, RFC 1035 §3.3.9) as (priority, host)."""
    pairs = []
    for record in records:
        priority, _, exchange = record.partition(" ")
        pairs.append((int(priority), _comparable(exchange.strip())))
    return pairs


def _check_mx(expected: DnsRecord, observation: Observation) -> RecordCheck:
    [(priority, exchange)] = _mx_pairs([expected.value])
    published = _mx_pairs(observation.records)
    observed = [f"{pref} {host}" for pref, host in published]
    if not published:
        return _result(expected, MISSING, [], f"There is no MX record at {expected.host}.",
                       _publish(expected), code="MX_MISSING")
    ours = [pref for pref, host in published if host == exchange]
    if not ours:
        return _result(expected, WRONG, observed,
                       f"The MX records at {expected.host} point to "
                       f"{', '.join(observed)}, not to {exchange}.",
                       _publish(expected), code="MX_WRONG_HOST")
    notes = []
    if priority not in ours:
        notes.append(f"with priority {ours[0]} rather than {priority}, which works as well")
    preferred = [host for pref, host in published if host != exchange and pref < min(ours)]
    if preferred:
        notes.append(f"but {', '.join(preferred)} is preferred over it, so bounces go there first")
    note = f" ({'; '.join(notes)})" if notes else ""
    return _result(expected, FOUND, observed, f"{expected.host} has an MX to {exchange}{note}.")


# --- SPF -------------------------------------------------------------------------------------


def is_spf_record(value: str) -> bool:
    """RFC 7208 §4.5: exactly `v=spf1` (any case), then a space or the end."""
    return value[:6].lower() == "v=spf1" and value[6:7] in ("", " ")


def spf_records(values: Iterable[str]) -> list[str]:
    return [value for value in values if is_spf_record(value)]


def combined_spf(records: Sequence[str]) -> str:
    """One SPF record holding the terms of several, for a domain that publishes more than one.

    An RRset has no order (RFC 2181 §5), so the records are taken sorted, and the result is the
    same from one check to the next. Mechanisms are kept without repeats; the first record's
    ending (`all`, or `redirect=` and `exp=`) ends the combined one, since a record may have
    only one of each (RFC 7208 §5.1, §6).
    """
    terms: list[str] = []
    ending: list[str] = []
    for record in sorted(records, key=lambda record: (record.lower(), record)):
        body = record.split()[1:]
        ending = ending or [term for term in body if _ends_evaluation(term)]
        seen = {term.lower() for term in terms}
        terms += [term for term in body
                  if not _ends_evaluation(term) and term.lower() not in seen]
    return " ".join(["v=spf1", *terms, *ending])


def _ends_evaluation(term: str) -> bool:
    if is_modifier(term):
        return term.partition("=")[0].lower() in ("redirect", "exp")
    return _is_all(term)


def _is_all(term: str) -> bool:
    return not is_modifier(term) and mechanism_parts(term)[1] == "all"


def _include_of(term: str) -> tuple[str, str] | None:
    """(qualifier, host) when the term is an include: mechanism."""
    if is_modifier(term):
        return None
    qualifier, name, argument = mechanism_parts(term)
    return (qualifier, _comparable(argument)) if name == "include" else None


def _includes_one_of(term: str, hosts: Sequence[str]) -> bool:
    include = _include_of(term)
    return include is not None and include[1] in hosts


def _includes_of(record: str) -> list[str]:
    """The pass-qualified include: hosts of a record, in order."""
    includes = [_include_of(term) for term in record.split()[1:]]
    return [include[1] for include in includes if include and include[0] in PASS_QUALIFIERS]


def _wanted_includes(expected: DnsRecord, spf_include: str | None) -> tuple[str, ...]:
    """The hosts that must be reachable: ours when named, else all the instructions include."""
    if spf_include is not None:
        return (_comparable(spf_include),)
    return tuple(dict.fromkeys(_includes_of(expected.value)))


def _check_spf(expected: DnsRecord, observation: Observation, wanted: tuple[str, ...],
               lookup_spf: SpfLookup) -> RecordCheck:
    records = spf_records(observation.txt_values())
    if not records:
        there = "no such name" if observation.status == "nxdomain" else \
            "no TXT record starting with v=spf1"
        return _result(expected, MISSING, [], f"There is no SPF record at {expected.host} ({there}).",
                       _publish(expected), code="SPF_MISSING")
    if len(records) > 1:
        return _result(expected, WRONG, records,
                       f"There are {len(records)} SPF records at {expected.host} "
                       f"({_quoted_list(records)}). With more than one, every SPF check fails "
                       "(permerror, RFC 7208 §4.5), so no sender passes.",
                       "Replace them with this one record: "
                       f"{_corrected_spf(combined_spf(records), wanted)}",
                       code="SPF_MULTIPLE_RECORDS")
    walk = _SpfWalk(wanted, lookup_spf)
    walk.run(records[0], expected.host)
    return _spf_verdict(expected, records[0], walk)


def _spf_verdict(expected: DnsRecord, record: str, walk: _SpfWalk) -> RecordCheck:
    seen = f"We found `{record}`"
    unreached = [host for host in walk.wanted if host not in walk.routes]
    stop = walk.stop
    if not unreached:
        note = f" However, {stop.reason}" if stop else ""
        return _result(expected, FOUND, [record], f"{seen}, which {walk.reach_words()}.{note}",
                       code=stop.code if stop else "")
    if stop and stop.failure:
        return _result(expected, ERROR, [record],
                       f"{seen}, but could not follow it to the end: {stop.reason}",
                       RETRY_FIX, code=stop.code)
    if stop:
        return _result(expected, WRONG, [record],
                       f"{seen}, but SPF evaluation stops before it reaches "
                       f"{' and '.join(unreached)}: {stop.reason}",
                       stop.fix_for(record, unreached), code=stop.code)
    why = walk.blocked or f"which does not include {' or '.join(unreached)}."
    return _result(expected, WRONG, [record], f"{seen}, {why}",
                   f"Replace it with: {_corrected_spf(record, unreached)}",
                   code="SPF_INCLUDE_UNREACHABLE")


def _corrected_spf(record: str, hosts: Sequence[str]) -> str:
    """The record with a passing include: of each host before `all` (RFC 7208 §5.1).

    Includes of those hosts that can never authorise (after `all`, or with a `-`/`~`/`?`
    qualifier) are dropped first, so merge_spf adds a working one; the rest stays as it is.
    """
    terms = record.split()
    all_at = next((index for index, term in enumerate(terms) if _is_all(term)), len(terms))

    def dead(index: int, term: str) -> bool:
        return _includes_one_of(term, hosts) and (
            index > all_at or _include_of(term)[0] not in PASS_QUALIFIERS)

    corrected = " ".join(term for index, term in enumerate(terms) if not dead(index, term))
    for host in hosts:
        corrected = merge_spf(corrected, host)
    return corrected


def _includes_first(record: str, hosts: Sequence[str]) -> str:
    """The record with our includes moved to the front, reached before any lookup limit."""
    rest = [term for term in record.split()[1:] if not _includes_one_of(term, hosts)]
    return " ".join(["v=spf1", *(f"include:{host}" for host in hosts), *rest])


@dataclass(eq=False)
class _Stop(Exception):
    """SPF evaluation ends here: permerror (RFC 7208 §4.6.4, §5.2, §6) or a DNS failure."""

    code: str
    reason: str
    failure: Observation | None = None
    fix_hint: str = ""

    def fix_for(self, record: str, hosts: Sequence[str]) -> str:
        if self.code == "SPF_SYNTAX":
            # A syntax error anywhere fails every check (RFC 7208 §4.6): moving terms won't help.
            return self.fix_hint
        return (f"{self.fix_hint} Or put our include first, so it is reached before that: "
                f"{_includes_first(record, hosts)}")


@dataclass
class _SpfWalk:
    """Follows a record the way an SPF evaluator would for a sender it does not list.

    Such a sender matches no earlier mechanism, so every term before ours is evaluated in
    order, depth first through `include:` and `redirect=`, each DNS-querying term counting
    towards the limit of 10. A wanted host counts as reached when it is included with a passing
    qualifier along the whole path. Wanted hosts are not fetched: they are what we look for,
    and ours is published by us.
    """

    wanted: tuple[str, ...]
    lookup: SpfLookup
    lookups: int = 0
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    blocked: str = ""  # why a wanted host was named but cannot authorise
    stop: _Stop | None = None

    def run(self, record: str, domain: str) -> None:
        try:
            self._record(record, (_comparable(domain),), blocker=None)
        except _Stop as stop:
            self.stop = stop

    def reach_words(self) -> str:
        parts = []
        for host, route in self.routes.items():
            if len(route) == 1:
                parts.append(f"includes {host}")
            else:
                parts.append(f"reaches {host} through {' → '.join(route)}")
        return " and ".join(parts)

    def _record(self, record: str, path: tuple[str, ...], blocker: str | None) -> None:
        terms = record.split()[1:]
        _validate(terms, path[-1])
        redirect = None
        for index, term in enumerate(terms):
            if is_modifier(term):
                name, _, value = term.partition("=")
                redirect = value if name.lower() == "redirect" else redirect
                continue
            qualifier, name, argument = mechanism_parts(term)
            if name == "all":
                # Later mechanisms are never tested (RFC 7208 §5.1), redirect= is ignored (§6.1).
                self._note_after_all(terms[index + 1:], term, path)
                return
            if name in SPF_LOOKUP_MECHANISMS:
                self._count(term, path)
            if name == "include":
                # A -, ~ or ? include never authorises, nor does anything reached through it.
                passing = qualifier in PASS_QUALIFIERS
                self._include(argument, term, path, blocker or (None if passing else term))
        if redirect is not None:
            self._count(f"redirect={redirect}", path)
            # The redirect target's result is this record's result: nothing is added to block.
            self._follow(redirect, f"redirect={redirect}", path, blocker)

    def _include(self, argument: str, term: str, path: tuple[str, ...],
                 blocker: str | None) -> None:
        host = _comparable(argument)
        if host in self.wanted:
            if blocker is None:
                self.routes.setdefault(host, (*path[1:], host))
            elif not self.blocked:
                how = "with a qualifier" if blocker == term else f"inside `{blocker}`"
                self.blocked = (f"where `{term}` names {host} {how} that never lets mail pass "
                                "(RFC 7208 §4.6.2): only include: without -, ~ or ? does.")
            return
        if "%" in argument:
            return  # a macro depends on the sender (RFC 7208 §7); it cannot be followed here
        self._follow(argument, term, path, blocker)

    def _follow(self, target: str, term: str, path: tuple[str, ...],
                blocker: str | None) -> None:
        name = _comparable(target)
        if name in path:
            raise _Stop("SPF_INCLUDE_LOOP",
                        f"`{term}` loops back ({' → '.join((*path, name))}), so evaluation "
                        "runs past the 10-lookup limit and ends in permerror.",
                        fix_hint=f"Remove `{term}` from {path[-1]}.")
        published = self.lookup(name)
        if isinstance(published, Observation):
            if published.failed:
                raise _Stop(f"DNS_{published.status.upper()}",
                            f"looking up {name} (named in `{term}`), "
                            f"{_failure_words(published)}.", failure=published)
            published = []
        records = spf_records(published)
        if len(records) != 1:
            # RFC 7208 §5.2 / §6.1: a target without exactly one SPF record is a permerror.
            what = "no SPF record" if not records else f"{len(records)} SPF records"
            raise _Stop("SPF_INCLUDE_INVALID",
                        f"{name} (named in `{term}`) publishes {what}, which ends SPF "
                        "evaluation in permerror (RFC 7208 §5.2).",
                        fix_hint=f"Remove `{term}` or ask its owner to fix it.")
        self._record(records[0], (*path, name), blocker)

    def _count(self, term: str, path: tuple[str, ...]) -> None:
        self.lookups += 1
        if self.lookups > MAX_SPF_LOOKUPS:
            raise _Stop("SPF_TOO_MANY_LOOKUPS",
                        f"it needs more than {MAX_SPF_LOOKUPS} DNS lookups (the 11th is `{term}` "
                        f"in {path[-1]}), so SPF ends in permerror for senders listed after that "
                        "(RFC 7208 §4.6.4).",
                        fix_hint="Remove senders you no longer use, or list their ip4:/ip6: "
                                 "ranges instead of include:.")

    def _note_after_all(self, rest: list[str], all_term: str, path: tuple[str, ...]) -> None:
        if self.blocked:
            return
        for term in rest:
            if _includes_one_of(term, self.wanted):
                self.blocked = (f"where `{term}` comes after `{all_term}` in {path[-1]}; nothing "
                                "after all is ever evaluated (RFC 7208 §5.1).")
                return


def _validate(terms: list[str], domain: str) -> None:
    """Syntax errors anywhere end evaluation before it starts (RFC 7208 §4.6)."""
    redirects = 0
    for term in terms:
        if is_modifier(term):
            redirects += term.partition("=")[0].lower() == "redirect"
            continue
        _, name, argument = mechanism_parts(term)
        if name not in SPF_MECHANISMS or (name in ("include", "exists") and not argument):
            raise _Stop("SPF_SYNTAX", f"`{term}` in the record of {domain} is not a valid SPF "
                        "term, so every SPF check of it ends in permerror (RFC 7208 §4.6).",
                        fix_hint=f"Correct or remove `{term}`.")
    if redirects > 1:
        raise _Stop("SPF_SYNTAX", f"the record of {domain} has more than one redirect=, so "
                    "every SPF check of it ends in permerror (RFC 7208 §6).",
                    fix_hint="Keep a single redirect=.")


# --- agreement across nameservers ------------------------------------------------------------


def _agreement(judged: list[tuple[Observation, RecordCheck]]) -> RecordCheck:
    total = len(judged)
    agreeing = sum(1 for _, verdict in judged if verdict.status == FOUND)
    answered = [(obs, verdict) for obs, verdict in judged if verdict.status != ERROR]
    silent = [obs for obs, verdict in judged if verdict.status == ERROR]
    counts = {"agreeing": agreeing, "total": total}
    if not answered:
        first = judged[0][1]
        if total == 1:
            return replace(first, **counts)
        return replace(first, **counts, message=f"We could not check {first.host}: none of the "
                       f"{total} nameservers answered ({_server_failures(silent)}).")
    observed = list(dict.fromkeys(value for _, verdict in answered for value in verdict.observed))
    differing = [(obs, verdict) for obs, verdict in answered if verdict.status != FOUND]
    if not differing:
        base = answered[0][1]
        return replace(base, **counts, observed=observed,
                       message=f"{base.message} {_found_on(agreeing, total, silent)}".strip())
    worst = differing[0][1]
    message, fix = worst.message, worst.fix
    if agreeing:
        servers = ", ".join(o.server or "one nameserver" for o, _ in differing)
        message = (f"Only {agreeing} of {total} nameservers {_serve(agreeing)} the right record; "
                   f"{servers} {'does' if len(differing) == 1 else 'do'} not: {worst.message}")
        # The record value stays at the end of the fix, where it is copied from.
        fix = ("If you changed the record a short while ago, wait until every nameserver of "
               f"your DNS host serves it. Otherwise: {worst.fix}")
    if silent:
        message = f"{message} ({_server_failures(silent)})"
    return replace(worst, **counts, observed=observed, message=message, fix=fix)


def _serve(count: int) -> str:
    return "serves" if count == 1 else "serve"


def _found_on(agreeing: int, total: int, silent: list[Observation]) -> str:
    if total == 1:
        return ""
    if not silent:
        return f"All {total} nameservers serve it."
    return f"{agreeing} of {total} nameservers {_serve(agreeing)} it; {_server_failures(silent)}."


def _server_failures(failed: list[Observation]) -> str:
    return "; ".join(f"{obs.server or 'a nameserver'}: {_failure_words(obs)}" for obs in failed)
