"""Click and open tokens: a row id signed with HMAC-SHA256 under a key derived from the
app's secret, so a token names exactly one tracked link (or message) and cannot be altered.

The token carries no URL: the redirect target is read from the link row, so a forged or
edited token can never send a reader anywhere the message did not link to.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, Signer


class TrackingTokens:
    def __init__(self, secret_key: str) -> None:
        # One derived key per purpose: a click token is never a valid open token.
        self._click = _signer(secret_key, "penguinmails.tracking.click")
        self._open = _signer(secret_key, "penguinmails.tracking.open")

    def click_token(self, link_id: int) -> str:
        return self._click.sign(str(link_id)).decode("ascii")

    def open_token(self, message_id: int) -> str:
        return self._open.sign(str(message_id)).decode("ascii")

    def link_id(self, token: str) -> int | None:
        """The link a click token names; None for anything forged, edited or malformed."""
        return _unsign(self._click, token)

    def message_id(self, token: str) -> int | None:
        return _unsign(self._open, token)


def _signer(secret_key: str, salt: str) -> Signer:
    return Signer(secret_key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)


def _unsign(signer: Signer, token: str) -> int | None:
    try:
        value = signer.unsign(token.encode("utf-8", "replace")).decode("ascii")
    except (BadSignature, UnicodeError):
        return None
    # Row ids are positive 31-bit integers (the database's INTEGER); anything else names nothing.
    return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None
