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
from app.domains import service, tags
from app.domains.forms import AddDomainForm, AddSubdomainForm, LabelsForm, SetupForm
from app.domains.models import Domain, DomainStatus, KeyState
from app.errors import AppError
from app.jobs.queues import get_queue
from app.uow import commit
from app.web.forms import apply_error
from app.subdomains import service as subdomains
from app.web.rendering import Deferred, render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("domains", __name__, prefix="/domains")
bp.add_app_template_filter(display_name, "display_name")

STEPS = ((1, "Add domain", None), (2, "Choose setup", "domains.setup"),
         (3, "Publish records", "domains.records"), (4, "Verify", "domains.verify"))
STEP_ENDPOINTS = {number: endpoint for number, _, endpoint in STEPS if endpoint}
# RQ job states of a check that has not finished yet: the verify panel polls through them.
CHECK_IN_FLIGHT = ("queued", "started", "deferred", "scheduled")
POLLING_STATUSES = (DomainStatus.PENDING, DomainStatus.VERIFYING)
LABEL_FIELDS = ("tags", "group")
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


def _list_filters() -> dict:
    """The list's filters from the query string; empty ones are left out."""
    filters = {name: request.args[name].strip() for name in ("tag", "group")
               if request.args.get(name, "").strip()}
    parent = request.args.get("parent", "")
    if parent == service.TOP_LEVEL or (parent.isascii() and parent.isdigit()):
        filters["parent"] = parent
    return filters


@bp.route("/")
def index():
    filters = _list_filters()
    workspace_id = g.workspace.id
    return render_page("domains/index.html", domains=service.list_domains(g.actor, **filters),
                       current_key=service.current_key, filters=filters,
                       tag_choices=Deferred(lambda: tags.tags_in(workspace_id)),
                       group_choices=Deferred(lambda: tags.groups_in(workspace_id)))


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


@bp.route("/<int:domain_id>/subdomains/new", methods=["GET", "POST"])
def new_subdomain(domain_id: int):
    """Step 1 for a subdomain: its name under this domain; then the same steps as a domain."""
    parent = _load(domain_id)
    g.actor.require_write()
    form = AddSubdomainForm()
    status = 200
    if form.validate_on_submit():
        try:
            domain = subdomains.add_subdomain(g.actor, parent, form.subdomain.data or "",
                                              algorithm=form.algorithm.data)
        except AppError as error:
            form.show_error(error)
            status = error.status
        else:
            commit()
            flash(f"{display_name(domain.fqdn)} added under "
                  f"{display_name(domain.parent.fqdn)}. Its own DKIM key is being generated.",
                  "success")
            return redirect(url_for(".setup", domain_id=domain.id))
    elif request.method == "POST":
        status = 422
    return render_page("domains/new_subdomain.html", status=status, form=form, parent=parent,
                       ownership_proven=parent.status == DomainStatus.VERIFIED
                       or service.ownership_proven_above(parent))


def _labels(domain: Domain, *, editing: str | None = None, form: LabelsForm | None = None,
            status: int = 200):
    return render_page("domains/labels.html", fragment="domains/_labels.html",
                       target=f"labels-{domain.id}", status=status, domain=domain,
                       editing=editing, form=form or LabelsForm(
                           formdata=None, data={"tags": ", ".join(domain.tags),
                                                "group": domain.group_name or ""}))


@bp.route("/<int:domain_id>/labels", methods=["GET", "POST"])
def labels(domain_id: int):
    """Tags and group, edited in place: HTMX swaps this domain's labels, a plain post
    comes back here. A refused value stays in the input with the reason beside it."""
    domain = _load(domain_id)
    if request.method == "GET":
        editing = request.args.get("edit")
        return _labels(domain, editing=editing if editing in LABEL_FIELDS else None)
    g.actor.require_write()
    form = LabelsForm()
    editing = None
    try:
        if "tags" in request.form:
            editing = "tags"
            tags.set_tags(g.actor, domain, form.tags.data or "")
        if "group" in request.form:
            editing = "group"
            tags.set_group(g.actor, domain, form.group.data)
    except AppError as error:
        apply_error(form, error)
        return _labels(domain, editing=editing, form=form, status=error.status)
    commit()
    if targets(f"labels-{domain.id}"):
        return _labels(domain)
    flash(f"Saved the tags and group of {display_name(domain.fqdn)}.", "success")
    return redirect(url_for(".labels", domain_id=domain.id))


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
    below = service.delete_domain(g.actor, domain)
    commit()
    with_subdomains = (f" with its {below} subdomain{'s' if below != 1 else ''}"
                       if below else "")
    flash(f"{name} was deleted{with_subdomains}. Its DKIM keys are destroyed; you can remove "
          "its records from your DNS.", "success")
    return redirect(url_for(".index"))
