"""Who am I, and which workspaces do I belong to."""

from __future__ import annotations

from flask import g

from app.api.auth import api_blueprint
from app.api.schemas import MeOut, WorkspaceOut

bp = api_blueprint("api_account", __name__, url_prefix="/api/v1",
                   description="The token's user and workspaces.")


def _workspace_out(workspace, role) -> dict:
    return {"id": workspace.id, "slug": workspace.slug, "name": workspace.name,
            "role": role.value, "current": workspace.id == g.actor.workspace.id,
            "created_at": workspace.created_at}


@bp.route("/me")
@bp.response(200, MeOut)
def me():
    """The user and workspace this token acts as."""
    user = g.actor.user
    return {"id": user.id, "email": user.email, "name": user.name,
            "is_platform_admin": user.is_platform_admin,
            "workspace": _workspace_out(g.actor.workspace, g.actor.role), "token": g.api_token}


@bp.route("/workspaces")
@bp.response(200, WorkspaceOut(many=True))
def workspaces():
    """Every workspace the token's user belongs to, with the user's role in each."""
    return [_workspace_out(ws, m.role) for ws, m in g.actor.user.workspaces()]
