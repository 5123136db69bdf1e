"""Login throttling: repeated failures lock an account (and a noisy IP) for a while.

Counters live in Redis with an expiry, so every web process sees the same numbers and
a lock lifts by itself.
"""

from __future__ import annotations

import math

from flask import current_app

from app.errors import TooManyAttempts
from app.extensions import redis_connection

# An IP may try several accounts (an office behind NAT), so it gets more room.
IP_FACTOR = 4


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    keys = [(f"pm:login-fail:email:{email.lower()}", limit)]
    if ip:
        keys.append((f"pm:login-fail:ip:{ip}", limit * IP_FACTOR))
    return keys


def check_allowed(email: str, ip: str | None) -> None:
    redis = redis_connection()
    for key, limit in _keys(email, ip):
        failures = int(redis.get(key) or 0)
        if failures >= limit:
            wait = max(redis.ttl(key), 1)
            minutes = math.ceil(wait / 60)
            raise TooManyAttempts(
                f"Too many failed sign-in attempts. Sign-in is locked for {minutes} more "
                f"minute{'s' if minutes != 1 else ''}; try again later or reset your password "
                "with a workspace owner.",
                code="login_locked",
            )


def record_failure(email: str, ip: str | None) -> int:
    """Count a failure; returns how many attempts are left before the lock."""
    redis = redis_connection()
    window = current_app.config["LOGIN_LOCKOUT_SECONDS"]
    remaining = []
    for key, limit in _keys(email, ip):
        pipe = redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window)
        count, _ = pipe.execute()
        remaining.append(limit - int(count))
    return max(0, min(remaining))


def record_success(email: str) -> None:
    redis_connection().delete(f"pm:login-fail:email:{email.lower()}")
