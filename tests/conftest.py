"""Shared fixtures: one migrated database per run, one rolled-back transaction per test.

The database is PostgreSQL by default (`TEST_DATABASE_URL`); set it to a `sqlite:///`
URL to run the suite on SQLite. Redis is `TEST_REDIS_URL` (db 15 by default), flushed
before each test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import MetaData, text

pytest_plugins = ["tests.dnsserver", "tests.onboarding"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL",
                                   "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def app(instance_dir):
    os.environ.update({
        "PENGUINMAILS_ENV": "test",
        "INSTANCE_PATH": str(instance_dir),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SMTP_URL": "",
    })
    from app import create_app
    from app.extensions import db

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False,
                      "OUTBOX_DIR": str(instance_dir / "outbox")})
    with app.app_context():
        _reset_schema(db)
        upgrade()
    return app


def _reset_schema(db) -> None:
    """Start the run from an empty database so the migrations build everything."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        existing = MetaData()
        existing.reflect(engine)
        existing.drop_all(engine)


@pytest.fixture(autouse=True)
def _transaction(request, app, monkeypatch):
    """Every test runs inside a transaction that is rolled back afterwards.

    Sessions join it with savepoints, so code under test may commit freely. Tests that
    need real commits (browser, migrations) are marked `no_transaction`.
    """
    if request.node.get_closest_marker("no_transaction"):
        yield
        return
    from app.extensions import db

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
        monkeypatch.setitem(db.engines, None, connection)
        if connection.dialect.name == "sqlite":
            # pysqlite sends no BEGIN for `connection.begin()`: the first SAVEPOINT would
            # start the transaction and its RELEASE (a commit under test) make rows
            # permanent. An explicit BEGIN nests every savepoint, as on PostgreSQL.
            connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def redis_client():
    client = Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield


class RequestPerAppContext(FlaskClient):
    """Each request in its own app context, as in production; the test client would
    otherwise reuse the test's context, carrying `g` and the DB session across requests."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app) -> FlaskClient:
    return RequestPerAppContext(app, app.response_class, use_cookies=True)
