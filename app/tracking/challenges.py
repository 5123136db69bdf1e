"""HTTP-01 answers while a CA checks a tracking host, kept in Redis, not the database.

The answer must be readable by whichever web process the CA reaches, for the few seconds an
order takes; the token is bound to its host, so another host never serves it.
"""

from __future__ import annotations

import json

from app.extensions import redis_connection

KEY = "pm:tracking:acme-challenge:{token}"
TTL_SECONDS = 3600  # an order that never finishes leaves nothing behind for long


class HostChallengeAnswers:
    """`ChallengeAnswers` for one host's order (see app.adapters.acme)."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    def publish(self, token: str, key_authorization: str) -> None:
        redis_connection().set(KEY.format(token=token), json.dumps(
            {"host": self.hostname, "answer": key_authorization}), ex=TTL_SECONDS)

    def withdraw(self, token: str) -> None:
        redis_connection().delete(KEY.format(token=token))


def answer_for(token: str, hostname: str) -> str | None:
    """The key authorization to serve for `token` on `hostname`, if an order is waiting."""
    stored = redis_connection().get(KEY.format(token=token))
    if stored is None:
        return None
    entry = json.loads(stored)
    return entry["answer"] if entry["host"] == hostname else None
