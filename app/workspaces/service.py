"""Workspace use cases: create, rename, invite, accept, change roles, remove members."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from app.audit import service as audit
from app.auth.models import User
from app.core.clock import utcnow
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.jobs.queues import enqueue_after_commit
from app.workspaces.actor import Actor
from app.workspaces.models import Invitation, Membership, Workspace
from app.workspaces.roles import Role

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = {"new", "admin", "api", "static", "login", "logout", "healthz"}


def slug_problem(slug: str) -> str | None:
    if not SLUG_PATTERN.match(slug):
        return ("Use 1-63 lower-case letters, digits and hyphens, "
                "starting and ending with a letter or digit.")
    if slug in RESERVED_SLUGS:
        return f"“{slug}” is reserved; choose another."
    return None


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "workspace"


def _unique_slug(base: str) -> str:
    candidate, n = base, 2
    while candidate in RESERVED_SLUGS or Workspace.by_slug(candidate) is not None:
        suffix = f"-{n}"
        candidate = base[: 63 - len(suffix)] + suffix
        n += 1
    return candidate


def membership_snapshot(membership: Membership) -> dict:
    return {"user": membership.user.email, "role": membership.role.value}


def create_workspace(owner: User, name: str, slug: str | None = None, *, ip: str | None = None,
                     via: str = "web") -> Workspace:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Give the workspace a name of 1-200 characters.",
                               fields={"name": "Required, at most 200 characters."})
    if slug:
        slug = slug.strip().lower()
        problem = slug_problem(slug)
        if problem:
            raise ValidationFailed(problem, fields={"slug": problem})
        if Workspace.by_slug(slug) is not None:
            raise Conflict(f"The address “{slug}” is taken; choose another.", code="slug_taken",
                           fields={"slug": "Already taken."})
    else:
        slug = _unique_slug(slugify(name))
    workspace = Workspace(name=name, slug=slug)
    membership = Membership(workspace=workspace, user=owner, role=Role.OWNER)
    db.session.add_all([workspace, membership])
    db.session.flush()
    actor = Actor(user=owner, workspace=workspace, role=Role.OWNER, ip=ip, via=via)
    audit.record(actor, "workspace.created", "workspace", workspace.id,
                 after={"name": name, "slug": slug})
    return workspace


def rename_workspace(actor: Actor, name: str) -> Workspace:
    actor.require_admin()
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Give the workspace a name of 1-200 characters.",
                               fields={"name": "Required, at most 200 characters."})
    workspace = actor.workspace
    before = {"name": workspace.name}
    if workspace.name != name:
        workspace.name = name
        db.session.flush()
        audit.record(actor, "workspace.renamed", "workspace", workspace.id,
                     before=before, after={"name": name})
    return workspace


def add_member(actor: Actor, user: User, role: Role) -> Membership:
    """Directly add an existing user (used by the CLI and by accepted invitations)."""
    existing = user.membership_in(actor.workspace.id)
    if existing is not None:
        return existing
    membership = Membership(workspace=actor.workspace, user=user, role=role)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "member.added", "membership", membership.id,
                 after=membership_snapshot(membership))
    return membership


def members(actor: Actor) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).join(User)
        .where(Membership.workspace_id == actor.workspace.id)
        .order_by(User.email)
    ))


def get_membership(actor: Actor, membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.workspace_id != actor.workspace.id:
        raise NotFound("No such member in this workspace.")
    return membership


def _owner_count(workspace_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
    ) or 0


def _guard_member_change(actor: Actor, membership: Membership) -> None:
    actor.require_admin()
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change or remove another owner.",
                               code="owner_required")


def change_role(actor: Actor, membership_id: int, role: Role) -> Membership:
    membership = get_membership(actor, membership_id)
    _guard_member_change(actor, membership)
    if not actor.role.may_grant(role):
        raise PermissionDenied(f"Your role cannot grant the {role.value} role.",
                               code="role_not_grantable")
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(actor.workspace.id) == 1:
        raise Conflict("A workspace needs at least one owner: make someone else owner first.",
                       code="last_owner")
    before = membership_snapshot(membership)
    if membership.role != role:
        membership.role = role
        db.session.flush()
        audit.record(actor, "member.role_changed", "membership", membership.id,
                     before=before, after=membership_snapshot(membership))
    return membership


def remove_member(actor: Actor, membership_id: int) -> None:
    membership = get_membership(actor, membership_id)
    if membership.user_id != actor.user_id:
        _guard_member_change(actor, membership)
    if membership.role == Role.OWNER and _owner_count(actor.workspace.id) == 1:
        raise Conflict("A workspace needs at least one owner: make someone else owner first.",
                       code="last_owner")
    before = membership_snapshot(membership)
    db.session.delete(membership)
    db.session.flush()
    audit.record(actor, "member.removed", "membership", membership_id, before=before)


# --- invitations -------------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="workspace-invitation")


def invitation_token(invitation: Invitation) -> str:
    return _serializer().dumps([invitation.id, invitation.email])


def invitation_snapshot(invitation: Invitation) -> dict:
    return {"email": invitation.email, "role": invitation.role.value,
            "expires_at": invitation.expires_at.isoformat()}


def invite(actor: Actor, email: str, role: Role) -> Invitation:
    actor.require_admin()
    email = email.strip().lower()
    if not actor.role.may_grant(role):
        raise PermissionDenied(f"Your role cannot invite someone as {role.value}.",
                               code="role_not_grantable")
    existing_user = User.by_email(email)
    if existing_user and existing_user.membership_in(actor.workspace.id):
        raise Conflict(f"{email} is already a member of this workspace.", code="already_member",
                       fields={"email": "Already a member."})
    pending = db.session.scalar(select(Invitation).where(
        Invitation.workspace_id == actor.workspace.id, Invitation.email == email,
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
        Invitation.expires_at > utcnow()))
    if pending is not None:
        raise Conflict(f"{email} already has a pending invitation; revoke it to send a new one.",
                       code="already_invited", fields={"email": "Already invited."})
    invitation = Invitation(
        workspace=actor.workspace, email=email, role=role, invited_by_id=actor.user_id,
        expires_at=utcnow() + timedelta(hours=current_app.config["INVITATION_TTL_HOURS"]),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(actor, "invitation.created", "invitation", invitation.id,
                 after=invitation_snapshot(invitation))
    enqueue_after_commit("app.workspaces.tasks.send_invitation_email", invitation.id, queue="mail")
    return invitation


def pending_invitations(actor: Actor) -> list[Invitation]:
    actor.require_admin()
    return list(db.session.scalars(
        select(Invitation).where(Invitation.workspace_id == actor.workspace.id,
                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc())
    ))


def revoke_invitation(actor: Actor, invitation_id: int) -> None:
    actor.require_admin()
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.workspace_id != actor.workspace.id:
        raise NotFound("No such invitation in this workspace.")
    if invitation.state != "pending":
        raise Conflict(f"This invitation is already {invitation.state}.", code="invitation_closed")
    invitation.revoked_at = utcnow()
    db.session.flush()
    audit.record(actor, "invitation.revoked", "invitation", invitation.id,
                 before=invitation_snapshot(invitation))


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation a link points at, or a NotFound that says why."""
    try:
        invitation_id, email = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound("This invitation link is not valid. Ask for a new invitation.",
                       code="invitation_invalid") from None
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.email != email:
        raise NotFound("This invitation link is not valid. Ask for a new invitation.",
                       code="invitation_invalid")
    if invitation.state != "pending":
        raise NotFound(f"This invitation is {invitation.state}. Ask for a new invitation.",
                       code=f"invitation_{invitation.state}")
    return invitation


def accept_invitation(invitation: Invitation, user: User, *, ip: str | None = None) -> Membership:
    if user.email.lower() != invitation.email:
        raise PermissionDenied(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}.",
            code="invitation_wrong_user")
    invitation.accepted_at = utcnow()
    actor = Actor(user=user, workspace=invitation.workspace, role=invitation.role, ip=ip)
    existing = user.membership_in(invitation.workspace_id)
    if existing is not None:
        return existing
    membership = Membership(workspace=invitation.workspace, user=user, role=invitation.role)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "invitation.accepted", "membership", membership.id,
                 after=membership_snapshot(membership))
    return membership
