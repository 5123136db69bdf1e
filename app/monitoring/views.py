"""DNS health pages: the dashboard, a domain's findings and history, the score, live checks.

One URL, two renderings throughout: the dashboard's table, a domain's health panel and the
validation box's findings are fragments a request gets when it targets them (`HX-Target`),
and every page works as plain HTML with JavaScript off.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, make_response, redirect, request, url_for
from flask_login import current_user

from app.core.findings import FINDING_KINDS, GROUPS, SEVERITIES
from app.core.health import PERFECT, score
from app.domains.models import Domain
from app.errors import AppError
from app.monitoring import checks, queries, record_check, score_rules
from app.monitoring import service as monitoring
from app.uow import commit
from app.web.rendering import Deferred, render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("monitoring", __name__, "/health")
# The validation box is also drawn by the domain wizard's records step.
bp.add_app_template_global(record_check.RECORD_TYPES, "RECORD_CHECK_TYPES")
bp.add_app_template_global(record_check.HOST_EXAMPLES, "RECORD_CHECK_HOSTS")

DASHBOARD_TARGET = "health-table"
FILTERS_FORM = "health-filters"
DOMAIN_TARGET = "domain-health"
FINDINGS_TARGET = "record-findings"
PLATFORM_SCOPE = "platform"
NEVER = "never"  # the `since` of a domain not checked before "Check now"


@dataclass(frozen=True)
class SweepStatus:
    """The platform sweep as the dashboard shows it while it runs."""

    running: bool = False
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @classmethod
    def from_progress(cls, progress: dict) -> SweepStatus:
        return cls(running=bool(progress.get("running")), done=int(progress.get("done") or 0),
                   total=int(progress.get("total") or 0))


def _platform_view() -> bool:
    """Platform admins may ask for every workspace's domains; anyone else gets their own."""
    return request.args.get("scope") == PLATFORM_SCOPE and current_user.is_platform_admin


@bp.route("/")
def index():
    platform = _platform_view()
    scope = {"platform": True} if platform else {"workspace_id": g.workspace.id}
    query, errors = queries.parse_query(request.args)
    page = queries.dashboard_page(query, **scope)
    extra = {"scope": PLATFORM_SCOPE} if platform else {}

    def link(**changes) -> str:
        return url_for(".index", **page.query.args(**changes), **extra)

    html, status = render_page(
        "monitoring/index.html", fragment="monitoring/_dashboard_table.html",
        target=DASHBOARD_TARGET, page=page, errors=errors, platform=platform, link=link,
        sweep=SweepStatus.from_progress(monitoring.sweep_progress()),
        tags=Deferred(lambda: queries.tag_choices(**scope)),
        my_slugs=Deferred(lambda: {ws.slug for ws, _ in current_user.workspaces()}),
        code_groups=_code_groups(), bands=queries.BAND_FILTERS, filters_form=FILTERS_FORM,
        sweep_minutes=current_app.config["HEALTH_SWEEP_MINUTES"])
    response = make_response(html, status)
    if targets(DASHBOARD_TARGET) and request.htmx.trigger != DASHBOARD_TARGET:
        # The canonical URL of what is shown, without empty parameters; a poll pushes nothing.
        response.headers["HX-Push-Url"] = link(page=page.query.page)
    return response


def _code_groups() -> list[tuple[str, list]]:
    return [(score_rules.GROUP_NAMES[group],
             [kind for kind in FINDING_KINDS.values() if kind.group == group])
            for group in GROUPS]


@bp.route("/score")
def score_page():
    return render_page("monitoring/score.html", steps=score_rules.steps(),
                       weights=score_rules.weight_rows(), bands=score_rules.bands(),
                       kinds=score_rules.kind_rows(), severities=SEVERITIES,
                       group_names=score_rules.GROUP_NAMES, perfect=PERFECT)


@bp.route("/validate", methods=["GET", "POST"])
def validate():
    """The live box: findings for a pasted record as one types, with no DNS lookups."""
    form = {"type": "spf", "host": "", "value": ""}
    outcome: dict = {}
    status = 200
    if request.method == "POST":
        form = {name: request.form.get(name, default) for name, default in form.items()}
        outcome, status = _check(form)
    return render_page("monitoring/validate.html", fragment="monitoring/_record_findings.html",
                       target=FINDINGS_TARGET, status=status, form=form, **outcome)


def _check(form: dict) -> tuple[dict, int]:
    """What the findings fragment shows for the box's fields, and the status to answer with.
    An empty value is where every box starts, so it asks for one rather than failing."""
    try:
        kind = record_check.parse_type(form["type"])
        if not form["value"].strip():
            return {"prompt": True, "kind": kind}, 200
        findings = record_check.check_record(kind, form["host"], form["value"])
    except AppError as error:
        return {"error": error}, error.status
    return {"findings": findings, "checked": True, "kind": kind,
            "deferred": record_check.DEFERRED_CHECKS[kind]}, 200


def _load(domain_id: int) -> Domain:
    return Domain.get_for(g.workspace.id, domain_id)


def _page_number(name: str) -> int:
    raw = request.args.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else 1


def _checked_token(health) -> str:
    return health.checked_at.isoformat() if health is not None else NEVER


def _domain_page(domain: Domain, job_id: str | None, since: str | None):
    health = queries.domain_health(domain)
    open_rows = monitoring.open_findings(domain)
    explained = score([row.as_finding() for row in open_rows])
    points = {(d.code, d.host): d.points for d in explained.deductions}
    checked_again = since is not None and since != _checked_token(health)
    in_flight = checks.check_in_flight(domain, job_id)
    return render_page(
        "monitoring/domain.html", fragment="monitoring/_domain_health.html",
        target=DOMAIN_TARGET, domain=domain, health=health, open_findings=open_rows,
        points=points, explained=explained, perfect=PERFECT,
        resolved=queries.resolved_findings(domain),
        history=queries.snapshot_history(domain, _page_number("history")),
        checking=in_flight and not checked_again, checked_again=checked_again,
        check_lost=since is not None and not in_flight and not checked_again,
        job_id=job_id, since=since, kinds=FINDING_KINDS)


@bp.route("/<int:domain_id>")
def domain(domain_id: int):
    found = _load(domain_id)
    return _domain_page(found, request.args.get("job"), request.args.get("since"))


@bp.route("/<int:domain_id>/check", methods=["POST"])
def check(domain_id: int):
    found = _load(domain_id)
    since = _checked_token(queries.domain_health(found))
    job_id = checks.request_check(g.actor, found)
    commit()
    if targets(DOMAIN_TARGET):
        return _domain_page(found, job_id, since)
    return redirect(url_for(".domain", domain_id=found.id, job=job_id, since=since))
