"""Workspace-scoped blueprints: every URL under `/w/<slug>/` belongs to one tenant.

The slug is resolved once per request against the signed-in user's memberships; a
workspace the user does not belong to is a 404, indistinguishable from one that does
not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, request, session
from flask_login import current_user

from app.extensions import login_manager
from app.workspaces.actor import Actor


def workspace_blueprint(name: str, import_name: str, prefix: str = "") -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix=f"/w/<slug>{prefix}")

    @bp.url_value_preprocessor
    def pull_slug(endpoint, values):
        g.workspace_slug = values.pop("slug", None) if values else None

    @bp.url_defaults
    def add_slug(endpoint, values):
        if "slug" not in values and g.get("workspace") is not None:
            values["slug"] = g.workspace.slug

    @bp.before_request
    def load_workspace():
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        found = current_user.workspace_by_slug(g.workspace_slug or "")
        if found is None:
            abort(404)
        workspace, membership = found
        g.workspace, g.membership = workspace, membership
        g.actor = Actor(user=current_user._get_current_object(), workspace=workspace,
                        role=membership.role, ip=request.remote_addr, via="web")
        # Assigning marks the session modified, and a modified session is re-signed and
        # sent back as a new cookie on every response: write only when it changes.
        if session.get("last_workspace") != workspace.slug:
            session["last_workspace"] = workspace.slug

    return bp
