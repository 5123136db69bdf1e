"""Unit tests are pure: no database transaction, no Redis flush."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _transaction():
    yield


@pytest.fixture(autouse=True)
def redis_client():
    yield None


@pytest.fixture(scope="session")
def key():
    """An RSA-2048 DKIM key; generating one costs tens of milliseconds, so share it."""
    from app.core.dkim import generate_key

    return generate_key()


@pytest.fixture(scope="session")
def other_key():
    from app.core.dkim import generate_key

    return generate_key()
