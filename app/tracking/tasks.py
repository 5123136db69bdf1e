"""Tracking host jobs: check the CNAME and CAA, obtain and renew certificates, the hourly sweep.

`check_host` (dns queue) looks at DNS and, when the host reaches us and needs a certificate,
hands over to `issue_certificate` (default queue), which runs the ACME order. A failure of
either is a value on the host (findings or the CA's error, in plain words) with a back-off,
never an exception that RQ would retry at once: a broken CNAME or a CA outage cannot turn
into a crash loop, and a host that has a certificate keeps it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from redis.exceptions import LockError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from app.adapters.acme import AcmeConfig, AcmeFailure, obtain_certificate
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.findings import Finding
from app.core.tracking_certs import (CertificateError, certificate_request, check_issued,
                                     new_account_key, new_certificate_key)
from app.core.tracking_hosts import RenewalPolicy, domain_not_verified, retry_delay
from app.core.tracking_problems import RETRY, CertificateProblem, explain
from app.domains.models import DomainStatus
from app.domains.tasks import resolver_from_config
from app.extensions import db, keystore, redis_connection
from app.jobs.queues import enqueue_after_commit, get_queue
from app.jobs.runtime import job
from app.tracking import service
from app.tracking.challenges import HostChallengeAnswers
from app.tracking.checks import host_findings
from app.tracking.models import AcmeAccount, HostStatus, TrackingHost
from app.uow import after_commit, commit
from app.workspaces.actor import Actor

# A host left "issuing" this long (a worker died mid-order) is picked up again by the sweep.
ISSUING_STALL = timedelta(hours=1)
ORDER_LOCK_SECONDS = 600
IN_FLIGHT = ("queued", "started", "deferred", "scheduled")


def _policy() -> RenewalPolicy:
    config = current_app.config
    return RenewalPolicy(renew_days=config["TRACKING_RENEW_DAYS"],
                         alert_days=config["TRACKING_ALERT_DAYS"])


def _acme_config() -> AcmeConfig:
    config = current_app.config
    return AcmeConfig(directory_url=config["ACME_DIRECTORY_URL"],
                      contact_email=config["ACME_CONTACT_EMAIL"],
                      ca_bundle=config["ACME_CA_BUNDLE"],
                      order_seconds=config["ACME_ORDER_SECONDS"])


@job
def check_host(host_id: int) -> dict | None:
    """Look at the host's CNAME and CAA; order a certificate when it reaches us and needs one."""
    host = db.session.get(TrackingHost, host_id)
    if host is None:
        return None
    hostname, domain_fqdn = host.hostname, host.domain.fqdn
    verified = host.domain.status == DomainStatus.VERIFIED
    account_uri = db.session.scalar(select(AcmeAccount.uri).where(
        AcmeAccount.directory_url == current_app.config["ACME_DIRECTORY_URL"]))
    db.session.close()  # DNS can take seconds: hold no database connection meanwhile
    findings = host_findings(resolver_from_config(), hostname, service.platform_host(),
                             current_app.config["ACME_CAA_IDENTITIES"], account_uri)
    if not verified:
        findings.append(domain_not_verified(domain_fqdn))

    host = db.session.get(TrackingHost, host_id)
    if host is None:  # removed while we were asking DNS
        return None
    now = utcnow()
    before = host.status
    host.checked_at = now
    host.findings = [item.to_dict() for item in findings]
    if findings:
        _record_failure(host, stage="dns")
    elif not host.has_certificate or _policy().due(host.not_after, now):
        host.status = HostStatus.ISSUING
        host.next_attempt_at = now + ISSUING_STALL
        enqueue_after_commit("app.tracking.tasks.issue_certificate", host.id,
                             job_id=f"tracking-issue-{host.id}")
    else:
        _mark_serving(host)
    if host.status != before:
        service.invalidate_allow_list_after_commit()
    return {"status": host.status.value, "findings": [item.code for item in findings]}


@job
def issue_certificate(host_id: int) -> dict | None:
    """One ACME order for the host; at most one runs per host at a time."""
    lock = redis_connection().lock(f"pm:tracking:issue-lock:{host_id}",
                                   timeout=ORDER_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return {"status": "already_issuing"}
    try:
        return _issue(host_id)
    finally:
        try:
            lock.release()
        except LockError:  # it expired during a very slow order; nobody else holds it
            pass


def _issue(host_id: int) -> dict | None:
    host = db.session.get(TrackingHost, host_id)
    if host is None or host.status != HostStatus.ISSUING:
        return None  # removed, or another run already finished this order
    config = _acme_config()
    account = _acme_account(config.directory_url)
    # The account (its key is in the key store by now) must outlive this order even if the
    # order fails: it is its own unit of work.
    commit()
    account_id, account_key = account.id, keystore().get(account.key_ref)
    hostname = host.hostname
    db.session.close()  # an order takes seconds, or minutes when the CA is slow

    certificate_key = new_certificate_key()
    problem = None
    try:
        issued = obtain_certificate(config, account_key,
                                    certificate_request(certificate_key, hostname),
                                    HostChallengeAnswers(hostname))
        info = check_issued(issued.chain_pem, certificate_key, hostname)
    except AcmeFailure as failure:
        problem = explain(failure.kind, failure.detail, hostname, service.platform_host())
    except CertificateError as error:
        problem = CertificateProblem("certificate_unusable", "The certificate authority sent a "
                                     f"certificate we cannot use: {error}.", RETRY)

    host = db.session.get(TrackingHost, host_id)
    if host is None:  # removed during the order: nothing of it is kept
        return None
    if problem is not None:
        current_app.logger.warning("certificate for %s failed: %s", hostname, problem.code)
        host.error_code, host.error_message, host.error_fix = (problem.code, problem.message,
                                                               problem.fix)
        _record_failure(host, stage="ca")
        service.invalidate_allow_list_after_commit()
        return {"status": host.status.value, "error": problem.code}

    old_key_ref = host.private_key_ref
    host.private_key_ref = keystore().put(f"tracking/{host.workspace_id}/{host.id}/{info.serial}",
                                          certificate_key)
    host.certificate_chain = issued.chain_pem
    host.certificate_serial = info.serial
    host.not_before, host.not_after = info.not_before, info.not_after
    host.issued_at = utcnow()
    host.expiry_alerted_at = None
    _mark_serving(host)
    db.session.get(AcmeAccount, account_id).uri = issued.account_uri
    audit.record(Actor.system(host.domain.workspace, "job"), "tracking_host.certificate_issued",
                 "tracking_host", host.id,
                 after={**service.host_snapshot(host), "serial": info.serial,
                        "not_after": info.not_after.isoformat()})
    if old_key_ref:
        # The renewed certificate replaces the old one now; its key is no longer needed.
        enqueue_after_commit("app.domains.tasks.destroy_private_keys", [old_key_ref],
                             queue="keys")
    service.invalidate_allow_list_after_commit()
    return {"status": host.status.value, "serial": info.serial}


def _acme_account(directory_url: str) -> AcmeAccount:
    """Our account at this CA, with a new key in the key store the first time."""
    account = db.session.scalar(select(AcmeAccount)
                                .where(AcmeAccount.directory_url == directory_url))
    if account is not None:
        return account
    key_ref = keystore().put("acme/account", new_account_key())
    account = AcmeAccount(directory_url=directory_url, key_ref=key_ref)
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:  # another order created it just now: use theirs
        keystore().destroy(key_ref)
        account = db.session.scalar(select(AcmeAccount)
                                    .where(AcmeAccount.directory_url == directory_url))
    return account


def _mark_serving(host: TrackingHost) -> None:
    host.status = HostStatus.ACTIVE
    host.attempts = 0
    host.next_attempt_at = None
    host.error_code = host.error_message = host.error_fix = None


def _record_failure(host: TrackingHost, *, stage: str) -> None:
    """Back off, keep any certificate serving while it is valid, and alert once when it nears
    its end with renewal still failing."""
    now = utcnow()
    host.attempts += 1
    delay = retry_delay(host.attempts, current_app.config["ACME_RETRY_INTERVALS"])
    host.next_attempt_at = now + delay
    state = _policy().status_after_failure(host.not_after if host.has_certificate else None, now)
    if state == "failed" and stage == "dns" and not host.has_certificate:
        state = "pending"  # nothing was asked of the CA yet: we wait for DNS
    host.status = HostStatus(state)
    if host.status == HostStatus.EXPIRING and host.expiry_alerted_at is None:
        _alert_expiring(host)
        host.expiry_alerted_at = now
    host_id = host.id
    # A re-check at the back-off time; the hourly sweep catches it should this be lost.
    after_commit(lambda: get_queue("dns").enqueue_in(
        delay, "app.tracking.tasks.check_host", host_id, job_id=f"tracking-recheck-{host_id}"))


def _alert_expiring(host: TrackingHost) -> None:
    from app.monitoring.alerts import raise_alert

    days = max(0, (host.not_after - utcnow()).days)
    problems = [Finding.from_dict(item) for item in host.findings]
    reason = host.error_message or "; ".join(item.message for item in problems) or "unknown"
    fix = host.error_fix or "; ".join(item.fix for item in problems if item.fix)
    raise_alert(host.workspace_id, kind="tracking_certificate_expiring",
                subject=f"The certificate of {host.hostname} expires in {days} days and "
                        "renewal is failing",
                payload={"hostname": host.hostname, "not_after": host.not_after.isoformat(),
                         "days_left": days, "reason": reason, "fix": fix,
                         "next_attempt_at": host.next_attempt_at.isoformat(),
                         "summary": f"{reason} Fix: {fix}" if fix else reason},
                domain_id=host.domain_id)


@job
def renew_due_certificates() -> int:
    """The hourly sweep: check every host whose back-off is over, or whose certificate is due
    for renewal (TRACKING_RENEW_DAYS before it ends); returns how many were queued."""
    now = utcnow()
    renew_before = now + timedelta(days=current_app.config["TRACKING_RENEW_DAYS"])
    due = list(db.session.scalars(select(TrackingHost.id).where(or_(
        TrackingHost.next_attempt_at <= now,
        and_(TrackingHost.next_attempt_at.is_(None), TrackingHost.not_after <= renew_before)))))
    queue = get_queue("dns")
    queued = 0
    for host_id in due:
        job_id = f"tracking-sweep-{host_id}"
        running = queue.fetch_job(job_id)
        if running is not None and running.get_status(refresh=False) in IN_FLIGHT:
            continue  # last hour's check of this host has not run yet
        enqueue_after_commit("app.tracking.tasks.check_host", host_id, queue="dns",
                             job_id=job_id)
        queued += 1
    return queued
