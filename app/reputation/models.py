"""Delivery events as the MTA and the tracking endpoints report them, one row each.

The shape is the event ingestion API's (`{domain, account?, region?, ip?, type, bounce_class?,
at}`). `event_id` is the sender's idempotency key: a replayed event is the same row, never a
second one. Roll-ups read per-domain time ranges, hence the (domain, occurred_at) index.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.db_types import UtcDateTime, string_enum
from app.extensions import db


class EventType(str, enum.Enum):
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


class ReputationEvent(db.Model):
    __tablename__ = "reputation_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        Index("ix_reputation_events_domain_occurred", "domain_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    type: Mapped[EventType] = mapped_column(string_enum(EventType, "reputation_event_type"))
    account: Mapped[str | None] = mapped_column(String(320))  # the sending address
    region: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))  # the sending IP, never a reader's
    bounce_class: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
