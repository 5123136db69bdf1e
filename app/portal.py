"""`flask portal up`: the whole portal on one machine (web, worker, cron scheduler).

Embedded defaults: SQLite under instance/, the local key store, and Redis at REDIS_URL,
or a private redis-server on a Unix socket under instance/ when none answers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app.extensions import db

portal_cli = AppGroup("portal", help="Run the whole portal on this machine.")


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except (RedisError, OSError, ValueError):
        return False


def _private_redis(instance: Path) -> tuple[str, subprocess.Popen]:
    socket_path = instance / "redis.sock"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(instance)],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket_path}"
    for _ in range(50):
        if _redis_answers(url):
            return url, process
        time.sleep(0.1)
    process.terminate()
    raise click.ClickException("Started redis-server but it did not answer on " + str(socket_path))


def _ensure_redis(instance: Path) -> tuple[str, subprocess.Popen | None]:
    url = current_app.config["REDIS_URL"]
    if _redis_answers(url):
        return url, None
    if shutil.which("redis-server"):
        click.echo(f"No Redis answers at {url}; starting a private one under {instance}.")
        return _private_redis(instance)
    raise click.ClickException(
        f"No Redis answers at {url} and redis-server is not installed.\n"
        "Fix: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install "
        "redis) or point REDIS_URL at a running Redis, then run this again.")


def _first_admin() -> tuple[str, str] | None:
    from app.auth import service as auth
    from app.auth.models import User
    from app.uow import commit
    from app.workspaces import service as workspaces

    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    email = "admin@penguinmails.example"
    password = secrets.token_urlsafe(12)
    user = auth.create_user(email, password, name="Administrator", platform_admin=True)
    workspaces.create_workspace(user, "Default workspace", "default", via="cli")
    commit()
    return email, password


@portal_cli.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
def up(host: str, port: int, web_workers: int) -> None:
    """Apply migrations, then run web server, RQ worker and cron scheduler until Ctrl-C."""
    instance = Path(current_app.instance_path)
    redis_url, private_redis = _ensure_redis(instance)
    click.echo("Applying database migrations…")
    upgrade()
    admin = _first_admin()
    env = {**os.environ, "REDIS_URL": redis_url, "INSTANCE_PATH": str(instance)}
    python = sys.executable
    children = {
        "web": subprocess.Popen([python, "-m", "gunicorn", "--bind", f"{host}:{port}",
                                 "--workers", str(web_workers), "--access-logfile", "-",
                                 # gunicorn's control socket lives in ~/.gunicorn by default;
                                 # keep it with this instance so two portals never share it.
                                 "--control-socket", str(instance / "gunicorn.ctl"),
                                 "wsgi:app"], env=env),
        "worker": subprocess.Popen([python, "worker.py", "--queues", "mail,default,dns"],
                                   env=env),
        # Key generation is short CPU-bound work: no fork per job (see bench/results/keygen.md).
        "key-worker": subprocess.Popen([python, "worker.py", "--queues", "keys",
                                       "--worker-class", "simple"], env=env),
        "cron": subprocess.Popen([python, "worker.py", "--cron"], env=env),
    }
    if private_redis:
        children["redis"] = private_redis
    click.echo(f"\nPenguinMails Domains is running at http://{host}:{port}/")
    if admin:
        click.echo(f"First admin login: {admin[0]} / {admin[1]}  (shown once; change it under "
                   "Account)")
    else:
        click.echo("Sign in with an existing account, or create one with `flask users create`.")
    click.echo("Mail goes to instance/outbox/ unless SMTP_URL is set. Ctrl-C stops everything.\n")
    _supervise(children)


def _supervise(children: dict[str, subprocess.Popen]) -> None:
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"{name} exited with code {child.returncode}; stopping the portal.",
                           err=True)
                stopping, exit_code = True, 1
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    if exit_code:
        raise SystemExit(exit_code)
