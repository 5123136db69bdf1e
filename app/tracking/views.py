"""Tracking hosts in the portal: per domain, add and remove hosts, see the CNAME to publish and
each host's certificate status, check the CNAME or retry a failed certificate now.

Changes answer an HTMX request aimed at `#tracking-hosts` with the refreshed section and a
plain form post with a redirect, so the page works without JavaScript. While a check runs or
a certificate is being issued the section polls itself.
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

from app.core.names import display_name
from app.domains import service as domains
from app.domains.models import Domain, DomainStatus
from app.errors import AppError
from app.jobs.queues import get_queue
from app.tracking import service
from app.tracking.models import HostStatus, TrackingHost
from app.uow import commit
from app.web.forms import apply_error
from app.web.rendering import render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("tracking", __name__, "/tracking")

TARGET = "tracking-hosts"
CHECK_IN_FLIGHT = ("queued", "started", "deferred", "scheduled")


class HostForm(FlaskForm):
    hostname = StringField("Host name", validators=[InputRequired()])


def _domain(domain_id: int) -> Domain:
    return Domain.get_for(g.workspace.id, domain_id)


def _host(host_id: int) -> TrackingHost:
    return TrackingHost.get_for(g.workspace.id, host_id)


def _check_in_flight(job_id: str | None, hosts: list[TrackingHost]) -> bool:
    # Only a check of a host on this page: a job id from the URL names nothing else.
    if not job_id or not any(job_id.startswith(service.check_job_prefix(h.id)) for h in hosts):
        return False
    job = get_queue("dns").fetch_job(job_id)
    return job is not None and job.get_status(refresh=False) in CHECK_IN_FLIGHT


def _page(domain: Domain, form: HostForm | None = None, *, status: int = 200):
    hosts = service.list_hosts(g.actor, domain)
    job_id = request.args.get("job")
    checking = _check_in_flight(job_id, hosts)
    return render_page(
        "tracking/domain.html", fragment="tracking/_hosts.html", target=TARGET, status=status,
        domain=domain, hosts=hosts, form=form or HostForm(formdata=None),
        records={host.id: service.expected_record(host) for host in hosts},
        platform_host=service.platform_host(), verified=domain.status == DomainStatus.VERIFIED,
        job_id=job_id if checking else None,
        polling=checking or any(h.status == HostStatus.ISSUING for h in hosts),
        suggested=_wizard_host(domain, hosts),
        alert_days=current_app.config["TRACKING_ALERT_DAYS"],
    )


def _wizard_host(domain: Domain, hosts: list[TrackingHost]) -> str | None:
    """The host the setup wizard's tracking record names, when it is not added here yet."""
    if not domain.tracking_label:
        return None
    name = f"{domain.tracking_label}.{domain.fqdn}"
    return None if any(h.hostname == name for h in hosts) else domain.tracking_label


def _done(domain: Domain, message: str, job_id: str | None = None):
    commit()
    flash(message, "success")
    if targets(TARGET):
        return _page(domain)
    return redirect(url_for(".domain", domain_id=domain.id, job=job_id))


@bp.route("/")
def index():
    hosts = service.list_hosts(g.actor)
    by_domain: dict[int, list[TrackingHost]] = {}
    for host in hosts:
        by_domain.setdefault(host.domain_id, []).append(host)
    return render_page("tracking/index.html", domains=domains.list_domains(g.actor),
                       by_domain=by_domain, platform_host=service.platform_host())


@bp.route("/domains/<int:domain_id>")
def domain(domain_id: int):
    return _page(_domain(domain_id))


@bp.route("/domains/<int:domain_id>", methods=["POST"])
def add(domain_id: int):
    domain = _domain(domain_id)
    g.actor.require_write()  # viewers see no form; refuse with a page that says why
    form = HostForm()
    if not form.validate_on_submit():
        return _page(domain, form, status=422)
    try:
        host = service.add_host(g.actor, domain, form.hostname.data or "")
    except AppError as error:
        apply_error(form, error)
        return _page(domain, form, status=error.status)
    return _done(domain, f"{display_name(host.hostname)} added: publish its CNAME, and we obtain "
                         "its certificate as soon as it reaches us.")


@bp.route("/hosts/<int:tracking_host_id>/check", methods=["POST"])
def check(tracking_host_id: int):
    host = _host(tracking_host_id)
    job_id = service.request_check(g.actor, host)
    what = ("Retrying the certificate" if host.status in (HostStatus.FAILED, HostStatus.EXPIRING)
            else "Checking the CNAME")
    return _done(host.domain, f"{what} of {display_name(host.hostname)} now.", job_id)


@bp.route("/hosts/<int:tracking_host_id>/delete", methods=["POST"])
def delete(tracking_host_id: int):
    host = _host(tracking_host_id)
    domain, name = host.domain, display_name(host.hostname)
    service.remove_host(g.actor, host)
    return _done(domain, f"{name} removed. Links already sent with it stop working once you "
                         "remove its CNAME.")
