"""Who is acting, in which workspace, with which role: passed explicitly to services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import PermissionDenied
from app.workspaces.roles import Role

if TYPE_CHECKING:
    from app.auth.models import User
    from app.workspaces.models import Workspace


@dataclass(frozen=True)
class Actor:
    user: "User | None"
    workspace: "Workspace"
    role: Role
    ip: str | None = None
    via: str = "web"

    @classmethod
    def system(cls, workspace: "Workspace", via: str) -> "Actor":
        """The platform itself (a CLI command, a job), acting with owner rights."""
        return cls(user=None, workspace=workspace, role=Role.OWNER, via=via)

    @property
    def label(self) -> str:
        return self.user.email if self.user else f"system ({self.via})"

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    def require_write(self) -> None:
        if not self.role.can_write:
            raise PermissionDenied(
                "Your role in this workspace is viewer: you can look but not change anything.",
                code="role_read_only",
            )

    def require_admin(self) -> None:
        if not self.role.can_administer:
            raise PermissionDenied(
                "Only owners and admins of this workspace can do this.", code="role_admin_required"
            )
