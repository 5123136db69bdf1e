"""Unit tests are pure: no database transaction, no Redis flush."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _transaction():
    yield


@pytest.fixture(autouse=True)
def redis_client():
    yield None
