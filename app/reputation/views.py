"""Reputation pages: a domain's sending volume, bounce and complaint rates and score over time."""

from __future__ import annotations

from flask import g, render_template, request

from app.core import reputation as core
from app.domains.models import Domain
from app.reputation import service
from app.reputation.charts import reputation_charts
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("reputation", __name__, "/reputation")


@bp.route("/<int:domain_id>")
def domain(domain_id: int):
    """One domain's own reputation over a date range (default: the last 30 days); a bad
    range is reported on the form and the default shown instead."""
    found = Domain.get_for(g.workspace.id, domain_id)
    raw_from, raw_to = request.args.get("from", ""), request.args.get("to", "")
    try:
        date_range, errors = service.parse_range(raw_from, raw_to), {}
    except service.RangeError as error:
        date_range, errors = service.parse_range(None, None), error.fields
    report = service.domain_reputation(found, date_range)
    return render_template("reputation/domain.html", domain=found, report=report,
                           charts=reputation_charts(report.daily), errors=errors,
                           raw_from=raw_from or date_range.first.isoformat(),
                           raw_to=raw_to or date_range.last.isoformat(), core=core)
