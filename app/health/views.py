"""Liveness for load balancers and humans: can we reach the database and Redis?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from app.extensions import db

bp = Blueprint("health", __name__)


def _check(probe) -> dict:
    try:
        probe()
    except Exception as exc:  # any failure is the answer here, not a crash
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def _ping_redis() -> None:
    # One quick try: a health check must answer fast, not retry its way to a timeout.
    client = Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2,
                            socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    finally:
        client.close()


@bp.route("/healthz")
def healthz():
    checks = {
        "database": _check(lambda: db.session.execute(text("SELECT 1"))),
        "redis": _check(_ping_redis),
    }
    healthy = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503
