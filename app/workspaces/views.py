"""Workspace pages: home, create, overview, members and invitations, settings."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from app.audit import service as audit
from app.errors import AppError
from app.uow import commit
from app.web.forms import apply_error
from app.web.rendering import render_page, targets
from app.workspaces import service
from app.workspaces.context import workspace_blueprint
from app.workspaces.forms import InviteForm, RenameWorkspaceForm, RoleForm, WorkspaceForm
from app.workspaces.roles import Role

bp = Blueprint("workspaces", __name__)
workspace_bp = workspace_blueprint("workspace", __name__)


@bp.route("/")
@login_required
def home():
    mine = {ws.slug for ws, _ in current_user.workspaces()}
    last = session.get("last_workspace")
    if last in mine:
        return redirect(url_for("workspace.overview", slug=last))
    if mine:
        return redirect(url_for("workspace.overview", slug=sorted(mine)[0]))
    return redirect(url_for("workspaces.create"))


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def create():
    form = WorkspaceForm()
    status = 200
    if form.validate_on_submit():
        try:
            workspace = service.create_workspace(current_user, form.name.data, form.slug.data or None,
                                                 ip=request.remote_addr)
        except AppError as error:
            apply_error(form, error)
            status = error.status
        else:
            commit()
            flash(f"Workspace {workspace.name} is ready.", "success")
            return redirect(url_for("workspace.overview", slug=workspace.slug))
    elif request.method == "POST":
        status = 422
    return render_template("workspaces/new.html", form=form), status


@workspace_bp.route("/")
def overview():
    actor = g.actor
    recent = (audit.list_events(actor, audit.AuditFilters(), per_page=8).items
              if actor.role.can_administer else [])
    return render_template("workspaces/overview.html", members=service.members(actor),
                           recent_events=recent)


def _members_page(invite_form: InviteForm | None = None, status: int = 200):
    actor = g.actor
    invitations = service.pending_invitations(actor) if actor.role.can_administer else []
    return render_page(
        "workspaces/members.html", fragment="workspaces/_members.html", target="members",
        status=status, members=service.members(actor), invitations=invitations,
        invite_form=invite_form or InviteForm(), role_form=RoleForm(), Role=Role,
    )


@workspace_bp.route("/members")
def members():
    return _members_page()


@workspace_bp.route("/members/invite", methods=["POST"])
def invite():
    g.actor.require_admin()  # the form is not shown to others, so refuse with a page that says why
    form = InviteForm()
    if not form.validate_on_submit():
        return _members_page(form, status=422)
    try:
        invitation = service.invite(g.actor, form.email.data, Role.parse(form.role.data))
    except AppError as error:
        apply_error(form, error)
        return _members_page(form, status=error.status)
    commit()
    flash(f"Invitation sent to {invitation.email}.", "success")
    if targets("members"):
        return _members_page()
    return redirect(url_for("workspace.members"))


def _member_action(action) -> object:
    """Run a member/invitation change; an error is flashed on the members page, with its
    status (redirecting would turn a 403/404/409 into a 302)."""
    try:
        message = action()
    except AppError as error:
        flash(error.message, "error")
        return _members_page(status=error.status)
    commit()
    flash(message, "success")
    if targets("members"):
        return _members_page()
    return redirect(url_for("workspace.members"))


@workspace_bp.route("/members/<int:membership_id>/role", methods=["POST"])
def change_role(membership_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return _members_page(status=422)

    def act():
        membership = service.change_role(g.actor, membership_id, Role.parse(form.role.data))
        return f"{membership.user.email} is now {membership.role.value}."

    return _member_action(act)


@workspace_bp.route("/members/<int:membership_id>/remove", methods=["POST"])
def remove_member(membership_id: int):
    def act():
        service.remove_member(g.actor, membership_id)
        return "Member removed."

    response = _member_action(act)
    if current_user.membership_in(g.workspace.id) is None:
        return redirect(url_for("workspaces.home"))
    return response


@workspace_bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
def revoke_invitation(invitation_id: int):
    def act():
        service.revoke_invitation(g.actor, invitation_id)
        return "Invitation revoked."

    return _member_action(act)


@workspace_bp.route("/settings", methods=["GET", "POST"])
def settings():
    if request.method == "POST":
        g.actor.require_admin()  # others see no form, so refuse with a page that says why
    # Prefilled only for display: a POST without `name` must fail, not keep the old name.
    form = RenameWorkspaceForm(obj=g.workspace if request.method == "GET" else None)
    status = 200
    if form.validate_on_submit():
        try:
            service.rename_workspace(g.actor, form.name.data)
        except AppError as error:
            apply_error(form, error)
            status = error.status
        else:
            commit()
            flash("Workspace renamed.", "success")
            return redirect(url_for("workspace.settings"))
    elif request.method == "POST":
        status = 422
    return render_template("workspaces/settings.html", form=form), status
