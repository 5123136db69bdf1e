"""A domain's email accounts page: list, add, edit, pause, resume, delete.

Every change answers an HTMX request aimed at `#accounts` with the refreshed section, and a
plain form post with a redirect back to the page, so it all works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, g, redirect, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Optional

from app.domains import accounts
from app.domains.models import Domain, DomainStatus, EmailAccount
from app.errors import AppError
from app.uow import commit
from app.web.forms import apply_error
from app.web.rendering import render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("accounts", __name__, prefix="/domains/<int:domain_id>/accounts")


class AccountForm(FlaskForm):
    local_part = StringField("Address", validators=[InputRequired()],
                             description="The part before the @, for example sales.")
    display_name = StringField("Display name", validators=[Optional()],
                               description="Shown as the sender's name; may be left empty.")
    daily_limit = IntegerField("Daily limit", default=accounts.DEFAULT_DAILY_LIMIT,
                               validators=[InputRequired()],
                               description=f"Messages per day, {accounts.MIN_DAILY_LIMIT} to "
                                           f"{accounts.MAX_DAILY_LIMIT:,}.")


class AccountEditForm(FlaskForm):
    display_name = StringField("Display name", validators=[Optional()])
    daily_limit = IntegerField("Daily limit", validators=[InputRequired()])


def _domain(domain_id: int) -> Domain:
    return Domain.get_for(g.workspace.id, domain_id)


def _page(domain: Domain, form: AccountForm | None = None, *, editing: EmailAccount | None = None,
          edit_form: AccountEditForm | None = None, status: int = 200):
    return render_page(
        "domains/accounts.html", fragment="domains/_accounts.html", target="accounts",
        status=status, domain=domain, accounts=accounts.list_accounts(g.actor, domain),
        form=form or AccountForm(formdata=None), editing=editing, edit_form=edit_form,
        verified=domain.status == DomainStatus.VERIFIED, address=accounts.address,
    )


def _done(domain: Domain, message: str):
    commit()
    flash(message, "success")
    if targets("accounts"):
        return _page(domain)
    return redirect(url_for("accounts.index", domain_id=domain.id))


@bp.route("/")
def index(domain_id: int):
    return _page(_domain(domain_id))


@bp.route("/", methods=["POST"])
def create(domain_id: int):
    domain = _domain(domain_id)
    g.actor.require_write()  # viewers see no form, so refuse with a page that says why
    form = AccountForm()
    if not form.validate_on_submit():
        return _page(domain, form, status=422)
    try:
        account = accounts.create_account(g.actor, domain, form.local_part.data,
                                          display_name=form.display_name.data or "",
                                          daily_limit=form.daily_limit.data)
    except AppError as error:
        _show_error(form, error)
        return _page(domain, form, status=error.status)
    return _done(domain, f"{accounts.address(account)} added.")


@bp.route("/<int:account_id>", methods=["POST"])
def update(domain_id: int, account_id: int):
    domain = _domain(domain_id)
    account = accounts.get_account(g.actor, domain, account_id)
    g.actor.require_write()
    form = AccountEditForm()
    if not form.validate_on_submit():
        return _page(domain, editing=account, edit_form=form, status=422)
    changes = accounts.AccountChanges(display_name=form.display_name.data or "",
                                      daily_limit=form.daily_limit.data)
    try:
        accounts.update_account(g.actor, account, changes)
    except AppError as error:
        _show_error(form, error)
        return _page(domain, editing=account, edit_form=form, status=error.status)
    return _done(domain, f"{accounts.address(account)} saved.")


def _account_action(domain_id: int, account_id: int,
                    action: Callable[[EmailAccount], object], message: str):
    """Pause, resume or delete; a refusal is flashed on the page with its status."""
    domain = _domain(domain_id)
    try:
        account = accounts.get_account(g.actor, domain, account_id)
        done = message.format(address=accounts.address(account))
        action(account)
    except AppError as error:
        flash(error.message, "error")
        return _page(domain, status=error.status)
    return _done(domain, done)


@bp.route("/<int:account_id>/pause", methods=["POST"])
def pause(domain_id: int, account_id: int):
    return _account_action(domain_id, account_id,
                           lambda account: accounts.pause_account(g.actor, account),
                           "{address} paused: it sends nothing until resumed.")


@bp.route("/<int:account_id>/resume", methods=["POST"])
def resume(domain_id: int, account_id: int):
    return _account_action(domain_id, account_id,
                           lambda account: accounts.resume_account(g.actor, account),
                           "{address} is sending again.")


@bp.route("/<int:account_id>/delete", methods=["POST"])
def delete(domain_id: int, account_id: int):
    return _account_action(domain_id, account_id,
                           lambda account: accounts.delete_account(g.actor, account),
                           "{address} deleted.")


def _show_error(form: FlaskForm, error: AppError) -> None:
    """Field problems go next to their field; a refusal (role, unverified domain) is flashed,
    since its form may not be on the page at all."""
    if error.fields:
        apply_error(form, error)
    else:
        flash(error.message, "error")
