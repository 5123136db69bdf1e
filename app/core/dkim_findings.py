"""Findings for the DKIM key record at one selector, judged by its parsed tags and key bytes.

Pure: no Flask, database or network. Parsing is app.core.dkim's (RFC 6376 §3.6.1), so string
splitting, quoting, whitespace and tag order never produce a finding on a correct record.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from app.core.dkim import (
    ALGORITHMS,
    DkimError,
    DkimRecord,
    dkim_record_value,
    parse_dkim_record,
    same_public_key,
)
from app.core.findings import ERROR, WARNING, Finding, finding

MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept shorter keys
RECOMMENDED_RSA_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048 bits
ED25519_KEY_BYTES = 32  # RFC 8463 §4.2


def dkim_findings(txt_records_at_selector: Sequence[Sequence[bytes] | str | bytes], host: str,
                  expected_public_key: bytes | None = None) -> list[Finding]:
    """What is wrong with the key record at `host` (`<selector>._domainkey.<domain>`).

    Each item is one TXT record: its character-strings as served, or one joined value.
    `expected_public_key` is the key we sign with, as p= holds it decoded (SubjectPublicKeyInfo
    DER for RSA, the raw 32 bytes for Ed25519); None for a domain whose key we do not hold.
    """
    publish = _publish_fix(expected_public_key)
    if not txt_records_at_selector:
        return [finding("DKIM_MISSING", host, "TXT", f"There is no DKIM key record at {host}.",
                        publish or "Publish the DKIM record from the DNS instructions.")]
    if len(txt_records_at_selector) > 1:
        # RFC 6376 §3.6.2.2: several TXT records at one selector give undefined results.
        return [finding("DKIM_MULTIPLE_RECORDS", host, "TXT",
                        f"There are {len(txt_records_at_selector)} TXT records at {host}; "
                        "verifiers may pick any of them, so signatures fail at random.",
                        "Delete all but one record. " + publish)]
    try:
        record = parse_dkim_record(txt_records_at_selector[0])
    except DkimError as error:
        return [finding("DKIM_SYNTAX", host, "TXT",
                        f"The DKIM key record at {host} is not valid: {error.message}",
                        " ".join(part for part in (error.fix, publish) if part))]
    if record.revoked:
        return [finding("DKIM_REVOKED", host, "TXT",
                        f"The key at {host} is revoked (p= is empty): signatures with this "
                        "selector fail.", publish or "Publish the current public key in p=.")]
    try:
        record.public_key()  # key_bits() alone does not load an Ed25519 key
        bits = record.key_bits()
    except DkimError as error:
        return [finding("DKIM_KEY_INVALID", host, "TXT",
                        f"The key at {host} cannot be used: {error.message}",
                        " ".join(part for part in (error.fix, publish) if part))]
    findings = _key_size(bits, host, publish)
    if record.sha1_only:
        allowed = ":".join(record.hash_algorithms or ())
        findings.append(finding(
            "DKIM_SHA1_ONLY", host, "TXT",
            f"h={allowed} allows only SHA-1, which receivers no longer accept (RFC 8301); "
            "our rsa-sha256 signatures would fail against this key.",
            "Remove h= (any hash is then allowed) or write h=sha256."))
    if record.testing:
        findings.append(finding(
            "DKIM_TESTING", host, "TXT",
            f"The key at {host} is in testing mode (t=y): receivers may treat failed and "
            "passing signatures alike.",
            "Remove y from t= once signing works." + _suggest(record, expected_public_key)))
    if expected_public_key is not None and not same_public_key(record, expected_public_key):
        findings.append(finding(
            "DKIM_KEY_MISMATCH", host, "TXT",
            f"The key at {host} is not the key we sign with, so our signatures fail.",
            publish))
    return findings


def _key_size(bits: int | None, host: str, publish: str) -> list[Finding]:
    if bits is None or bits >= RECOMMENDED_RSA_BITS:  # None: Ed25519, fixed strength
        return []
    if bits < MIN_RSA_BITS:
        message = (f"The RSA key at {host} has {bits} bits; receivers refuse keys under "
                   f"{MIN_RSA_BITS} bits (RFC 8301), so signatures count as failed.")
        severity = ERROR
    else:
        message = (f"The RSA key at {host} has {bits} bits; {RECOMMENDED_RSA_BITS} is the "
                   "minimum recommended (RFC 8301) and some receivers distrust shorter keys.")
        severity = WARNING
    return [finding("DKIM_KEY_WEAK", host, "TXT", message,
                    publish or f"Rotate to a {RECOMMENDED_RSA_BITS}-bit RSA key.",
                    severity=severity)]


def _algorithm(key_bytes: bytes) -> str:
    return "ed25519" if len(key_bytes) == ED25519_KEY_BYTES else "rsa"


def _publish_fix(expected_public_key: bytes | None) -> str:
    if not expected_public_key:
        return ""
    value = dkim_record_value(base64.b64encode(expected_public_key).decode("ascii"),
                              _algorithm(expected_public_key))
    return f"Publish exactly one TXT record with the value: {value}"


def _suggest(record: DkimRecord, expected_public_key: bytes | None) -> str:
    """The record to publish without t=y, when it holds our key (a form we can compute)."""
    if expected_public_key is None or record.key_type not in ALGORITHMS:
        return ""
    if not same_public_key(record, expected_public_key):
        return ""
    return " " + _publish_fix(expected_public_key)
