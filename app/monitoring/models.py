"""What the DNS health monitor keeps: each domain's current health, its findings over time,
snapshots of its records when they change, and the alerts sent about it.

`DomainHealth` is one row per checked domain (the dashboard sorts, filters and pages over it
without touching history). `DomainFinding` rows open when a problem first appears and are
resolved, never deleted, when it goes away, so "the same finding does not alert twice" and the
history page are both plain queries. `HealthSnapshot` is written only when the observed records
or the findings changed.
"""

from __future__ import annotations

import enum
from datetime import datetime

import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.findings import Finding
from app.db_types import UtcDateTime, string_enum
from app.errors import NotFound
from app.extensions import db


class DomainHealth(db.Model):
    """A domain's latest validation, denormalised for the dashboard."""

    __tablename__ = "domain_health"
    __table_args__ = (Index("ix_domain_health_workspace_score", "workspace_id", "score"),)

    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                           primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(16))
    previous_score: Mapped[int | None] = mapped_column(Integer)  # before the last change
    worst_code: Mapped[str | None] = mapped_column(String(64), index=True)
    worst_severity: Mapped[str | None] = mapped_column(String(16))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # score or findings moved
    digest: Mapped[str] = mapped_column(String(64), default="")  # of records + findings


class DomainFinding(db.Model):
    """One problem on one domain, from the sweep that first saw it until one no longer does."""

    __tablename__ = "domain_findings"
    __table_args__ = (
        Index("ix_domain_findings_domain_open", "domain_id", "resolved_at"),
        Index("ix_domain_findings_workspace_code", "workspace_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    record_host: Mapped[str] = mapped_column(String(300))
    record_type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def as_finding(self) -> Finding:
        """The stored row as the validator's value, for scoring and diffing."""
        return Finding(code=self.code, severity=self.severity, record_host=self.record_host,
                       record_type=self.record_type, message=self.message, fix=self.fix or "")


class HealthSnapshot(db.Model):
    """The records and findings of one sweep, kept only when they differ from the last one."""

    __tablename__ = "health_snapshots"
    __table_args__ = (Index("ix_health_snapshots_domain_taken", "domain_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    score: Mapped[int] = mapped_column(Integer)
    records: Mapped[dict] = mapped_column(JSON)  # ValidationReport.records
    findings: Mapped[list] = mapped_column(JSON)  # Finding.to_dict() each
    digest: Mapped[str] = mapped_column(String(64))


class ChannelKind(str, enum.Enum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class AlertChannel(db.Model):
    """Where a workspace's alerts go. A webhook's signing secret lives in the key store."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    kind: Mapped[ChannelKind] = mapped_column(string_enum(ChannelKind, "alert_channel_kind"))
    name: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(2000))  # email addresses or the webhook URL
    secret_ref: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @classmethod
    def get_for(cls, workspace_id: int, channel_id: int) -> "AlertChannel":
        """The channel if it belongs to this workspace; otherwise NotFound, never another's."""
        channel = db.session.scalar(select(cls).where(cls.id == channel_id,
                                                      cls.workspace_id == workspace_id))
        if channel is None:
            raise NotFound("No such alert channel in this workspace.")
        return channel


class Alert(db.Model):
    """Something a workspace is told about once: a finding opened, worsened or resolved, a
    record changed, a test; delivered to every enabled channel."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="SET NULL"),
                                                  index=True)
    # Sent with every delivery of this alert (webhook header and body), so a receiver that
    # gets a retry of something it already processed can drop it.
    event_id: Mapped[str] = mapped_column(String(36), unique=True,
                                          default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict] = mapped_column(JSON)  # the webhook body, also rendered in email
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


class AlertDelivery(db.Model):
    """One alert to one channel: the delivery log shown in the UI."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_channel_created", "channel_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus, "alert_delivery_status"), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)  # the webhook's HTTP answer
    error: Mapped[str] = mapped_column(String(500), default="")
    # Every attempt as {"at", "status_code", "error"}: the log behind the counters above.
    attempt_log: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # while retrying
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
