"""Sending domains (and subdomains), their DKIM keys, DNS observations and accounts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.db_types import UtcDateTime, string_enum
from app.errors import NotFound
from app.extensions import db


class DomainStatus(str, enum.Enum):
    PENDING = "pending"        # added, records not yet checked
    VERIFYING = "verifying"    # checks running on the back-off schedule
    VERIFIED = "verified"
    FAILED = "failed"          # not verified within the verification window
    SUSPENDED = "suspended"    # taken out of sending by the platform


class KeyState(str, enum.Enum):
    GENERATING = "generating"  # row exists, the key job has not stored a key yet
    PENDING = "pending"        # key stored, waiting to be seen in DNS
    ACTIVE = "active"          # signs mail
    RETIRING = "retiring"      # replaced, still published for mail in flight
    RETIRED = "retired"        # safe to remove from DNS; private key destroyed


class Domain(db.Model):
    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("workspace_id", "fqdn"),
        Index("ix_domains_fqdn_status", "fqdn", "status"),
        Index("ix_domains_workspace_group", "workspace_id", "group_name"),
        # The tree: a workspace's top level and a node's children, in name order, from the index.
        Index("ix_domains_workspace_parent_fqdn", "workspace_id", "parent_id", "fqdn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                                  index=True)
    fqdn: Mapped[str] = mapped_column(String(253))
    status: Mapped[DomainStatus] = mapped_column(string_enum(DomainStatus, "domain_status"),
                                                 default=DomainStatus.PENDING)
    verification_token: Mapped[str] = mapped_column(String(64))
    dmarc_policy: Mapped[str] = mapped_column(String(16), default="none")
    return_path_label: Mapped[str | None] = mapped_column(String(63))
    tracking_label: Mapped[str | None] = mapped_column(String(63))
    setup_step: Mapped[int] = mapped_column(Integer, default=1)
    # Rotate the DKIM key this many days after it went active; None: only by hand.
    dkim_rotation_days: Mapped[int | None] = mapped_column(Integer)
    # One group per domain (a team, a client): filters the tree, dashboard and API.
    group_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    verification_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    workspace: Mapped["Workspace"] = relationship()  # noqa: F821
    parent: Mapped["Domain | None"] = relationship(remote_side="Domain.id")
    keys: Mapped[list["DkimKey"]] = relationship(back_populates="domain",
                                                 order_by="DkimKey.created_at")
    # Read-only: app.domains.tags writes the rows; the database deletes them with the domain.
    tag_rows: Mapped[list["DomainTag"]] = relationship(viewonly=True, order_by="DomainTag.tag")

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @classmethod
    def get_for(cls, workspace_id: int, domain_id: int) -> "Domain":
        """The domain if it belongs to this workspace; otherwise NotFound, never another's."""
        domain = db.session.scalar(select(cls).where(cls.id == domain_id,
                                                     cls.workspace_id == workspace_id))
        if domain is None:
            raise NotFound("No such domain in this workspace.")
        return domain

    @property
    def ancestors(self) -> list["Domain"]:
        """Parent first, then its parent, up to the top-level domain (a few levels at most)."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def subtree_ids(self) -> list[int]:
        """The ids of every subdomain below this one, at any depth (not this one's own id).

        One recursive query, so deleting or aggregating a large tree does not walk it row by row.
        """
        below = select(Domain.id).where(Domain.parent_id == self.id).cte("subtree",
                                                                          recursive=True)
        below = below.union_all(select(Domain.id).where(Domain.parent_id == below.c.id))
        return list(db.session.scalars(select(below.c.id)))


class DkimKey(db.Model):
    """One signing key; the private half lives in the key store, only its reference here."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain_id", "selector"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(16), default="rsa-2048")
    region: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[KeyState] = mapped_column(string_enum(KeyState, "dkim_key_state"),
                                            default=KeyState.GENERATING)
    public_key: Mapped[str | None] = mapped_column(String(1400))
    private_key_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retiring_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retire_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    domain: Mapped[Domain] = relationship(back_populates="keys")

    @property
    def key_type(self) -> str:
        """The DKIM `k=` value: ed25519 for Ed25519 keys, rsa for every RSA size."""
        return "ed25519" if self.algorithm == "ed25519" else "rsa"


class DnsSnapshot(db.Model):
    """What one verification run observed, record by record (append-only history)."""

    __tablename__ = "dns_snapshots"
    __table_args__ = (Index("ix_dns_snapshots_domain_checked", "domain_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    results: Mapped[list] = mapped_column(JSON)


class DomainTag(db.Model):
    """A free-form label on a domain (team, client, campaign) to filter lists by."""

    __tablename__ = "domain_tags"
    __table_args__ = (Index("ix_domain_tags_workspace_tag", "workspace_id", "tag"),)

    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                           primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class EmailAccount(db.Model):
    """A sending identity (local part) under a verified domain."""

    __tablename__ = "email_accounts"
    __table_args__ = (UniqueConstraint("domain_id", "local_part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    local_part: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    daily_limit: Mapped[int] = mapped_column(Integer, default=1000)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    domain: Mapped[Domain] = relationship()
