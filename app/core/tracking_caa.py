"""CAA (RFC 8659): may our certificate authority issue for a name?

Pure: the tracking job looks the records up (`relevant_names()` in order, the first non-empty
CAA RRset wins) and this module judges them, so a CAA record that forbids our CA becomes a
finding with the record to add, before the CA refuses the order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.findings import ERROR, Finding

ISSUER_CRITICAL = 128  # RFC 8659 §4.1: flag bit 0 (the high bit)
KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone"})
CAA_FORBIDS = "TRACKING_CAA_FORBIDS"
_PRESENTATION = re.compile(r"^\s*(\d+)\s+([A-Za-z0-9]+)\s+(.*?)\s*$", re.DOTALL)
_ESCAPE = re.compile(r"\\(\d{3}|.)", re.DOTALL)


class CaaSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str  # lower-case: tags match case-insensitively (RFC 8659 §4.1)
    value: str


@dataclass(frozen=True)
class CaaVerdict:
    permitted: bool
    reason: str  # in plain words, naming what allows or forbids us


def relevant_names(hostname: str) -> list[str]:
    """The names whose CAA RRsets are asked, nearest first, up to (not including) the root
    (RFC 8659 §3). A lookup at an alias follows the CNAME, as any DNS query does."""
    labels = hostname.strip().lower().removesuffix(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def parse_caa(presentation: str) -> CaaRecord:
    """One record in presentation form, as DNS libraries print it: `0 issue "ca.example"`."""
    match = _PRESENTATION.match(presentation)
    if match is None:
        raise CaaSyntaxError(f"not a CAA record: {presentation!r}")
    flags, tag, value = int(match[1]), match[2].lower(), match[3]
    if flags > 255:
        raise CaaSyntaxError(f"CAA flags must fit in one octet, got {flags}")
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = _ESCAPE.sub(_unescape, value[1:-1])
    return CaaRecord(flags, tag, value)


def evaluate(records: Sequence[str], identities: Sequence[str], *,
             account_uri: str | None = None, method: str = "http-01") -> CaaVerdict:
    """Whether the relevant RRset `records` lets a CA named by `identities` issue a
    non-wildcard certificate validated by `method` for `account_uri`.

    `issuewild` only governs wildcard names, which we never request (RFC 8659 §4.3). An
    unknown tag marked critical forbids every CA (§4.1); an `issue` value that cannot be
    parsed authorises no CA (§4.2).
    """
    ours = {identity.strip().lower() for identity in identities}
    parsed = []
    for text in records:
        try:
            parsed.append(parse_caa(text))
        except CaaSyntaxError:
            continue  # not a property we can read: it neither allows nor forbids
    for record in parsed:
        if record.flags & ISSUER_CRITICAL and record.tag not in KNOWN_TAGS:
            return CaaVerdict(False, f'The CAA record "{record.flags} {record.tag} …" is marked '
                                     "critical with a property no CA understands, so no CA may "
                                     "issue certificates for this name.")
    issue = [record for record in parsed if record.tag == "issue"]
    if not issue:
        return CaaVerdict(True, "No CAA issue record restricts which CA may issue.")
    named, limited = [], []
    for record in issue:
        issuer, parameters = _issue_value(record.value)
        if issuer:
            named.append(issuer)
        if issuer in ours:
            if _parameters_allow(parameters, account_uri, method):
                return CaaVerdict(True, f"CAA allows {issuer} to issue.")
            limited.append(record.value)
    if limited:
        return CaaVerdict(False, f'The CAA record "issue {limited[0]}" names our certificate '
                                 "authority but limits it to another ACME account or to "
                                 f"validation methods other than {method}.")
    allowed = ", ".join(sorted(set(named))) or "no CA at all"
    return CaaVerdict(False, f"The CAA records allow only {allowed} to issue certificates, not "
                             f"our certificate authority ({', '.join(sorted(ours))}).")


def forbidding_finding(hostname: str, caa_name: str, verdict: CaaVerdict,
                       identity: str) -> Finding:
    """The finding for a CAA RRset at `caa_name` that forbids our CA, with the record to add."""
    return Finding(code=CAA_FORBIDS, severity=ERROR, record_host=caa_name, record_type="CAA",
                   message=f"No certificate can be issued for {hostname}: {verdict.reason}",
                   fix=f'Add a CAA record at {caa_name}: 0 issue "{identity}" (keep your other '
                       "CAA records: each one adds a CA that may issue).")


def _issue_value(value: str) -> tuple[str | None, dict[str, str] | None]:
    """(issuer domain or None for ";", parameters); parameters None when malformed."""
    issuer, _, rest = value.partition(";")
    issuer = issuer.strip().lower().removesuffix(".")
    if issuer and not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", issuer):
        return None, None
    parameters: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in rest.split(";"))):
        key, equals, item = part.partition("=")
        if not equals or not key.strip():
            return issuer, None
        parameters[key.strip().lower()] = item.strip()
    return issuer or None, parameters


def _parameters_allow(parameters: dict[str, str] | None, account_uri: str | None,
                      method: str) -> bool:
    """RFC 8657: `accounturi` pins the account, `validationmethods` the challenge types."""
    if parameters is None:
        return False
    if "accounturi" in parameters and parameters["accounturi"] != account_uri:
        return False
    methods = parameters.get("validationmethods")
    return methods is None or method in {m.strip() for m in methods.split(",")}


def _unescape(match: re.Match) -> str:
    text = match[1]
    return chr(int(text)) if text.isdigit() else text
