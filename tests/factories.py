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
from app.core.dkim import generate_key
from app.domains.models import DkimKey, Domain, DomainStatus, EmailAccount, KeyState
from app.extensions import db
from app.workspaces.models import Invitation, Membership, Workspace
from app.workspaces.roles import Role

PASSWORD = "a-long-test-password"


@functools.cache
def _password_hash() -> str:
    # Argon2 is deliberately slow; hashing once per run keeps factories fast.
    return hash_password(PASSWORD)


@functools.cache
def _rsa_public_key() -> str:
    # RSA key generation takes a while; rows only need a well-formed public key.
    return generate_key("rsa", 2048).public_key_b64


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


class DomainFactory(_Base):
    """A domain as "add domain" leaves it: past step 1, no key (add one where needed)."""

    class Meta:
        model = Domain

    workspace = factory.SubFactory(WorkspaceFactory)
    fqdn = factory.Sequence(lambda n: f"domain{n}.example")
    verification_token = factory.Sequence(lambda n: f"pm-verify-{n:032x}")
    return_path_label = "pm-bounces"
    setup_step = 2


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


class EmailAccountFactory(_Base):
    class Meta:
        model = EmailAccount

    domain = factory.SubFactory(DomainFactory, status=DomainStatus.VERIFIED)
    workspace_id = factory.LazyAttribute(lambda account: account.domain.workspace_id)
    local_part = factory.Sequence(lambda n: f"sender{n}")


class DkimKeyFactory(_Base):
    """A domain's signing key as verification leaves it: active, no private key stored."""

    class Meta:
        model = DkimKey

    domain = factory.SubFactory(DomainFactory, status=DomainStatus.VERIFIED)
    workspace_id = factory.LazyAttribute(lambda key: key.domain.workspace_id)
    selector = "pm1"
    algorithm = "rsa-2048"
    state = KeyState.ACTIVE
    public_key = factory.LazyFunction(_rsa_public_key)
    activated_at = factory.LazyFunction(utcnow)
