"""People who sign in, and the API tokens they create."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.db_types import UtcDateTime
from app.extensions import db
from app.workspaces.models import Membership, Workspace


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of disabled users
        return not self.is_disabled

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        return db.session.scalar(select(cls).where(func.lower(cls.email) == email.strip().lower()))

    def membership_in(self, workspace_id: int) -> Membership | None:
        return db.session.scalar(
            select(Membership).where(
                Membership.user_id == self.id, Membership.workspace_id == workspace_id
            )
        )

    def workspace_by_slug(self, slug: str) -> tuple[Workspace, Membership] | None:
        """The workspace at `slug` with this user's membership; None when not a member."""
        row = db.session.execute(
            select(Workspace, Membership)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Workspace.slug == slug, Membership.user_id == self.id)
        ).first()
        return (row[0], row[1]) if row else None

    def workspaces(self) -> list[tuple[Workspace, Membership]]:
        rows = db.session.execute(
            select(Workspace, Membership)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == self.id)
            .order_by(Workspace.name)
        )
        return [(ws, m) for ws, m in rows]


class ApiToken(db.Model):
    """A bearer token acting as one user inside one workspace; only its digest is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()
    workspace: Mapped[Workspace] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
