"""API tokens: shown once at creation, stored as a digest, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.audit import service as audit
from app.auth.models import ApiToken
from app.core.clock import utcnow
from app.core.tokens import digest, new_secret
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.workspaces.actor import Actor

TOKEN_PREFIX = "pmd"
# Writing last_used_at on every request would turn reads into writes; a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_snapshot(token: ApiToken) -> dict:
    return {"name": token.name, "hint": token.token_hint, "user": token.user.email}


def create_token(actor: Actor, name: str) -> tuple[ApiToken, str]:
    """Returns the row and the secret; the secret is not kept anywhere."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Name the token (1-100 characters) so you can recognise it later.",
                               fields={"name": "Required, at most 100 characters."})
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(workspace_id=actor.workspace.id, user=actor.user, name=name,
                     token_hash=digest(secret), token_hint=secret[-4:])
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "api_token.created", "api_token", token.id, after=token_snapshot(token))
    return token, secret


def visible_tokens(actor: Actor) -> list[ApiToken]:
    """Admins see every token of the workspace; others only their own."""
    query = select(ApiToken).where(ApiToken.workspace_id == actor.workspace.id)
    if not actor.role.can_administer:
        query = query.where(ApiToken.user_id == actor.user_id)
    return list(db.session.scalars(query.order_by(ApiToken.created_at.desc())))


def revoke_token(actor: Actor, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.workspace_id != actor.workspace.id or (
        token.user_id != actor.user_id and not actor.role.can_administer
    ):
        raise NotFound("No such API token in this workspace.")
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.", code="token_revoked")
    token.revoked_at = utcnow()
    db.session.flush()
    audit.record(actor, "api_token.revoked", "api_token", token.id, before=token_snapshot(token))
    return token


def token_for_secret(secret: str) -> ApiToken | None:
    """The active token behind a bearer secret, marking it used.

    Its user and workspace come in the same query: every API request needs both.
    """
    token = db.session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user, innerjoin=True),
                 joinedload(ApiToken.workspace, innerjoin=True))
        .where(ApiToken.token_hash == digest(secret))
    )
    if token is None or token.revoked_at is not None or token.user.is_disabled:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token
