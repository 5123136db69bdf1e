"""Accounts: creating users, signing in (throttled), signing up through an invitation."""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email

from app.audit import service as audit
from app.auth import throttle
from app.auth.models import User
from app.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from app.core.clock import utcnow
from app.errors import AppError, Conflict, ValidationFailed
from app.extensions import db
from app.workspaces import service as workspaces
from app.workspaces.models import Invitation, Membership



@functools.cache
def _dummy_hash() -> str:
    """Verifying against a real hash when the email is unknown keeps timing the same."""
    return hash_password("not-a-real-password-0123456789")


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(f"That email address is not valid: {exc}",
                               fields={"email": str(exc)}) from None


def create_user(email: str, password: str, *, name: str = "", platform_admin: bool = False) -> User:
    email = normalise_email(email)
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(f"Password refused: {problem}", fields={"password": problem})
    if User.by_email(email) is not None:
        raise Conflict(f"An account for {email} already exists.", code="email_taken",
                       fields={"email": "Already registered."})
    user = User(email=email, name=name.strip(), password_hash=hash_password(password),
                is_platform_admin=platform_admin)
    db.session.add(user)
    db.session.flush()
    audit.append("user.created", "user", user.id, workspace_id=None, actor_id=None,
                 actor_label="system", after={"email": email, "platform_admin": platform_admin})
    return user


def authenticate(email: str, password: str, ip: str | None) -> User:
    """The user these credentials belong to; raises with a message the form can show."""
    email = email.strip().lower()
    throttle.check_allowed(email, ip)
    user = User.by_email(email) if email else None
    valid = verify_password(user.password_hash if user else _dummy_hash(), password)
    if not valid or user is None or user.is_disabled:
        left = throttle.record_failure(email, ip)
        audit.append("user.login_failed", "user", user.id if user else None, workspace_id=None,
                     actor_id=None, actor_label=email[:254] or "(blank)", ip=ip)
        hint = (f" {left} attempt{'s' if left != 1 else ''} left before sign-in is locked."
                if left else " Sign-in is now locked for a while.")
        raise AppError("Email or password is not right." + hint, code="invalid_credentials")
    throttle.record_success(email)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit.append("user.logged_in", "user", user.id, workspace_id=None, actor_id=user.id,
                 actor_label=user.email, ip=ip)
    return user


def sign_up_with_invitation(invitation: Invitation, name: str, password: str,
                            ip: str | None = None) -> tuple[User, Membership]:
    """Create the invited person's account and membership in one step."""
    user = create_user(invitation.email, password, name=name)
    membership = workspaces.accept_invitation(invitation, user, ip=ip)
    return user, membership


def change_password(user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ValidationFailed("Your current password is not right.",
                               fields={"current_password": "Not right."})
    problem = password_problem(new)
    if problem:
        raise ValidationFailed(f"Password refused: {problem}", fields={"new_password": problem})
    user.password_hash = hash_password(new)
    db.session.flush()
    audit.append("user.password_changed", "user", user.id, workspace_id=None, actor_id=user.id,
                 actor_label=user.email)
