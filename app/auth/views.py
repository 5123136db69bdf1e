"""Sign in and out, accept invitations, change password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import service
from app.auth.forms import ChangePasswordForm, LoginForm, SignUpForm
from app.auth.models import User
from app.errors import AppError
from app.uow import commit
from app.web.forms import apply_error
from app.workspaces import service as workspaces

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a fresh login to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("workspaces.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = service.authenticate(form.email.data, form.password.data, request.remote_addr)
        except AppError as error:
            commit()  # the failed attempt is audited even though sign-in fails
            apply_error(form, error)
            status = error.status if error.status == 429 else 401
        else:
            commit()
            session.clear()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or url_for("workspaces.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    invitation = workspaces.invitation_from_token(token)
    form = SignUpForm()
    existing = User.by_email(invitation.email)
    if request.method == "POST":
        try:
            if current_user.is_authenticated:
                workspaces.accept_invitation(invitation, current_user, ip=request.remote_addr)
                user = current_user
            elif existing is not None:
                flash(f"Sign in as {invitation.email} to accept this invitation.", "info")
                return redirect(url_for("auth.login", next=request.path))
            elif form.validate_on_submit():
                user, _ = service.sign_up_with_invitation(
                    invitation, form.name.data, form.password.data, ip=request.remote_addr)
            else:
                return render_template("auth/invitation.html", invitation=invitation, form=form,
                                       existing=existing), 422
        except AppError as error:
            apply_error(form, error)
            return render_template("auth/invitation.html", invitation=invitation, form=form,
                                   existing=existing), error.status
        commit()
        if not current_user.is_authenticated:
            login_user(user)
        flash(f"Welcome to {invitation.workspace.name}.", "success")
        return redirect(url_for("workspace.overview", slug=invitation.workspace.slug))
    return render_template("auth/invitation.html", invitation=invitation, form=form,
                           existing=existing)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current_password.data, form.new_password.data)
        except AppError as error:
            apply_error(form, error)
            status = error.status
        else:
            commit()
            flash("Your password is changed.", "success")
            return redirect(url_for("auth.account"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/account.html", form=form), status
