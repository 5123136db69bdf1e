"""Small helpers shared by integration tests."""

from __future__ import annotations

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import ApiToken
from app.extensions import db
from app.workspaces.models import Invitation, Membership, Workspace
from tests.factories import PASSWORD


def login(client, user, password: str = PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return response


def workspace_rows(workspace: Workspace) -> dict:
    """What a request could change in a workspace, read fresh: compare before and after
    to prove a refused request changed nothing."""
    db.session.expire_all()
    return {
        "workspace": db.session.execute(
            select(Workspace.slug, Workspace.name).where(Workspace.id == workspace.id)).one(),
        "memberships": sorted(db.session.execute(
            select(Membership.id, Membership.user_id, Membership.role)
            .where(Membership.workspace_id == workspace.id)).all()),
        "invitations": sorted(db.session.execute(
            select(Invitation.id, Invitation.email, Invitation.role, Invitation.accepted_at,
                   Invitation.revoked_at).where(Invitation.workspace_id == workspace.id)).all()),
        "tokens": sorted(db.session.execute(
            select(ApiToken.id, ApiToken.name, ApiToken.revoked_at)
            .where(ApiToken.workspace_id == workspace.id)).all()),
        "audit_events": db.session.scalar(
            select(func.count()).select_from(AuditEvent)
            .where(AuditEvent.workspace_id == workspace.id)),
    }
