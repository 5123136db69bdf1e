"""Bearer-token authentication for API blueprints."""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint

from app.auth.tokens import token_for_secret
from app.errors import AppError
from app.extensions import db
from app.uow import commit
from app.workspaces.actor import Actor


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send an API token as `Authorization: Bearer <token>`.")
    token = token_for_secret(secret.strip())
    if token is None:
        raise Unauthorized("This API token is not valid or has been revoked.", code="invalid_token")
    # Asked before the next query autoflushes the change and resets its history.
    marked_used = db.session.is_modified(token)
    membership = token.user.membership_in(token.workspace_id)
    if membership is None:
        raise Unauthorized("The token's owner no longer belongs to its workspace.",
                           code="invalid_token")
    if marked_used:
        # last_used_at moved on (at most once a minute): its own tiny unit of work. Not
        # committing otherwise keeps the loaded rows from expiring and being read again.
        commit()
    g.api_token = token
    g.actor = Actor(user=token.user, workspace=token.workspace, role=membership.role,
                    ip=request.remote_addr, via="api")


def api_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A flask-smorest blueprint whose every route requires a valid bearer token."""
    bp = Blueprint(name, import_name, **kwargs)
    bp.before_request(_authenticate)
    return bp
