"""Browser fixtures: a real portal (gunicorn on a scratch database) and Debian's chromium.

The server is a separate process, so the root conftest's rolled-back transaction cannot
reach it: the browser tests get their own database (`pm_e2e_<random>` next to
`TEST_DATABASE_URL`, or a temporary SQLite file), migrated and seeded through the same
`flask` commands an operator uses. Server, browser and database live as long as this
package's tests run, and are gone before the rest of the suite goes on. Tests of background
work add an RQ worker process (`python worker.py`, as deployed) on the same database, Redis,
instance folder and secret key, asking only the test's DNS server.

Chromium is Debian's `/usr/bin/chromium`; no browser is ever downloaded. Without it the
tests skip on a developer machine and fail in CI (`CI=true`), where `.ci/run` installs it.
Nothing leaves the machine: background networking is off, every host name but the
loopback address fails to resolve, and each page aborts (and reports) any request that
is not for the portal.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gunicorn.config import KNOWN_SETTINGS
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from redis import Redis
from rq import Worker
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces for "nothing reaches the internet": any other host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SERVER_START_SECONDS = 30
WORKER_START_SECONDS = 30
STOP_SECONDS = 10
PASSWORD = "e2e-password-0123456789"


@dataclass(frozen=True)
class Portal:
    """The running server and the people seeded into it."""

    base_url: str
    log_path: Path
    # Owner of workspace "alpha", admin of workspace "beta".
    email: str = "alice@example.com"
    password: str = PASSWORD
    beta_owner_email: str = "bob@example.com"


@dataclass(frozen=True)
class WorkerProcess:
    """A running `python worker.py` on every queue; its DNS is the test's DNS server only."""

    pid: int
    log_path: Path


@dataclass
class PageWatch:
    """What a page did that a test did not ask for: requests off the portal, JS errors."""

    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="package")
def chromium_executable() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = (f"{CHROMIUM} is missing: the browser tests use Debian's chromium "
               "(apt-get install chromium fonts-liberation; `.ci/run` installs them)")
    if _in_ci():
        pytest.fail(message + " and CI=true, so they must run.", pytrace=False)
    pytest.skip(message + ".")


@pytest.fixture(scope="package")
def e2e_database_url(tmp_path_factory) -> Iterator[str]:
    """A database of its own for the server process, removed afterwards."""
    url = make_url(TEST_DATABASE_URL)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'portal.sqlite3'}"
        return
    if url.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"TEST_DATABASE_URL must be PostgreSQL or SQLite, got {url!r}")
    url = url.set(drivername="postgresql+psycopg")
    name = f"pm_e2e_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="package")
def portal_env(e2e_database_url, tmp_path_factory) -> dict[str, str]:
    instance = tmp_path_factory.mktemp("e2e-instance")
    return {
        **os.environ,
        "FLASK_APP": "app",
        "PENGUINMAILS_ENV": "test",
        "DATABASE_URL": e2e_database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "INSTANCE_PATH": str(instance),
        "OUTBOX_DIR": str(instance / "outbox"),
        "SECRET_KEY": secrets.token_hex(32),
        "SMTP_URL": "",
        "PYTHONUNBUFFERED": "1",
    }


def _flask(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"`flask {' '.join(args[:2])}` failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}", pytrace=False)


def _gunicorn_command(port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
               "--access-logfile", "-"]
    # Newer gunicorn opens a control socket at one fixed path under ~/.gunicorn; the test
    # server must not take it over from a portal the developer is running.
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        command.append("--no-control-socket")
    return [*command, "wsgi:app"]


def _wait_until_healthy(base_url: str, server: subprocess.Popen, log_path: Path) -> None:
    # No proxies: the server is on loopback whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVER_START_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with code {server.returncode}:\n{_tail(log_path)}",
                        pytrace=False)
        try:
            with opener.open(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    pytest.fail(f"{base_url}/healthz did not answer 200 within {SERVER_START_SECONDS}s "
                f"({last}):\n{_tail(log_path)}", pytrace=False)


@pytest.fixture(scope="package")
def portal(portal_env, tmp_path_factory) -> Iterator[Portal]:
    """Migrated, seeded and serving on a free loopback port while the browser tests run."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("e2e-server") / "gunicorn.log"
    seeded = Portal(base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    env = {**portal_env, "PUBLIC_URL": seeded.base_url}
    _flask(env, "db", "upgrade")
    with log_path.open("w") as log:
        server = subprocess.Popen(_gunicorn_command(port), cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        # Seeding while gunicorn boots: each `flask` command starts a whole app.
        _flask(env, "users", "create", "--email", seeded.email, "--password", PASSWORD,
               "--workspace", "alpha", "--name", "Alice")
        _flask(env, "users", "create", "--email", seeded.beta_owner_email, "--password",
               PASSWORD, "--workspace", "beta")
        _flask(env, "users", "create", "--email", seeded.email, "--password", PASSWORD,
               "--workspace", "beta", "--role", "admin")
        _wait_until_healthy(seeded.base_url, server, log_path)
        yield seeded
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="package")
def browser(chromium_executable) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_executable),
                                             headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def page(request, browser, portal, tmp_path) -> Iterator[Page]:
    """A fresh, signed-out browser context that may only talk to the portal."""
    page_watch = PageWatch()
    expect.set_options(timeout=10_000)
    context = browser.new_context(base_url=portal.base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    allowed = urlsplit(portal.base_url).netloc

    def only_the_portal(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob"} or parts.netloc == allowed:
            route.continue_()
        else:
            page_watch.blocked_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", only_the_portal)
    page = context.new_page()
    errors = page_watch.console_errors
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    try:
        yield page
        if request.node.stash.get(_CALL_FAILED, False):
            shot = tmp_path / "failure.png"
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot of the failure: {shot}\nserver log:\n{_tail(portal.log_path)}")
    finally:
        context.close()
    assert page_watch.blocked_requests == [], "the page tried to leave the portal"
    assert page_watch.console_errors == [], "the page logged errors"


def _wait_until_registered(worker: subprocess.Popen, log_path: Path) -> None:
    """Until RQ lists the worker: then it listens on its queues, with the scheduler on."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    with Redis.from_url(TEST_REDIS_URL) as connection:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"worker.py exited with code {worker.returncode}:\n{_tail(log_path)}",
                            pytrace=False)
            if any(registered.pid == worker.pid for registered in Worker.all(connection)):
                return
            time.sleep(0.2)
    pytest.fail(f"worker.py did not register with RQ within {WORKER_START_SECONDS}s:\n"
                f"{_tail(log_path)}", pytrace=False)


def _stop_worker(worker: subprocess.Popen) -> None:
    # SIGTERM is RQ's warm shutdown: the job in hand finishes, the scheduler process stops.
    # Whatever outlives it (a stuck work-horse) goes with the process group it was started in.
    worker.terminate()
    try:
        worker.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def worker_process(request, portal, portal_env, dns_server, redis_client,
                   tmp_path) -> Iterator[WorkerProcess]:
    """An RQ worker process for one test, started after the test's Redis flush.

    It shares the portal's database, Redis, instance folder (the key store's master key lives
    there) and secret key, and resolves every name through `dns_server`.
    """
    log_path = tmp_path / "worker.log"
    env = {**portal_env, "PUBLIC_URL": portal.base_url,
           "DNS_NAMESERVERS": dns_server.nameserver, "DNS_TIMEOUT": "0.5", "DNS_LIFETIME": "2"}
    with log_path.open("w") as log:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_registered(worker, log_path)
        yield WorkerProcess(pid=worker.pid, log_path=log_path)
        if request.node.stash.get(_CALL_FAILED, False):
            print(f"worker log:\n{_tail(log_path)}")
    finally:
        _stop_worker(worker)
