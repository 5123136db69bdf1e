"""The live validation box: judge one pasted SPF, DKIM or DMARC record, with no DNS at all.

The checks are the ones the sweep runs on a fetched record (app.core.spf_findings,
dkim_findings, dmarc), so the box and the dashboard never disagree about the same text. What
needs DNS or our identities (SPF lookups and includes, our IPs passing, whether a DKIM key is
the one we sign with, DMARC report authorisation and alignment) waits for the next sweep;
`DEFERRED_CHECKS` says so in words the page shows.
"""

from __future__ import annotations

from app.core.dkim import DkimSyntaxError, txt_value
from app.core.dkim_findings import dkim_findings
from app.core.dmarc import dmarc_findings
from app.core.findings import Finding, finding
from app.core.names import DomainNameError, is_ldh_label, normalise_domain, organisational_domain
from app.core.spf_findings import spf_record_findings
from app.errors import ValidationFailed
from app.monitoring.validator import by_severity

RECORD_TYPES = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC"}
MAX_VALUE_BYTES = 4096  # far past any record DNS serves in one answer
DKIM_LABEL = "_domainkey"
DMARC_LABEL = "_dmarc"
HOST_EXAMPLES = {"spf": "example.com", "dkim": "pm1._domainkey.example.com",
                 "dmarc": "_dmarc.example.com"}
DEFERRED_CHECKS = {
    "spf": "DNS lookups (include:, a, mx, exists:, redirect=: the 10-lookup and void-lookup "
           "limits, loops, includes without a record) and whether our sending IPs pass are "
           "checked on the next sweep.",
    "dkim": "Whether this is the key we sign with is checked on the next sweep.",
    "dmarc": "Authorisation of external report addresses and alignment with our return path "
             "and DKIM domain are checked on the next sweep.",
}


def check_record(record_type: str, host: str, value: str) -> list[Finding]:
    """The findings for `value` published at `host`, worst first; [] when nothing is wrong.

    Raises ValidationFailed (422) with a message for the field at fault: an unknown type, an
    empty or overlong value, a host that is not a name the record can live at.
    """
    kind = parse_type(record_type)
    text = value.strip()
    if not text:
        raise ValidationFailed(f"Paste the {RECORD_TYPES[kind]} record's value to check it.",
                               code="empty_value", fields={"value": "Paste a record value."})
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise ValidationFailed(
            f"The value is {size:,} bytes; the box checks records of up to "
            f"{MAX_VALUE_BYTES:,} bytes, and no DNS answer carries a longer one.",
            code="value_too_long", fields={"value": f"At most {MAX_VALUE_BYTES:,} bytes."})
    if kind == "spf":
        return by_severity(_spf(_domain(host, kind), text))
    if kind == "dkim":
        return by_severity(dkim_findings([text], _dkim_host(host)))
    return by_severity(dmarc_findings([text], _dmarc_domain(host),
                                      org_domain=organisational_domain))


def parse_type(record_type: str) -> str:
    kind = (record_type or "").strip().lower()
    if kind not in RECORD_TYPES:
        message = (f"The box checks SPF, DKIM or DMARC records, not “{kind[:20]}”." if kind
                   else "Choose the type of record to check: SPF, DKIM or DMARC.")
        raise ValidationFailed(message, code="unknown_record_type",
                               fields={"type": "Choose SPF, DKIM or DMARC."})
    return kind


def _spf(domain: str, text: str) -> list[Finding]:
    if text.startswith('"'):  # pasted in zone-file form: "v=spf1 ..." "more ..."
        try:
            text = txt_value(text)
        except DkimSyntaxError as error:
            return [finding("SPF_SYNTAX", domain, "TXT", f"In `{text}`: {error.message}",
                            error.fix)]
    return spf_record_findings(domain, text)


def _domain(host: str, kind: str) -> str:
    if not (host or "").strip():
        raise ValidationFailed(
            f"Enter the host the record is published at, e.g. {HOST_EXAMPLES[kind]}.",
            code="empty_host", fields={"host": "Enter a host name."})
    try:
        return normalise_domain(host)
    except DomainNameError as error:
        raise ValidationFailed(f"The host is not a domain name we can check: {error.message}",
                               code="invalid_host", fields={"host": error.message}) from None


def _dkim_host(host: str) -> str:
    """`<selector>._domainkey.<domain>`, the only place a DKIM key record lives (RFC 6376
    §3.6.2.1)."""
    labels = (host or "").strip().removesuffix(".").split(".")
    lowered = [label.lower() for label in labels]
    if DKIM_LABEL not in lowered[1:-1]:
        message = ("A DKIM key record lives at <selector>._domainkey.<domain>, e.g. "
                   f"{HOST_EXAMPLES['dkim']}.")
        if not (host or "").strip():
            raise ValidationFailed(f"Enter the host. {message}", code="empty_host",
                                   fields={"host": message})
        raise ValidationFailed(message, code="invalid_host", fields={"host": message})
    at = lowered.index(DKIM_LABEL)
    selector = lowered[:at]
    if not all(is_ldh_label(label) for label in selector):
        message = (f"The selector “{'.'.join(labels[:at])[:63]}” is not valid: use letters, "
                   "digits and inner hyphens.")
        raise ValidationFailed(message, code="invalid_host", fields={"host": message})
    domain = _domain(".".join(labels[at + 1:]), "dkim")
    return f"{'.'.join(selector)}.{DKIM_LABEL}.{domain}"


def _dmarc_domain(host: str) -> str:
    """The domain a DMARC record is for: `_dmarc.example.com` or just `example.com`."""
    text = (host or "").strip()
    if text.lower().startswith(f"{DMARC_LABEL}."):
        text = text[len(DMARC_LABEL) + 1:]
    return _domain(text, "dmarc")
