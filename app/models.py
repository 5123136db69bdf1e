"""Imports every feature's models so SQLAlchemy and Alembic see the whole schema."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, User
from app.workspaces.models import Invitation, Membership, Workspace

__all__ = ["ApiToken", "AuditEvent", "Invitation", "Membership", "User", "Workspace"]
