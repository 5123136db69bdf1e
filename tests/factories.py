"""Row factories: tests build the rows they need, nothing shared between tests."""

from __future__ import annotations

import functools
from datetime import timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.auth.models import ApiToken, User
from app.auth.passwords import hash_password
from app.core.clock import utcnow
from app.core.tokens import digest
from app.extensions import db
from app.workspaces.models import Invitation, Membership, Workspace
from app.workspaces.roles import Role

PASSWORD = "a-long-test-password"


@functools.cache
def _password_hash() -> str:
    # Argon2 is deliberately slow; hashing once per run keeps factories fast.
    return hash_password(PASSWORD)


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class WorkspaceFactory(_Base):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class UserFactory(_Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password_hash = factory.LazyFunction(_password_hash)


class MembershipFactory(_Base):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = Role.OWNER


class InvitationFactory(_Base):
    """A pending invitation; pass `revoked_at`, `accepted_at` or a past `expires_at` to close it."""

    class Meta:
        model = Invitation

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.MEMBER
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=7))


def member(role: Role = Role.OWNER, workspace: Workspace | None = None, **user_fields) -> User:
    """A user with `role` in `workspace` (a new one when not given)."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, workspace=workspace or WorkspaceFactory(), role=role)
    return user


def api_token(user: User, workspace: Workspace, secret: str = "pmd_test-secret") -> str:
    token = ApiToken(workspace_id=workspace.id, user=user, name="test", token_hash=digest(secret),
                     token_hint=secret[-4:])
    db.session.add(token)
    db.session.flush()
    return secret
