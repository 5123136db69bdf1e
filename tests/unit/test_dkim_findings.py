"""Findings for the DKIM key record at a selector (RFC 6376 §3.6, RFC 8301, RFC 8463)."""

from __future__ import annotations

import base64
import itertools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.dkim import generate_key
from app.core.dkim_findings import dkim_findings
from app.core.findings import FINDING_KINDS

HOST = "pm1._domainkey.example.com"




@pytest.fixture(scope="module")
def ed_key():
    return generate_key("ed25519")


def key_bytes(generated) -> bytes:
    return base64.b64decode(generated.public_key_b64)


def rsa_of_bits(bits: int) -> str:
    """p= for an RSA public key of any size; only the modulus length matters to the check."""
    public = rsa.RSAPublicNumbers(65537, 2 ** (bits - 1) + 1).public_key()
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def codes(records, expected=None) -> list[str]:
    return [found.code for found in dkim_findings(records, HOST, expected)]


def split(value: str, *cuts: int) -> list[bytes]:
    points = [0, *cuts, len(value)]
    return [value[a:b].encode() for a, b in itertools.pairwise(points)]


# --- a correct record, however it is written, has no findings ---------------------------------


def variants(p: str) -> list:
    return [
        f"v=DKIM1; k=rsa; p={p}",
        f"v=DKIM1;k=rsa;p={p};",
        f"k=rsa; p={p}",
        f"p={p}",
        f"v=DKIM1; p={p}; k=RSA; h=sha256; s=email; t=s",
        f"v=DKIM1 ; k = rsa ;\tp = {p[:100]} {p[100:]}",
        f'"v=DKIM1; k=rsa; " "p={p[:200]}" "{p[200:]}"',
        split(f"v=DKIM1; k=rsa; p={p}", 255),
        split(f"v=DKIM1; k=rsa; p={p}", 7, 20, 300),
        f"v=DKIM1; h=sha1:sha256; p={p}",
        f"v=DKIM1; n=notes here; p={p}",
    ]


def test_correct_record_variants_have_no_findings(key):
    for value in variants(key.public_key_b64):
        assert dkim_findings([value], HOST, key_bytes(key)) == [], value


def test_ed25519_record_has_no_findings(ed_key):
    assert codes([ed_key.record_value()], key_bytes(ed_key)) == []


def test_without_an_expected_key_a_good_record_has_no_findings(key):
    assert codes([key.record_value()]) == []


# --- one positive and one negative per code ----------------------------------------------------


def test_no_record_is_missing_with_the_record_to_publish(key):
    found = dkim_findings([], HOST, key_bytes(key))
    assert [(f.code, f.severity) for f in found] == [("DKIM_MISSING", "error")]
    assert key.public_key_b64 in found[0].fix
    assert (found[0].record_host, found[0].record_type) == (HOST, "TXT")


def test_one_record_is_neither_missing_nor_multiple(key):
    assert codes([key.record_value()]) == []


def test_two_records_are_multiple(key, other_key):
    assert codes([key.record_value(), other_key.record_value()]) == ["DKIM_MULTIPLE_RECORDS"]


@pytest.mark.parametrize("value", [
    "v=DKIM1; k=rsa",
    "v=DKIM2; p=AAAA",
    "k=rsa; v=DKIM1; p=AAAA",
    "v=DKIM1; p=abc$",
    "v=DKIM1; p=AAA",
    "v=DKIM1; P=AAAA",
    "v=DKIM1; k=rsa; k=rsa; p=AAAA",
    "",
])
def test_malformed_records_are_syntax_errors(value):
    assert codes([value]) == ["DKIM_SYNTAX"]


def test_key_that_is_not_a_key_is_invalid():
    found = dkim_findings(["v=DKIM1; k=rsa; p=AAAAAAAA"], HOST, None)
    assert [(f.code, f.severity) for f in found] == [("DKIM_KEY_INVALID", "error")]


def test_unknown_key_type_is_invalid(key):
    assert codes([f"v=DKIM1; k=dsa; p={key.public_key_b64}"]) == ["DKIM_KEY_INVALID"]


def test_ed25519_of_the_wrong_length_is_invalid(key):
    assert codes([f"v=DKIM1; k=ed25519; p={key.public_key_b64}"]) == ["DKIM_KEY_INVALID"]


def test_empty_p_is_revoked_not_invalid():
    found = dkim_findings(["v=DKIM1; k=rsa; p="], HOST, None)
    assert [(f.code, f.severity) for f in found] == [("DKIM_REVOKED", "error")]


@pytest.mark.parametrize("bits, severity", [(1024, "warning"), (1536, "warning"),
                                            (768, "error"), (512, "error")])
def test_short_rsa_keys_are_weak(bits, severity):
    found = dkim_findings([f"v=DKIM1; k=rsa; p={rsa_of_bits(bits)}"], HOST, None)
    assert [(f.code, f.severity) for f in found] == [("DKIM_KEY_WEAK", severity)]
    assert str(bits) in found[0].message


def test_2048_bit_and_ed25519_keys_are_not_weak(key, ed_key):
    assert codes([f"p={rsa_of_bits(2048)}"]) == []
    assert codes([ed_key.record_value()]) == []


def test_testing_flag_is_reported(key):
    found = dkim_findings([f"v=DKIM1; t=y; p={key.public_key_b64}"], HOST, key_bytes(key))
    assert [(f.code, f.severity) for f in found] == [("DKIM_TESTING", "warning")]
    assert key.record_value() in found[0].fix


def test_other_flags_are_not_testing(key):
    assert codes([f"v=DKIM1; t=s; p={key.public_key_b64}"]) == []
    assert codes([f"v=DKIM1; t=Y:s; p={key.public_key_b64}"]) == ["DKIM_TESTING"]


def test_key_we_do_not_hold_is_a_mismatch(key, other_key):
    found = dkim_findings([other_key.record_value()], HOST, key_bytes(key))
    assert [(f.code, f.severity) for f in found] == [("DKIM_KEY_MISMATCH", "error")]
    assert key.public_key_b64 in found[0].fix


def test_key_type_mismatch_is_a_mismatch(key, ed_key):
    assert codes([key.record_value()], key_bytes(ed_key)) == ["DKIM_KEY_MISMATCH"]


def test_same_key_is_not_a_mismatch(key):
    assert codes([f"p={key.public_key_b64}"], key_bytes(key)) == []


def test_sha1_only_key_is_an_error(key):
    found = dkim_findings([f"v=DKIM1; h=sha1; p={key.public_key_b64}"], HOST, None)
    assert [(f.code, f.severity) for f in found] == [("DKIM_SHA1_ONLY", "error")]


def test_h_with_sha256_is_not_sha1_only(key):
    assert codes([f"v=DKIM1; h=SHA256; p={key.public_key_b64}"]) == []
    assert codes([f"v=DKIM1; h=sha1 : sha256; p={key.public_key_b64}"]) == []


def test_findings_add_up_on_one_record():
    value = f"v=DKIM1; t=y; h=sha1; p={rsa_of_bits(1024)}"
    assert sorted(codes([value])) == ["DKIM_KEY_WEAK", "DKIM_SHA1_ONLY", "DKIM_TESTING"]


def test_every_dkim_code_is_registered():
    assert {code for code in FINDING_KINDS if code.startswith("DKIM_")} == {
        "DKIM_MISSING", "DKIM_MULTIPLE_RECORDS", "DKIM_SYNTAX", "DKIM_KEY_INVALID",
        "DKIM_KEY_WEAK", "DKIM_REVOKED", "DKIM_TESTING", "DKIM_KEY_MISMATCH", "DKIM_SHA1_ONLY"}
