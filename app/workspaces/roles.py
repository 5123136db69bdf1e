"""Workspace roles and what each may do; pure so views, API and CLI share one rule."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Role") -> bool:
        return self.rank >= other.rank

    @property
    def can_write(self) -> bool:
        """Viewers read; every other role may change the workspace's sending setup."""
        return self.at_least(Role.MEMBER)

    @property
    def can_administer(self) -> bool:
        """Owners and admins manage members, tokens and read the audit log."""
        return self.at_least(Role.ADMIN)

    def may_grant(self, role: "Role") -> bool:
        """Only an owner makes owners; admins may grant up to admin."""
        return self.can_administer and self.at_least(role)

    @classmethod
    def parse(cls, raw: str) -> "Role":
        try:
            return cls(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {raw!r}; use one of {allowed}") from None


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
