"""Delivery events as the MTA and the tracking endpoints report them, one row each.

The shape is the event ingestion API's (`{domain, account?, region?, ip?, type, bounce_class?,
at}`). `event_id` is the sender's idempotency key: a replayed event is the same row, never a
second one. Roll-ups read per-domain time ranges, hence the (domain, occurred_at) index, and
find what arrived since their last run by `received_at`.

`ReputationStat` is the daily roll-up the score and the charts read: one row per domain and
UTC day for all its events (`scope` "all"), plus one per region and one per sending IP seen
that day. Rows are only ever replaced wholesale for a (domain, day), never updated in place.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
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
        Index("ix_reputation_events_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100))
    # No foreign key: the domain's (below) already ties the row to its workspace and removes
    # it with the workspace, and a second per-row check costs a fifth of a batch's insert.
    workspace_id: Mapped[int] = mapped_column(Integer)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    type: Mapped[EventType] = mapped_column(string_enum(EventType, "reputation_event_type"))
    account: Mapped[str | None] = mapped_column(String(320))  # the sending address
    region: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))  # the sending IP, never a reader's
    bounce_class: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StatScope(str, enum.Enum):
    ALL = "all"        # every event of the domain that day
    REGION = "region"  # events that named this region
    IP = "ip"          # events that named this sending IP


class ReputationStat(db.Model):
    """One domain's events of one UTC day, counted by type (a roll-up, recomputable)."""

    __tablename__ = "reputation_stats"
    __table_args__ = (Index("ix_reputation_stats_domain_scope_day", "domain_id", "scope", "day"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    scope: Mapped[StatScope] = mapped_column(string_enum(StatScope, "reputation_stat_scope"))
    region: Mapped[str | None] = mapped_column(String(32))  # scope region only
    ip: Mapped[str | None] = mapped_column(String(45))  # scope ip only
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    hard_bounced: Mapped[int] = mapped_column(Integer, default=0)
    soft_bounced: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
