"""DNS health over the API: a domain's findings and score, and checking a pasted record."""

from __future__ import annotations

from dataclasses import asdict

from flask import g

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace
from app.api.schemas import (DomainHealthOut, HealthCheckOut, HealthListArgs, HealthListOut,
                             RecordCheckIn, RecordCheckOut)
from app.errors import ValidationFailed
from app.monitoring import checks, queries, record_check
from app.monitoring import service as monitoring
from app.monitoring.validator import by_severity
from app.uow import commit

bp = api_blueprint("api_health", __name__, url_prefix="/api/v1",
                   description="DNS health: findings, scores and record validation.")


@bp.route("/domains/<int:domain_id>/health", methods=["GET"])
@bp.response(200, DomainHealthOut)
@bp.alt_response(404, response="NOT_FOUND")
def domain_health(domain_id: int):
    """The domain's score and open findings from its latest check (nothing is looked up now).

    A domain never checked has `status: "not_checked"`, a null score and no findings.
    """
    domain = domain_in_workspace(domain_id)
    health = queries.domain_health(domain)
    if health is None:
        return {"domain": domain.fqdn, "status": "not_checked", "score": None, "band": None,
                "checked_at": None, "findings": []}
    findings = by_severity([row.as_finding() for row in monitoring.open_findings(domain)])
    return {"domain": domain.fqdn, "status": "checked", "score": health.score,
            "band": health.band, "checked_at": health.checked_at,
            "findings": [found.to_dict() for found in findings]}


@bp.route("/domains/<int:domain_id>/health/check", methods=["POST"])
@bp.response(202, HealthCheckOut)
@bp.alt_response(404, response="NOT_FOUND")
def check_domain(domain_id: int):
    """Check the domain's DNS now (members and above); poll /health until `checked_at` moves."""
    job_id = checks.request_check(g.actor, domain_in_workspace(domain_id))
    commit()
    return {"job_id": job_id}


@bp.route("/dns/validate-record", methods=["POST"])
@bp.arguments(RecordCheckIn)
@bp.response(200, RecordCheckOut)
def validate_record(body: dict):
    """Findings for one SPF, DKIM or DMARC record, from its text alone (no DNS lookups).

    422 with a stable code for what cannot be checked: `unknown_record_type`, `empty_value`,
    `value_too_long`, `empty_host`, `invalid_host`.
    """
    findings = record_check.check_record(body["type"], body["host"], body["value"])
    return {"findings": [found.to_dict() for found in findings],
            "deferred": record_check.DEFERRED_CHECKS[record_check.parse_type(body["type"])]}


@bp.route("/health", methods=["GET"])
@bp.arguments(HealthListArgs, location="query")
@bp.response(200, HealthListOut)
def list_health(args: dict):
    """The dashboard as data: the workspace's domains with their health, 50 a page."""
    try:
        query = queries.parse_query_strictly(args)
    except queries.QueryError as error:
        raise ValidationFailed("Some parameters are not valid; see `fields`.",
                               fields=error.fields) from None
    page = queries.dashboard_page(query, workspace_id=g.actor.workspace.id)
    return {"domains": [_row_out(row) for row in page.rows], "page": page.query.page,
            "pages": page.pages, "total": page.total, "tallies": page.tallies}


def _row_out(row: queries.DashboardRow) -> dict:
    worst = None
    if row.worst_code:
        worst = {"code": row.worst_code, "severity": row.worst_severity,
                 "title": row.worst_kind.title if row.worst_kind else None}
    return {**asdict(row), "status": "checked" if row.checked else "not_checked",
            "domain_status": row.status, "change": row.change, "worst_finding": worst}
