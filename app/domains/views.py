"""The domains list and the verification wizard: add → set up → publish records → verify.

The wizard is resumable: `Domain.setup_step` is the furthest step reached, each step has its
own URL, and a step not reached yet sends the visitor to the one they are on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Response, current_app, flash, g, redirect, request, url_for

from app.core.clock import utcnow
from app.core.names import display_name
from app.core.records import (
    DOUBLED_NAME_WARNING,
    PROVIDER_HINTS,
    HostStyle,
    host_for_provider,
    to_bind,
    to_csv,
)
from app.domains import service
from app.domains.forms import AddDomainForm, SetupForm
from app.domains.models import Domain, DomainStatus, KeyState
from app.errors import AppError
from app.jobs.queues import get_queue
from app.uow import commit
from app.web.forms import apply_error
from app.web.rendering import render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("domains", __name__, prefix="/domains")
bp.add_app_template_filter(display_name, "display_name")

STEPS = ((1, "Add domain", None), (2, "Choose setup", "domains.setup"),
         (3, "Publish records", "domains.records"), (4, "Verify", "domains.verify"))
STEP_ENDPOINTS = {number: endpoint for number, _, endpoint in STEPS if endpoint}
# RQ job states of a check that has not finished yet: the verify panel polls through them.
CHECK_IN_FLIGHT = ("queued", "started", "deferred", "scheduled")
POLLING_STATUSES = (DomainStatus.PENDING, DomainStatus.VERIFYING)
STYLE_LABELS = {HostStyle.FQDN: "Full name, e.g. pm1._domainkey.example.com",
                HostStyle.RELATIVE: "Short name, @ for the domain itself",
                HostStyle.RELATIVE_BLANK_APEX: "Short name, empty for the domain itself"}


def _load(domain_id: int) -> Domain:
    return Domain.get_for(g.workspace.id, domain_id)


def _reached(domain: Domain) -> int:
    """The furthest wizard step this domain has reached (a stored domain is past step 1)."""
    return min(max(domain.setup_step, 2), 4)


def _step_url(domain: Domain, step: int) -> str:
    return url_for(STEP_ENDPOINTS[step], domain_id=domain.id)


@bp.context_processor
def wizard_globals():
    return {"STEPS": STEPS, "reached": _reached}


@bp.route("/")
def index():
    return render_page("domains/index.html", domains=service.list_domains(g.actor),
                       current_key=service.current_key)


@bp.route("/new", methods=["GET", "POST"])
def new():
    g.actor.require_write()  # viewers see no form; refuse with a page that says why
    form = AddDomainForm()
    status = 200
    if form.validate_on_submit():
        try:
            domain = service.add_domain(g.actor, form.name.data or "",
                                        algorithm=form.algorithm.data)
        except AppError as error:
            form.show_error(error)
            status = error.status
        else:
            commit()
            flash(f"{display_name(domain.fqdn)} added. Its DKIM key is being generated.",
                  "success")
            return redirect(url_for(".setup", domain_id=domain.id))
    elif request.method == "POST":
        status = 422
    return render_page("domains/new.html", status=status, form=form)


@bp.route("/<int:domain_id>")
def show(domain_id: int):
    domain = _load(domain_id)
    return redirect(_step_url(domain, _reached(domain)))


@bp.route("/<int:domain_id>/setup", methods=["GET", "POST"])
def setup(domain_id: int):
    domain = _load(domain_id)
    if request.method == "POST":
        g.actor.require_write()
    key = service.current_key(domain)
    if request.method == "GET":
        form = SetupForm(data={"selector": key.selector if key else service.DEFAULT_SELECTOR,
                               "dmarc_policy": domain.dmarc_policy,
                               "use_return_path": domain.return_path_label is not None,
                               "use_tracking": domain.tracking_label is not None})
    else:
        form = SetupForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.choose_setup(g.actor, domain, form.choices())
        except AppError as error:
            apply_error(form, error)
            status = error.status
        else:
            commit()
            return redirect(url_for(".records", domain_id=domain.id))
    elif request.method == "POST":
        status = 422
    selector_locked = key is not None and key.state not in (KeyState.GENERATING,
                                                             KeyState.PENDING)
    return render_page("domains/setup.html", status=status, form=form, domain=domain,
                       selector_locked=selector_locked,
                       rua=current_app.config["PLATFORM_DMARC_RUA"],
                       bounce_host=current_app.config["PLATFORM_BOUNCE_HOST"],
                       tracking_host=current_app.config["PLATFORM_TRACKING_HOST"])


def _host_style() -> HostStyle:
    try:
        return HostStyle(request.args.get("hosts", HostStyle.FQDN))
    except ValueError:
        return HostStyle.FQDN


@bp.route("/<int:domain_id>/records")
def records(domain_id: int):
    domain = _load(domain_id)
    if _reached(domain) < 3:
        return redirect(_step_url(domain, _reached(domain)))
    key = service.current_key(domain)
    style = _host_style()
    expected = service.expected_records(domain)
    rows = [(record, host_for_provider(record, domain.fqdn, style)) for record in expected]
    return render_page(
        "domains/records.html", fragment="domains/_records.html", target="records",
        domain=domain, key=key, key_pending=key is not None and not key.public_key,
        rows=rows, style=style, HostStyle=HostStyle, style_labels=STYLE_LABELS,
        provider_hints=PROVIDER_HINTS, hints=[h for h in PROVIDER_HINTS if h.style is style],
        doubled_name_warning=DOUBLED_NAME_WARNING,
        all_records="\n".join(f"{r.host} {r.type} {r.value}" for r in expected),
    )


def _download(domain: Domain, body: str, suffix: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{domain.fqdn}-records.{suffix}"'})


@bp.route("/<int:domain_id>/records.zone")
def records_zone(domain_id: int):
    domain = _load(domain_id)
    return _download(domain, to_bind(service.expected_records(domain), domain.fqdn), "zone",
                     "text/plain")


@bp.route("/<int:domain_id>/records.csv")
def records_csv(domain_id: int):
    domain = _load(domain_id)
    return _download(domain, to_csv(service.expected_records(domain)), "csv", "text/csv")


def _check_in_flight(domain: Domain, job_id: str | None) -> bool:
    # Only this domain's verification jobs: a job id from the URL names nothing else.
    if not job_id or not job_id.startswith(f"verify-{domain.id}-"):
        return False
    job = get_queue("dns").fetch_job(job_id)
    return job is not None and job.get_status(refresh=False) in CHECK_IN_FLIGHT


def _in_words(moment: datetime | None) -> str | None:
    """How long until `moment`, for "next automatic check in …"."""
    if moment is None:
        return None
    seconds = (moment - utcnow()) / timedelta(seconds=1)
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    return f"{hours} hours"


def _verify_page(domain: Domain, job_id: str | None):
    snapshot = service.latest_snapshot(domain)
    checks = snapshot.results if snapshot else []
    checking = _check_in_flight(domain, job_id)
    return render_page(
        "domains/verify.html", fragment="domains/_verify_status.html", target="verify-status",
        domain=domain, snapshot=snapshot, checks=checks,
        found=sum(1 for c in checks if c.get("status") == "found"),
        checking=checking, job_id=job_id if checking else None,
        polling=checking or domain.status in POLLING_STATUSES,
        next_check_in=_in_words(domain.next_check_at),
        window_hours=current_app.config["VERIFICATION_WINDOW_HOURS"],
    )


@bp.route("/<int:domain_id>/verify")
def verify(domain_id: int):
    domain = _load(domain_id)
    if _reached(domain) < 4:
        return redirect(_step_url(domain, _reached(domain)))
    return _verify_page(domain, request.args.get("job"))


@bp.route("/<int:domain_id>/check", methods=["POST"])
def check(domain_id: int):
    domain = _load(domain_id)
    job_id = service.request_check(g.actor, domain)
    commit()
    if targets("verify-status"):
        return _verify_page(domain, job_id)
    return redirect(url_for(".verify", domain_id=domain.id, job=job_id))


@bp.route("/<int:domain_id>/delete", methods=["POST"])
def delete(domain_id: int):
    domain = _load(domain_id)
    name = display_name(domain.fqdn)
    service.delete_domain(g.actor, domain)
    commit()
    flash(f"{name} was deleted. Its DKIM keys are destroyed; you can remove its records "
          "from your DNS.", "success")
    return redirect(url_for(".index"))
