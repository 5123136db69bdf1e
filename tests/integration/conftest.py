"""Fixtures for integration tests that talk to real local servers (SMTP) or databases."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from tests.conftest import TEST_DATABASE_URL

# Where scratch PostgreSQL databases are created when the suite itself runs on SQLite.
SCRATCH_POSTGRES_URL = os.environ.get("SCRATCH_POSTGRES_URL",
                                      "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_message(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


class Outbox:
    """The folder mail lands in when no SMTP relay is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[EmailMessage]:
        if not self.folder.exists():
            return []
        return [parse_message(path.read_bytes()) for path in sorted(self.folder.glob("*.eml"))]


@pytest.fixture
def outbox(app, monkeypatch, tmp_path) -> Outbox:
    """Mail goes to a fresh outbox folder (the default when SMTP_URL is empty)."""
    folder = tmp_path / "outbox"
    monkeypatch.setitem(app.config, "SMTP_URL", "")
    monkeypatch.setitem(app.config, "OUTBOX_DIR", str(folder))
    return Outbox(folder)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), parse_message(envelope.content)))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, controller: Controller, collector: _Collector) -> None:
        self.port = controller.port
        self.url = f"smtp://127.0.0.1:{controller.port}"
        self._collector = collector

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return self._collector.messages


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives.

    The server stores a message before answering DATA, so it is there as soon as the
    client's send returns: no polling needed.
    """
    collector = _Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(controller, collector)
    finally:
        controller.stop()


class ScratchDatabases:
    """Creates empty databases for tests that need their own, and drops them afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._created: list[str] = []
        self._server_url = (make_url(TEST_DATABASE_URL) if TEST_DATABASE_URL.startswith("postgres")
                            else make_url(SCRATCH_POSTGRES_URL))
        self._server_url = self._server_url.set(drivername="postgresql+psycopg")

    def create(self, dialect: str, prefix: str = "pm_scratch") -> str:
        """A URL (as `DATABASE_URL` would hold it) of a new, empty database."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        if dialect == "sqlite":
            return f"sqlite:///{self._tmp_path / f'{name}.sqlite3'}"
        self._admin(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self._server_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self._created:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        engine = create_engine(self._server_url.set(database="postgres"),
                               isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()


@pytest.fixture
def scratch_databases(tmp_path) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path)
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture
def suite_dialect() -> str:
    """The dialect the suite runs on, so process-level tests follow `TEST_DATABASE_URL`."""
    return "sqlite" if TEST_DATABASE_URL.startswith("sqlite") else "postgresql"

