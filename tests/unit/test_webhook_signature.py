"""Webhook signatures: HMAC-SHA256 of the exact body bytes, as receivers recompute it."""

from __future__ import annotations

import hashlib
import hmac

from app.adapters.webhooks import sign, signature_matches

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt","type":"test"}'


def test_the_signature_is_the_hex_hmac_sha256_of_the_body_keyed_with_the_secret_text():
    expected = hmac.new(SECRET.encode("utf-8"), BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == f"sha256={expected}"


def test_a_known_vector_keeps_the_scheme_stable():
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert sign("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_a_receiver_accepts_the_body_it_was_sent_and_nothing_else():
    header = sign(SECRET, BODY)
    assert signature_matches(SECRET, BODY, header)
    assert not signature_matches(SECRET, BODY + b" ", header)  # one byte more
    assert not signature_matches(SECRET, b'{"type":"test","id":"evt"}', header)  # same JSON
    assert not signature_matches("whsec_other", BODY, header)
    assert not signature_matches(SECRET, BODY, header.upper())
    assert not signature_matches(SECRET, BODY, "")
