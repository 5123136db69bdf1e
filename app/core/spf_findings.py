"""What one SPF record says about itself, with no DNS: syntax and structure findings.

Pure. The validator runs this on the record it fetched before evaluating it with check_host;
the live validation box runs it on a pasted record as the user types, so both say the same
thing about the same text.
"""

from __future__ import annotations

from app.core import spf
from app.core.findings import Finding, finding
from app.core.spf_merge import is_modifier

MAX_SPF_BYTES = 512  # RFC 7208 §3.4: keep the answer within a 512-byte UDP reply


def spf_record_findings(domain: str, record: str) -> list[Finding]:
    """SPF_SYNTAX for a record receivers would reject, else the structure findings
    (PLUS_ALL, NEUTRAL_ALL, NO_ALL, REDIRECT_IGNORED, PTR, TOO_LONG) of `record` at `domain`."""
    try:
        parsed = spf.parse_record(record)
    except spf.SpfSyntaxError as error:
        return [finding("SPF_SYNTAX", domain, "TXT", f"In `{record}`: {error}",
                        "Correct the term named above; receivers treat the whole record as "
                        "an error (permerror).")]
    return _structure_findings(domain, record, parsed)


def declares_no_mail(record: str) -> bool:
    """Whether the record is `v=spf1 -all` in effect: the domain says it sends no mail at all,
    as parked domains do (M3AAWG parked-domain practice, with a null MX per RFC 7505)."""
    try:
        parsed = spf.parse_record(record)
    except spf.SpfSyntaxError:
        return False
    return (parsed.redirect is None and len(parsed.mechanisms) == 1
            and parsed.mechanisms[0].name == "all" and parsed.mechanisms[0].result == spf.FAIL)


def _structure_findings(domain: str, record: str, parsed: spf.SpfRecord) -> list[Finding]:
    """The findings about a well-formed record's shape (RFC 7208 §5, §6, §3.4)."""
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


def _with_term(record: str, old: str, new: str | None) -> str:
    """The record with one term replaced (or dropped, for None); terms are split on SP (§4.6.1)."""
    terms = [term for term in record.split(" ") if term]
    return " ".join(new if term == old else term
                    for term in terms if term != old or new is not None)


def _redirect_term(record: str) -> str:
    return next(term for term in record.split(" ")
                if is_modifier(term) and term.partition("=")[0].lower() == "redirect")
