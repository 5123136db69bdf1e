"""A domain's DKIM keys page: every key with its state in plain words, "Rotate now" and the
automatic rotation cadence.

Changes answer an HTMX request aimed at `#dkim-keys` with the refreshed section and a plain
form post with a redirect, so the page works without JavaScript. While a key is being
generated the key list polls itself (`#key-list`) until the key's DNS record can be shown.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import current_app, flash, g, redirect, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, ValidationError
from wtforms.fields.choices import SelectChoice

from app.core.clock import utcnow
from app.core.names import display_name
from app.core.records import DnsRecord, Purpose
from app.domains import rotation, service
from app.domains.models import DkimKey, Domain, DomainStatus, KeyState
from app.errors import AppError
from app.uow import commit
from app.web.rendering import render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("dkim_keys", __name__, prefix="/domains/<int:domain_id>/keys")

# The two parts of the page a request may target, and the template each one gets.
FRAGMENTS = {"dkim-keys": "domains/_keys.html", "key-list": "domains/_key_list.html"}
CADENCE_DAYS = (30, 60, 90, 180, 365)
DAYS = re.compile(r"[0-9]*")


class CadenceForm(FlaskForm):
    """Carries the choice only: which numbers of days are allowed is the service's to say,
    so a cadence set through the API (say 45 days) is shown and kept here too."""

    dkim_rotation_days = SelectField("Rotate the key automatically", validate_choice=False)

    def __init__(self, current: int | None, **kwargs):
        super().__init__(data={"dkim_rotation_days": str(current or "")}, **kwargs)
        days = sorted({*CADENCE_DAYS, *([current] if current else [])})
        self.dkim_rotation_days.choices = [
            SelectChoice("", "Never: only when you press “Rotate now”"),
            *(SelectChoice(str(d), f"Every {d} days") for d in days)]

    def validate_dkim_rotation_days(self, field) -> None:
        # Empty is "never"; a select always sends a value, so a missing one is an error.
        if not field.raw_data or not DAYS.fullmatch(field.data):
            raise ValidationError("Choose never or a number of days.")

    def days(self) -> int | None:
        return int(self.dkim_rotation_days.data) if self.dkim_rotation_days.data else None


def _domain(domain_id: int) -> Domain:
    return Domain.get_for(g.workspace.id, domain_id)


def _pending_records(domain: Domain) -> dict[str, DnsRecord]:
    """The DKIM record each pending key waits for, by selector: what to publish now."""
    dkim = {r.host: r for r in service.expected_records(domain) if r.purpose == Purpose.DKIM}
    return {key.selector: dkim[host] for key in domain.keys if key.state == KeyState.PENDING
            and (host := f"{key.selector}._domainkey.{domain.fqdn}") in dkim}


def _next_rotation(domain: Domain) -> datetime | None:
    """When the cadence rotates the signing key: its activation plus the cadence."""
    key = service.current_key(domain)
    if (domain.dkim_rotation_days is None or key is None or key.state != KeyState.ACTIVE
            or key.activated_at is None):
        return None
    return key.activated_at + timedelta(days=domain.dkim_rotation_days)


def _incoming(domain: Domain) -> DkimKey | None:
    """The RSA key a rotation (or the first setup) is bringing in, if any."""
    return next((k for k in domain.keys if k.key_type == "rsa"
                 and k.state in (KeyState.GENERATING, KeyState.PENDING)), None)


def _page(domain: Domain, form: CadenceForm | None = None, *, status: int = 200):
    target = next((element for element in FRAGMENTS if targets(element)), None)
    current = service.current_key(domain)
    next_rotation = _next_rotation(domain)
    return render_page(
        "domains/keys.html", fragment=FRAGMENTS.get(target), target=target, status=status,
        domain=domain, keys=list(reversed(domain.keys)), records=_pending_records(domain),
        generating=any(k.state == KeyState.GENERATING for k in domain.keys),
        signing=current if current and current.state == KeyState.ACTIVE else None,
        incoming=_incoming(domain), verified=domain.status == DomainStatus.VERIFIED,
        next_selector=rotation.next_selector(domain), next_rotation=next_rotation,
        rotation_overdue=next_rotation is not None and next_rotation <= utcnow(),
        grace_days=current_app.config["DKIM_RETIRING_DAYS"],
        form=form or CadenceForm(domain.dkim_rotation_days, formdata=None),
    )


def _done(domain: Domain, message: str):
    commit()
    flash(message, "success")
    if targets("dkim-keys"):
        return _page(domain)
    return redirect(url_for(".index", domain_id=domain.id))


@bp.route("/")
def index(domain_id: int):
    return _page(_domain(domain_id))


@bp.route("/rotate", methods=["POST"])
def rotate(domain_id: int):
    domain = _domain(domain_id)
    g.actor.require_write()  # viewers see no button; refuse with a page that says why
    signing = service.current_key(domain)
    try:
        key = rotation.start_rotation(g.actor, domain)
    except AppError as error:
        flash(error.message, "error")
        return _page(domain, status=error.status)
    return _done(domain, f"Rotation started: the new key {key.selector} is being generated. "
                         f"Publish its DNS record as soon as it is shown; {signing.selector} "
                         f"keeps signing until every nameserver serves {key.selector}.")


@bp.route("/cadence", methods=["POST"])
def cadence(domain_id: int):
    domain = _domain(domain_id)
    g.actor.require_write()
    form = CadenceForm(domain.dkim_rotation_days)
    if not form.validate_on_submit():
        return _page(domain, form, status=422)
    days = form.days()
    try:
        rotation.set_rotation_cadence(g.actor, domain, days)
    except AppError as error:
        form.dkim_rotation_days.errors = [error.message]
        return _page(domain, form, status=error.status)
    name = display_name(domain.fqdn)
    if days is None:
        return _done(domain, f"Automatic rotation is off: the DKIM key of {name} changes only "
                             "when you rotate it.")
    return _done(domain, f"The DKIM key of {name} now rotates every {days} days.")
