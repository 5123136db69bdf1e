"""The audit log page: filters, pagination, before/after of each change."""

from __future__ import annotations

from datetime import date
from functools import partial

from flask import g, request

from app.audit import service
from app.web.rendering import Deferred, render_page
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("audit", __name__, prefix="/audit")

PER_PAGE = 50


def _date_arg(name: str) -> tuple[date | None, str | None]:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, f"“{raw}” is not a date; use YYYY-MM-DD."


@bp.route("/")
def index():
    g.actor.require_admin()
    date_from, from_error = _date_arg("from")
    date_to, to_error = _date_arg("to")
    filters = service.AuditFilters(
        actor=request.args.get("actor", "").strip(),
        action=request.args.get("action", "").strip(),
        object_type=request.args.get("object_type", "").strip(),
        object_id=request.args.get("object_id", "").strip(),
        date_from=date_from,
        date_to=date_to,
    )
    page_number = request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and int(page_number) > 0 else 1
    page = service.list_events(g.actor, filters, page=page_number, per_page=PER_PAGE)
    errors = [e for e in (from_error, to_error) if e]
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_page(
        "audit/index.html", fragment="audit/_events.html", target="audit-events",
        status=422 if errors else 200, page=page, filters=filters, errors=errors, query=query,
        actions=Deferred(partial(service.known_actions, g.actor)),
    )
