"""Background jobs of domain onboarding: key generation, verification runs, key disposal."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, render_template, url_for
from sqlalchemy import select

from app.adapters import mail
from app.adapters.dns import DnsConfig, Resolver
from app.adapters.keystore import SecretNotFound
from app.audit import service as audit
from app.core import dkim
from app.core.backoff import next_check_in
from app.core.clock import utcnow
from app.core.records import Purpose
from app.core.verification import all_found
from app.domains import rotation, service
from app.domains.checks import run_checks
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainStatus, KeyState
from app.extensions import db, keystore
from app.jobs.queues import enqueue, enqueue_after_commit, get_queue
from app.jobs.runtime import job
from app.workspaces.actor import Actor
from app.workspaces.models import Membership
from app.workspaces.roles import Role

# While the key job has not run yet there is nothing to check DNS for; look again soon.
KEY_NOT_READY_RETRY = timedelta(seconds=20)


def resolver_from_config() -> Resolver:
    return Resolver(DnsConfig.from_settings(current_app.config))


def _system_actor(domain: Domain) -> Actor:
    return Actor.system(domain.workspace, "job")


@job
def generate_dkim_key(key_id: int) -> str | None:
    """Create the key pair, put the private half in the key store; safe to run twice."""
    key = db.session.get(DkimKey, key_id)
    if key is None or key.public_key:
        return None
    # No fallback: a key generated as another type than its row says would never verify.
    algorithm, bits = service.GENERATED_KEY_ALGORITHMS[key.algorithm]
    generated = dkim.generate_key(algorithm, bits)
    name = f"dkim/{key.workspace_id}/{key.domain_id}/{key.selector}-{key.id}"
    key.private_key_ref = keystore().put(name, generated.private_key_pem)
    key.public_key = generated.public_key_b64
    key.state = KeyState.PENDING
    return key.selector


@job
def destroy_private_keys(refs: list[str]) -> int:
    """Crypto-shred the private keys of a deleted domain; already-gone keys are fine."""
    destroyed = 0
    for ref in refs:
        try:
            keystore().destroy(ref)
            destroyed += 1
        except SecretNotFound:
            continue
    return destroyed


@job
def verify_domain(domain_id: int) -> dict | None:
    """One verification run: query DNS, store what was seen, move the domain's status on."""
    domain = db.session.get(Domain, domain_id)
    if domain is None or domain.status == DomainStatus.SUSPENDED:
        return None
    if not service.published_keys(domain):
        _schedule_recheck(domain_id, KEY_NOT_READY_RETRY)
        return {"status": "waiting_for_key"}
    records = service.expected_records(domain)
    # DNS can take seconds per record: hold no database connection meanwhile.
    db.session.close()
    checks = run_checks(records, resolver_from_config(),
                        spf_include=current_app.config["PLATFORM_SPF_INCLUDE"])

    domain = db.session.get(Domain, domain_id)
    if domain is None:  # deleted while we were asking DNS
        return None
    now = utcnow()
    db.session.add(DnsSnapshot(workspace_id=domain.workspace_id, domain_id=domain.id,
                               checked_at=now, results=[c.to_dict() for c in checks]))
    domain.last_checked_at = now
    if all_found(checks):
        _mark_verified(domain)
    elif domain.status == DomainStatus.VERIFYING:
        _wait_or_fail(domain)
    return {"status": domain.status.value,
            "found": sum(1 for c in checks if c.status == "found"), "expected": len(checks)}


def _mark_verified(domain: Domain) -> None:
    now = utcnow()
    was_verified = domain.status == DomainStatus.VERIFIED
    domain.status = DomainStatus.VERIFIED
    domain.verified_at = domain.verified_at or now
    domain.next_check_at = None
    for key in domain.keys:
        # Signing switches only to a key every authoritative server already serves (this run
        # found them all). A type that already signs (RSA, say) changes keys by rotation; an
        # Ed25519 key added before verification starts signing beside the RSA key now.
        if key.state == KeyState.PENDING and not any(
                k.state == KeyState.ACTIVE and k.key_type == key.key_type for k in domain.keys):
            key.state = KeyState.ACTIVE
            key.activated_at = now
    if not was_verified:
        audit.record(_system_actor(domain), "domain.verified", "domain", domain.id,
                     after=service.domain_snapshot(domain))


def _wait_or_fail(domain: Domain) -> None:
    window = timedelta(hours=current_app.config["VERIFICATION_WINDOW_HOURS"])
    started = domain.verification_started_at or utcnow()
    delay = next_check_in(utcnow() - started, window)
    if delay is None:
        domain.status = DomainStatus.FAILED
        domain.failed_at = utcnow()
        domain.next_check_at = None
        audit.record(_system_actor(domain), "domain.verification_failed", "domain", domain.id,
                     after=service.domain_snapshot(domain))
        enqueue("app.domains.tasks.send_verification_failed_email", domain.id, queue="mail")
        return
    domain.next_check_at = utcnow() + delay
    _schedule_recheck(domain.id, delay)


def _schedule_recheck(domain_id: int, delay: timedelta) -> None:
    # One scheduled recheck per domain: the fixed id replaces any earlier one.
    get_queue("dns").enqueue_in(delay, "app.domains.tasks.verify_domain", domain_id,
                                job_id=f"recheck-{domain_id}")


@job
def send_verification_failed_email(domain_id: int) -> list[str]:
    """Tell the workspace owners their domain was not verified in time, and what to do."""
    domain = db.session.get(Domain, domain_id)
    if domain is None or domain.status != DomainStatus.FAILED:
        return []
    owners = db.session.scalars(select(Membership).where(
        Membership.workspace_id == domain.workspace_id, Membership.role == Role.OWNER)).all()
    snapshot = service.latest_snapshot(domain)
    problems = [c for c in (snapshot.results if snapshot else []) if c.get("status") != "found"]
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        link = url_for("domains.show", slug=domain.workspace.slug, domain_id=domain.id,
                       _external=True)
        text = render_template("email/verification_failed.txt", domain=domain,
                               problems=problems, link=link,
                               hours=current_app.config["VERIFICATION_WINDOW_HOURS"])
    sent = []
    for owner in owners:
        message = mail.compose(to=owner.user.email,
                               subject=f"{domain.fqdn} could not be verified", text=text)
        mail.send(message)
        sent.append(owner.user.email)
    return sent


@job
def advance_key_rotations() -> dict:
    """Promote new keys every nameserver now serves; retire keys past their grace period."""
    waiting = []
    for key in rotation.pending_rotations():
        record = next((r for r in service.expected_records(key.domain)
                       if r.purpose == Purpose.DKIM
                       and r.host == f"{key.selector}._domainkey.{key.domain.fqdn}"), None)
        if record is not None:
            waiting.append((key.id, record))
    db.session.close()  # hold no connection while DNS answers
    resolver = resolver_from_config()
    served = [key_id for key_id, record in waiting
              if all_found(run_checks([record], resolver))]

    promoted = 0
    for key_id in served:
        key = db.session.get(DkimKey, key_id)
        if key is not None and key.state == KeyState.PENDING:
            rotation.promote(key.domain, key, _system_actor(key.domain))
            promoted += 1
    refs = [rotation.retire(key, _system_actor(key.domain)) for key in rotation.retiring_due()]
    refs = [ref for ref in refs if ref]
    if refs:
        enqueue_after_commit("app.domains.tasks.destroy_private_keys", refs, queue="keys")
    return {"promoted": promoted, "retired": len(refs)}


@job
def rotate_due_keys() -> int:
    """Start a rotation on every domain whose cadence says its key is due."""
    due = rotation.rotation_due()
    for domain in due:
        rotation.start_rotation(_system_actor(domain), domain)
    return len(due)
