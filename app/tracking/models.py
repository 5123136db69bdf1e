"""Tracking hosts with their certificates, our ACME accounts, and the links tracked per message.

A certificate's private key lives in the key store; only its reference is kept here, beside
the (public) certificate chain.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.db_types import UtcDateTime, string_enum
from app.errors import NotFound
from app.extensions import db


class HostStatus(str, enum.Enum):
    PENDING = "pending"    # waiting for the CNAME to reach us (or for the domain's verification)
    ISSUING = "issuing"    # the CNAME reaches us; a certificate order is under way
    ACTIVE = "active"      # serving over HTTPS with a valid certificate
    EXPIRING = "expiring"  # the certificate ends within TRACKING_ALERT_DAYS and renewal fails
    FAILED = "failed"      # no valid certificate; the error says what the CA answered


class TrackingHost(db.Model):
    """A customer's branded host for click and open tracking, a CNAME to the platform's.

    A host name is served by exactly one workspace, so it is unique across all of them.
    """

    __tablename__ = "tracking_hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                           index=True)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[HostStatus] = mapped_column(string_enum(HostStatus, "tracking_host_status"),
                                               default=HostStatus.PENDING)
    # What the last DNS check found wrong (CNAME, CAA): Finding.to_dict() each.
    findings: Mapped[list] = mapped_column(JSON, default=list)
    # The last failed certificate order, in plain words, with what to do about it.
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_fix: Mapped[str | None] = mapped_column(Text)
    # Consecutive failures (DNS or CA) and when the next attempt is due (the back-off).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    certificate_chain: Mapped[str | None] = mapped_column(Text)  # leaf first, PEM
    private_key_ref: Mapped[str | None] = mapped_column(String(200))
    certificate_serial: Mapped[str | None] = mapped_column(String(64))
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expiry_alerted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    domain: Mapped["Domain"] = relationship()  # noqa: F821

    @classmethod
    def get_for(cls, workspace_id: int, host_id: int) -> "TrackingHost":
        """The host if it belongs to this workspace; otherwise NotFound, never another's."""
        host = db.session.scalar(select(cls).where(cls.id == host_id,
                                                   cls.workspace_id == workspace_id))
        if host is None:
            raise NotFound("No such tracking host in this workspace.")
        return host

    @property
    def has_certificate(self) -> bool:
        return bool(self.certificate_chain and self.private_key_ref)


class AcmeAccount(db.Model):
    """Our account at one ACME directory; its key is in the key store."""

    __tablename__ = "acme_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    directory_url: Mapped[str] = mapped_column(String(500), unique=True)
    key_ref: Mapped[str] = mapped_column(String(200))
    uri: Mapped[str | None] = mapped_column(String(500))  # the account URL the CA gave
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TrackedMessage(db.Model):
    """One message whose links the MTA had rewritten; the open pixel names it."""

    __tablename__ = "tracked_messages"
    __table_args__ = (UniqueConstraint("domain_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(255))
    account: Mapped[str | None] = mapped_column(String(320))
    hostname: Mapped[str] = mapped_column(String(253))  # where its links point
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    links: Mapped[list["TrackedLink"]] = relationship(back_populates="message",
                                                      order_by="TrackedLink.position")


class TrackedLink(db.Model):
    """One URL of one message: the only place its click token can lead."""

    __tablename__ = "tracked_links"
    __table_args__ = (UniqueConstraint("tracked_message_id", "url_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    tracked_message_id: Mapped[int] = mapped_column(
        ForeignKey("tracked_messages.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    url_digest: Mapped[str] = mapped_column(String(64))  # sha256 of url: unique per message
    position: Mapped[int] = mapped_column(Integer)

    message: Mapped[TrackedMessage] = relationship(back_populates="links")
