"""API tokens in the UI: create (secret shown once), list with last use, revoke."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.auth import tokens
from app.errors import AppError
from app.uow import commit
from app.web.forms import apply_error
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("tokens", __name__, prefix="/settings/tokens")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)],
                       description="For example “CI deploys” or “MTA event feed”.")


def _page(form: TokenForm, *, new_secret: str | None = None, status: int = 200):
    return render_template("auth/tokens.html", form=form, tokens=tokens.visible_tokens(g.actor),
                           new_secret=new_secret), status


@bp.route("/")
def index():
    return _page(TokenForm())


@bp.route("/", methods=["POST"])
def create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    try:
        _, secret = tokens.create_token(g.actor, form.name.data)
    except AppError as error:
        apply_error(form, error)
        return _page(form, status=error.status)
    commit()
    # Rendered in this response only; never stored, never redirected through the session.
    return _page(TokenForm(formdata=None), new_secret=secret, status=201)


@bp.route("/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    try:
        token = tokens.revoke_token(g.actor, token_id)
    except AppError as error:
        flash(error.message, "error")
        return _page(TokenForm(formdata=None), status=error.status)  # a 404 stays a 404
    commit()
    flash(f"Token “{token.name}” revoked; requests using it now get 401.", "success")
    return redirect(url_for("tokens.index"))
