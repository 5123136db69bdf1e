"""Liveness for load balancers and humans: can we reach the database and Redis?"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, redis_connection

bp = Blueprint("health", __name__)


def _check(probe) -> dict:
    try:
        probe()
    except Exception as exc:  # any failure is the answer here, not a crash
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


@bp.route("/healthz")
def healthz():
    checks = {
        "database": _check(lambda: db.session.execute(text("SELECT 1"))),
        "redis": _check(lambda: redis_connection().ping()),
    }
    healthy = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503
