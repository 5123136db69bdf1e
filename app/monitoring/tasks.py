"""Background jobs of the health monitor: the periodic sweep, one domain's check, and the
delivery of alerts to email and webhook channels.

Every job takes ids, is safe to run twice, and holds no database connection while it waits
for DNS, an SMTP relay or a webhook receiver.
"""

from __future__ import annotations

import secrets
import smtplib
import time
from collections.abc import Callable
from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.adapters import mail, webhooks
from app.adapters.dns import DnsConfig, Resolver
from app.adapters.keystore import KeyStoreError
from app.domains.models import Domain, DomainStatus
from app.extensions import db, keystore, redis_connection
from app.jobs.queues import get_queue
from app.jobs.runtime import job
from app.monitoring import alerts, service
from app.monitoring.engine import CheckTarget, check_many
from app.monitoring.managed import validation_inputs
from app.monitoring.models import (Alert, AlertChannel, AlertDelivery, ChannelKind,
                                   DeliveryStatus)
from app.monitoring.validator import validate_domain
from app.uow import after_commit, commit
from app.workspaces.models import Workspace

SWEEP_BATCH = 200  # domains read, checked and committed together: memory stays flat
SWEEP_LOCK_KEY = "monitoring:sweep:lock"
SWEEP_LOCK_SECONDS = 3600  # the sweep job's timeout: a crashed sweep frees the lock by then


def dns_config() -> DnsConfig:
    return DnsConfig.from_settings(current_app.config)


@job
def sweep_verified_domains(batch_size: int = SWEEP_BATCH) -> dict:
    """Check every verified domain of the platform and record what changed.

    Domains are read by id in batches; each batch's DNS runs with no session open, then its
    results are recorded and committed, so alerts go out batch by batch and a crash loses at
    most one batch. One sweep at a time: a cron tick that finds one still running skips.
    """
    lock = secrets.token_hex(8)
    redis = redis_connection()
    if not redis.set(SWEEP_LOCK_KEY, lock, nx=True, ex=SWEEP_LOCK_SECONDS):
        return {"skipped": "another sweep is still running"}
    try:
        return _sweep(batch_size)
    finally:
        if redis.get(SWEEP_LOCK_KEY) == lock.encode():
            redis.delete(SWEEP_LOCK_KEY)


def _sweep(batch_size: int) -> dict:
    config = current_app.config
    total = db.session.scalar(select(func.count()).select_from(Domain)
                              .where(Domain.status == DomainStatus.VERIFIED)) or 0
    service.start_sweep_progress(total)
    checked = raised = 0
    after_id = 0
    try:
        while True:
            domains = db.session.scalars(
                select(Domain).options(selectinload(Domain.keys))
                .where(Domain.status == DomainStatus.VERIFIED, Domain.id > after_id)
                .order_by(Domain.id).limit(batch_size)).all()
            if not domains:
                break
            after_id = domains[-1].id
            targets = [CheckTarget(domain.id, domain.fqdn, validation_inputs(domain, config))
                       for domain in domains]
            db.session.close()  # hold no connection while DNS answers
            reports = list(check_many(targets, dns_config=dns_config(),
                                      concurrency=config["HEALTH_SWEEP_CONCURRENCY"]))
            for target, report in reports:
                raised += _record_one(target.key, report)
            commit()
            checked += len(reports)
            service.advance_sweep_progress(len(reports))
    finally:
        # Also when the sweep fails: the dashboard must not show it running for ever.
        service.finish_sweep_progress()
    return {"checked": checked, "alerts": raised}


def _record_one(domain_id: int, report) -> int:
    """Record one domain's report in a savepoint: a domain that cannot be recorded is logged
    and skipped, never the end of the whole platform's sweep."""
    try:
        with db.session.begin_nested():
            recorded = service.record_report(domain_id, report)
    except Exception:  # noqa: BLE001 — logged with its traceback; the other domains go on
        current_app.logger.exception("health sweep: recording domain %s failed", domain_id)
        return 0
    return int(recorded is not None and recorded.alert is not None)


@job
def check_domain(domain_id: int) -> dict | None:
    """Check one domain now ("Check now", the API); records and alerts like the sweep."""
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        return None
    fqdn, inputs = domain.fqdn, validation_inputs(domain, current_app.config)
    db.session.close()  # hold no connection while DNS answers
    report = validate_domain(fqdn, Resolver(dns_config()), **inputs)
    recorded = service.record_report(domain_id, report)
    if recorded is None:  # deleted while DNS was asked
        return None
    return {"score": recorded.health.score, "band": recorded.health.band,
            "alert_id": recorded.alert.id if recorded.alert else None}


# --- deliveries -----------------------------------------------------------------------------

@job
def deliver_alert(delivery_id: int) -> str | None:
    """One attempt to deliver one alert to one channel; schedules the next attempt when this
    one failed in a way that may pass. Returns the delivery's status."""
    delivery = db.session.get(AlertDelivery, delivery_id)
    if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return None
    channel = db.session.get(AlertChannel, delivery.channel_id)
    alert = db.session.get(Alert, delivery.alert_id)
    if not channel.enabled and alert.kind != alerts.TEST:
        alerts.give_up(delivery, "The channel was switched off before this alert went out.")
        return delivery.status.value
    attempt = delivery.attempts + 1
    queue = alerts.DELIVERY_QUEUES[channel.kind]
    try:
        send = (_email_sender(alert, channel) if channel.kind == ChannelKind.EMAIL
                else _webhook_sender(alert, channel, attempt))
    except KeyStoreError as error:
        alerts.give_up(delivery, f"The signing secret could not be read ({error.code}); "
                                 "regenerate it on the channel's page.")
        return delivery.status.value
    db.session.close()  # hold no connection while the receiver answers
    outcome = send()

    delivery = db.session.get(AlertDelivery, delivery_id)
    if delivery is None:  # the channel was deleted meanwhile
        return None
    delay = alerts.record_attempt(delivery, outcome)
    # Never the URL or the body: a URL path can hold the receiver's token.
    current_app.logger.info("alert delivery %s (channel %s) attempt %s: %s %s", delivery_id,
                            delivery.channel_id, attempt, delivery.status.value,
                            outcome.status_code or outcome.error[:100])
    if delay is not None:
        after_commit(lambda: get_queue(queue).enqueue_in(
            timedelta(seconds=delay), "app.monitoring.tasks.deliver_alert", delivery_id,
            job_id=f"alert-delivery-{delivery_id}-{attempt + 1}"))
    return delivery.status.value


def _email_sender(alert: Alert, channel: AlertChannel) -> Callable[[], alerts.Outcome]:
    # Templates expect a request (the context processors ask who is signed in).
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        text = render_template("alerts/email.txt", alert=alert, data=alert.payload)
    message = mail.compose(to=channel.target, subject=alert.subject, text=text)

    def send() -> alerts.Outcome:
        try:
            mail.send(message)
        except smtplib.SMTPRecipientsRefused as refused:
            return alerts.Outcome(False, retryable=False, error="The relay refused every "
                                  f"recipient: {', '.join(refused.recipients)}")
        except smtplib.SMTPResponseException as answer:
            reply = answer.smtp_error.decode("utf-8", "replace") if isinstance(
                answer.smtp_error, bytes) else str(answer.smtp_error)
            # RFC 5321 §4.2.1: 4yz is transient, 5yz permanent.
            return alerts.Outcome(False, retryable=answer.smtp_code < 500,
                                  error=f"SMTP {answer.smtp_code}: {reply}")
        except (smtplib.SMTPException, OSError) as error:
            return alerts.Outcome(False, retryable=True,
                                  error=f"The SMTP relay could not be reached: {error}")
        return alerts.Outcome(True, retryable=False)

    return send


def _webhook_sender(alert: Alert, channel: AlertChannel,
                    attempt: int) -> Callable[[], alerts.Outcome]:
    if not channel.secret_ref:
        raise KeyStoreError("no signing secret", code="KEYSTORE_SECRET_NOT_FOUND")
    secret = keystore().get(channel.secret_ref).decode()
    sent_at = int(time.time())
    body = alerts.webhook_body(alert, db.session.get(Workspace, alert.workspace_id),
                               attempt=attempt, sent_at=sent_at)
    headers = alerts.webhook_headers(alert, secret, body, sent_at)
    url, timeout = channel.target, current_app.config["WEBHOOK_TIMEOUT"]

    def send() -> alerts.Outcome:
        try:
            # Resolved and vetted again now: the name may point elsewhere since creation.
            target = alerts.vet_webhook_url(url)
        except webhooks.WebhookRefused as refused:
            return alerts.Outcome(False, retryable=refused.code == "webhook_host_lookup_failed",
                                  error=refused.message)
        response = webhooks.post(target, body, headers, timeout=timeout)
        return alerts.Outcome(response.delivered, retryable=response.retryable,
                              status_code=response.status_code, error=response.error)

    return send
