"""Bearer secrets: prefixed, unguessable, and stored only as a fixed-size digest."""

from __future__ import annotations

import hashlib
import re

from app.core.tokens import digest, new_secret


def test_a_secret_carries_its_prefix_and_256_bits_of_url_safe_randomness():
    secret = new_secret("pmd")
    prefix, _, body = secret.partition("_")
    assert prefix == "pmd"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)  # 32 bytes in unpadded base64url


def test_secrets_never_repeat():
    assert len({new_secret("pmd") for _ in range(1000)}) == 1000


def test_digest_is_the_sha256_hex_of_the_secret():
    assert digest("pmd_abc") == hashlib.sha256(b"pmd_abc").hexdigest()


def test_digest_is_stable_and_fits_the_token_hash_column():
    secret = new_secret("pmd")
    assert digest(secret) == digest(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", digest(secret))


def test_different_secrets_have_different_digests_that_do_not_contain_them():
    first, second = new_secret("pmd"), new_secret("pmd")
    assert digest(first) != digest(second)
    assert first not in digest(first)
