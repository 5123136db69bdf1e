"""Imports every feature's models so SQLAlchemy and Alembic see the whole schema."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, User
from app.domains.models import DkimKey, DnsSnapshot, Domain, EmailAccount
from app.workspaces.models import Invitation, Membership, Workspace

__all__ = ["ApiToken", "AuditEvent", "DkimKey", "DnsSnapshot", "Domain", "EmailAccount",
           "Invitation", "Membership", "User", "Workspace"]
