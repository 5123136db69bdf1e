"""Opaque bearer secrets (API tokens, invitation links) and how they are stored.

They carry 256 bits of randomness, so a plain SHA-256 digest is a safe stored form:
there is nothing to brute-force, and lookups stay a single indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
