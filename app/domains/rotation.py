"""DKIM key rotation with a Postmark-style lifecycle.

pending (new selector, waiting to be seen in DNS) → active (signing switches) → the old
key retiring for a grace period → retired ("safe to remove from DNS", private key
destroyed). Signing never switches to a key that not every authoritative nameserver serves.
An extra Ed25519 key for dual signing goes from pending to active the same way, beside the
RSA key: keys only ever replace keys of their own type.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit import service as audit
from app.core.clock import utcnow
from app.domains.models import DkimKey, Domain, DomainStatus, KeyState
from app.domains.service import DUAL_SIGNING_ALGORITHM, KEY_ALGORITHMS
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.jobs.queues import enqueue_after_commit
from app.workspaces.actor import Actor

SELECTOR_NUMBER = re.compile(r"^pm(\d+)$")
MAX_ROTATION_DAYS = 3650


def key_snapshot(key: DkimKey) -> dict:
    return {"selector": key.selector, "algorithm": key.algorithm, "state": key.state.value}


def next_selector(domain: Domain) -> str:
    """pm1 → pm2 …: a new selector each time, so old and new keys coexist in DNS."""
    numbers = [int(m.group(1)) for k in domain.keys if (m := SELECTOR_NUMBER.match(k.selector))]
    return f"pm{max(numbers, default=0) + 1}"


def _active_key(domain: Domain) -> DkimKey | None:
    return next((k for k in domain.keys if k.state == KeyState.ACTIVE and k.key_type == "rsa"),
                None)


def _rotating(domain: Domain) -> bool:
    """A new RSA key is on its way in; an extra Ed25519 key waiting for DNS is no rotation."""
    return any(k.key_type == "rsa" and k.state in (KeyState.GENERATING, KeyState.PENDING)
               for k in domain.keys)


def _insert_key(domain: Domain, algorithm: str) -> DkimKey:
    """A new key row under the next selector; two requests racing for it get a clear 409."""
    key = DkimKey(workspace_id=domain.workspace_id, domain_id=domain.id,
                  selector=next_selector(domain), algorithm=algorithm)
    try:
        with db.session.begin_nested():
            db.session.add(key)
    except IntegrityError:
        raise Conflict("Another key change for this domain was just started; reload the page.",
                       code="key_change_in_progress") from None
    return key


def start_rotation(actor: Actor, domain: Domain) -> DkimKey:
    """Create the next key under a new selector; it signs only once DNS serves it."""
    actor.require_write()
    active = _active_key(domain)
    if domain.status != DomainStatus.VERIFIED or active is None:
        raise Conflict("Only a verified domain with an active key can rotate; verify it first.",
                       code="rotation_needs_active_key")
    if _rotating(domain):
        raise Conflict("A rotation is already under way: publish the new key's record and it "
                       "takes over once every nameserver serves it.", code="rotation_in_progress")
    key = _insert_key(domain, active.algorithm)
    audit.record(actor, "dkim_key.rotation_started", "dkim_key", key.id,
                 before=key_snapshot(active), after=key_snapshot(key))
    enqueue_after_commit("app.domains.tasks.generate_dkim_key", key.id, queue="keys")
    return key


def add_dual_signing_key(actor: Actor, domain: Domain, algorithm: str) -> DkimKey:
    """Add the extra Ed25519 key that signs beside the RSA key, under a new selector.

    Never alone: the domain must have an active or pending RSA key. RSA keys are not added
    but replaced, by rotation. Like any new key it signs only once DNS serves it.
    """
    actor.require_write()
    if algorithm in KEY_ALGORITHMS:
        raise ValidationFailed("A domain signs with one RSA key: use rotate to replace the RSA "
                               "key. Only an extra ed25519 key can be added.",
                               code="dkim_use_rotate",
                               fields={"algorithm": "Use rotate to replace the RSA key."})
    if algorithm != DUAL_SIGNING_ALGORITHM:
        raise ValidationFailed(f"Only an {DUAL_SIGNING_ALGORITHM} key can be added beside the "
                               "RSA key.", code="dkim_algorithm_refused",
                               fields={"algorithm": f"Use {DUAL_SIGNING_ALGORITHM}."})
    if not any(k.key_type == "rsa" and k.state in (KeyState.ACTIVE, KeyState.PENDING)
               for k in domain.keys):
        raise Conflict(f"An Ed25519 key signs only beside an RSA key, and {domain.fqdn} has no "
                       "active or pending RSA key yet (many receivers ignore Ed25519 "
                       "signatures). Wait until its RSA key has been generated, then add the "
                       "Ed25519 key.", code="ed25519_needs_rsa_key")
    existing = next((k for k in domain.keys if k.key_type == "ed25519" and k.state in (
        KeyState.GENERATING, KeyState.PENDING, KeyState.ACTIVE)), None)
    if existing is not None:
        raise Conflict(f"{domain.fqdn} already has an Ed25519 key (selector {existing.selector}, "
                       f"{existing.state.value}); one signs beside the RSA key, a second would "
                       "add nothing.", code="ed25519_key_exists")
    key = _insert_key(domain, DUAL_SIGNING_ALGORITHM)
    audit.record(actor, "dkim_key.added", "dkim_key", key.id, after=key_snapshot(key))
    enqueue_after_commit("app.domains.tasks.generate_dkim_key", key.id, queue="keys")
    return key


def set_rotation_cadence(actor: Actor, domain: Domain, days: int | None) -> Domain:
    actor.require_write()
    if days is not None and not 1 <= days <= MAX_ROTATION_DAYS:
        raise ValidationFailed(f"Rotate every 1 to {MAX_ROTATION_DAYS} days, or never (null).",
                               code="rotation_cadence_out_of_range",
                               fields={"dkim_rotation_days": "Out of range."})
    before = {"dkim_rotation_days": domain.dkim_rotation_days}
    domain.dkim_rotation_days = days
    db.session.flush()
    audit.record(actor, "domain.rotation_cadence_changed", "domain", domain.id, before=before,
                 after={"dkim_rotation_days": days})
    return domain


def promote(domain: Domain, new_key: DkimKey, actor: Actor) -> None:
    """The new key is in DNS everywhere: it signs from now on, the old one starts retiring."""
    now = utcnow()
    grace = timedelta(days=current_app.config["DKIM_RETIRING_DAYS"])
    for old in domain.keys:
        if old.state == KeyState.ACTIVE and old.key_type == new_key.key_type and old is not new_key:
            old.state = KeyState.RETIRING
            old.retiring_at = now
            old.retire_after = now + grace
            audit.record(actor, "dkim_key.retiring", "dkim_key", old.id, after=key_snapshot(old))
    new_key.state = KeyState.ACTIVE
    new_key.activated_at = now
    audit.record(actor, "dkim_key.activated", "dkim_key", new_key.id, after=key_snapshot(new_key))


def retire(key: DkimKey, actor: Actor) -> str | None:
    """End of the grace period: the key is safe to remove from DNS; returns its key-store ref
    so the caller destroys the private half after the commit."""
    ref = key.private_key_ref
    key.state = KeyState.RETIRED
    key.retired_at = utcnow()
    key.private_key_ref = None
    audit.record(actor, "dkim_key.retired", "dkim_key", key.id, after=key_snapshot(key))
    return ref


def pending_rotations() -> list[DkimKey]:
    """Keys with material, waiting to be seen in DNS, on domains that already sign."""
    return list(db.session.scalars(
        select(DkimKey).join(Domain).where(DkimKey.state == KeyState.PENDING,
                                           DkimKey.public_key.is_not(None),
                                           Domain.status == DomainStatus.VERIFIED)))


def retiring_due() -> list[DkimKey]:
    return list(db.session.scalars(select(DkimKey).where(
        DkimKey.state == KeyState.RETIRING, DkimKey.retire_after <= utcnow())))


def rotation_due() -> list[Domain]:
    """Verified domains whose active key is older than their cadence and not rotating yet."""
    candidates = db.session.scalars(select(Domain).where(
        Domain.status == DomainStatus.VERIFIED, Domain.dkim_rotation_days.is_not(None)))
    due = []
    for domain in candidates:
        active = _active_key(domain)
        if active and active.activated_at and not _rotating(domain) and (
                utcnow() - active.activated_at >= timedelta(days=domain.dkim_rotation_days)):
            due.append(domain)
    return due
