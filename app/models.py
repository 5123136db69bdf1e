"""Imports every feature's models so SQLAlchemy and Alembic see the whole schema."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, User
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainTag, EmailAccount
from app.monitoring.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    DomainFinding,
    DomainHealth,
    HealthSnapshot,
)
from app.reputation.models import ReputationEvent, ReputationStat
from app.tracking.models import AcmeAccount, TrackedLink, TrackedMessage, TrackingHost
from app.workspaces.models import Invitation, Membership, Workspace

__all__ = ["Alert", "AlertChannel", "AlertDelivery", "ApiToken", "AuditEvent", "DkimKey",
           "DnsSnapshot", "Domain", "DomainFinding", "DomainHealth", "DomainTag", "EmailAccount",
           "HealthSnapshot", "Invitation", "Membership", "User", "Workspace",
           "AcmeAccount", "ReputationEvent", "ReputationStat",
           "TrackedLink", "TrackedMessage", "TrackingHost"]
