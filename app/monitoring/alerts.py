"""Alert channels and alerts: where a workspace hears about its domains, and what it heard.

An alert is raised once (`raise_alert`) and delivered to every enabled channel of its
workspace, one `AlertDelivery` per channel, by a job enqueued after the commit. Email goes
through the SMTP relay; a webhook gets a signed JSON body (see app.adapters.webhooks and the
channels page for the scheme). A delivery that fails in a way that may pass is tried again
after each of `ALERT_RETRY_INTERVALS`, then given up; every attempt is logged on the row.

Owners and admins manage channels; every member can read them and their delivery log. A
webhook's signing secret is generated here, kept only in the key store and shown once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from sqlalchemy import func, select

from app.adapters import webhooks
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.tokens import new_secret
from app.domains.tasks import resolver_from_config
from app.errors import Conflict, ValidationFailed
from app.extensions import db, keystore
from app.jobs.queues import enqueue_after_commit
from app.monitoring.models import (Alert, AlertChannel, AlertDelivery, ChannelKind,
                                   DeliveryStatus)
from app.pagination import Page, paginate
from app.workspaces.actor import Actor
from app.workspaces.models import Workspace

MAX_CHANNELS = 20  # per workspace
MAX_ADDRESSES = 10  # per email channel
SECRET_PREFIX = "whsec"
TEST = "test"  # Alert.kind of "Send test"
# Email waits behind nothing user-facing; webhooks run with the other background work.
DELIVERY_QUEUES = {ChannelKind.EMAIL: "mail", ChannelKind.WEBHOOK: "default"}
ADDRESS_SEPARATORS = re.compile(r"[,;\s]+")


def public_url(endpoint: str, **values: object) -> str:
    """An absolute link for mail and webhook bodies, built outside any request."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        return url_for(endpoint, _external=True, **values)


def vet_webhook_url(url: str) -> webhooks.WebhookTarget:
    """The SSRF check, with this platform's resolver and policy (creation and delivery)."""
    return webhooks.vet(url, resolver_from_config(),
                        allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"])


# --- channels -------------------------------------------------------------------------------

def list_channels(actor: Actor) -> list[AlertChannel]:
    return list(db.session.scalars(select(AlertChannel)
                                   .where(AlertChannel.workspace_id == actor.workspace.id)
                                   .order_by(AlertChannel.created_at, AlertChannel.id)))


def display_target(channel: AlertChannel, *, full: bool) -> str:
    """Where the channel sends. A webhook URL's path often is a credential (chat services put
    their token there), so only those who manage channels see it whole."""
    if full or channel.kind == ChannelKind.EMAIL:
        return channel.target
    parts = urlsplit(channel.target)
    return f"{parts.scheme}://{parts.netloc}/…"


def channel_snapshot(channel: AlertChannel) -> dict:
    return {"name": channel.name, "kind": channel.kind.value, "enabled": channel.enabled,
            "target": display_target(channel, full=False)}


def parse_addresses(raw: str) -> list[str]:
    """Comma-, semicolon- or space-separated addresses, normalised, in order, without repeats."""
    addresses: list[str] = []
    for part in ADDRESS_SEPARATORS.split(raw or ""):
        if not part:
            continue
        try:
            address = validate_email(part, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            _refuse_addresses(f"“{part}” is not a valid email address: {exc}",
                              "alert_address_invalid")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        _refuse_addresses("Enter at least one email address to send alerts to.",
                          "alert_addresses_missing")
    if len(addresses) > MAX_ADDRESSES:
        _refuse_addresses(f"One channel sends to at most {MAX_ADDRESSES} addresses; use a "
                          "mailing list for more.", "alert_too_many_addresses")
    return addresses


def _refuse_addresses(message: str, code: str) -> NoReturn:
    raise ValidationFailed(message, code=code, fields={"addresses": message})


def _channel_name(raw: str | None, default: str) -> str:
    name = " ".join((raw or "").split())
    if len(name) > 100:
        raise ValidationFailed("Keep the channel name to 100 characters.",
                               code="alert_channel_name_too_long",
                               fields={"name": "At most 100 characters."})
    return name or default[:100]


def _room_for_another(actor: Actor) -> None:
    count = db.session.scalar(select(func.count()).select_from(AlertChannel)
                              .where(AlertChannel.workspace_id == actor.workspace.id))
    if count >= MAX_CHANNELS:
        raise Conflict(f"A workspace has at most {MAX_CHANNELS} alert channels; delete one "
                       "you no longer use first.", code="alert_channel_limit")


def _add_channel(actor: Actor, kind: ChannelKind, name: str, target: str) -> AlertChannel:
    channel = AlertChannel(workspace_id=actor.workspace.id, kind=kind, name=name, target=target)
    db.session.add(channel)
    db.session.flush()
    return channel


def create_email_channel(actor: Actor, name: str | None, addresses: str) -> AlertChannel:
    actor.require_admin()
    recipients = parse_addresses(addresses)
    name = _channel_name(name, f"Email {recipients[0]}")
    _room_for_another(actor)
    channel = _add_channel(actor, ChannelKind.EMAIL, name, ", ".join(recipients))
    audit.record(actor, "alert_channel.created", "alert_channel", channel.id,
                 after=channel_snapshot(channel))
    return channel


def create_webhook_channel(actor: Actor, name: str | None, url: str) -> tuple[AlertChannel, str]:
    """Returns the channel and its signing secret, which is not readable anywhere afterwards
    (it is in the key store, for the delivery job only)."""
    actor.require_admin()
    try:
        target = vet_webhook_url(url)
    except webhooks.WebhookRefused as refused:
        raise ValidationFailed(refused.message, code=refused.code,
                               fields={"url": refused.message}) from None
    name = _channel_name(name, f"Webhook {target.host}")
    _room_for_another(actor)
    channel = _add_channel(actor, ChannelKind.WEBHOOK, name, target.url)
    secret = _new_secret(channel)
    audit.record(actor, "alert_channel.created", "alert_channel", channel.id,
                 after=channel_snapshot(channel))
    return channel, secret


def _new_secret(channel: AlertChannel) -> str:
    secret = new_secret(SECRET_PREFIX)
    name = f"webhook/{channel.workspace_id}/{channel.id}-{secret[-8:]}"
    channel.secret_ref = keystore().put(name, secret.encode())
    db.session.flush()
    return secret


def _destroy_after_commit(ref: str | None) -> None:
    if ref:
        enqueue_after_commit("app.domains.tasks.destroy_private_keys", [ref], queue="keys")


def regenerate_secret(actor: Actor, channel: AlertChannel) -> str:
    """A new signing secret, effective for the next delivery; the old one is destroyed."""
    actor.require_admin()
    if channel.kind != ChannelKind.WEBHOOK:
        raise Conflict("Only webhook channels have a signing secret.",
                       code="alert_channel_not_webhook")
    old_ref = channel.secret_ref
    secret = _new_secret(channel)
    _destroy_after_commit(old_ref)
    audit.record(actor, "alert_channel.secret_regenerated", "alert_channel", channel.id,
                 after=channel_snapshot(channel))
    return secret


def set_enabled(actor: Actor, channel: AlertChannel, enabled: bool) -> AlertChannel:
    actor.require_admin()
    if channel.enabled != enabled:
        before = channel_snapshot(channel)
        channel.enabled = enabled
        db.session.flush()
        audit.record(actor, "alert_channel.enabled" if enabled else "alert_channel.disabled",
                     "alert_channel", channel.id, before=before, after=channel_snapshot(channel))
    return channel


def delete_channel(actor: Actor, channel: AlertChannel) -> None:
    """Its delivery log goes with it; alerts stay in the workspace's history."""
    actor.require_admin()
    before = channel_snapshot(channel)
    _destroy_after_commit(channel.secret_ref)
    channel_id = channel.id
    db.session.delete(channel)
    db.session.flush()
    audit.record(actor, "alert_channel.deleted", "alert_channel", channel_id, before=before)


def send_test(actor: Actor, channel: AlertChannel) -> Alert:
    """A test alert to this one channel, through the real delivery path (a disabled channel
    too, so it can be tried before it is switched on)."""
    actor.require_admin()
    payload = {"summary": f"This is a test alert from PenguinMails for “{channel.name}”. "
                          "If it reached you, alerts for this workspace will too.",
               "url": public_url("alerts.index", slug=actor.workspace.slug)}
    alert = _new_alert(actor.workspace.id, kind=TEST, subject="PenguinMails test alert",
                       payload=payload, domain_id=None, channels=[channel])
    audit.record(actor, "alert_channel.test_sent", "alert_channel", channel.id,
                 after={"alert_id": alert.id})
    return alert


# --- alerts ---------------------------------------------------------------------------------

def raise_alert(workspace_id: int, *, kind: str, subject: str, payload: dict,
                domain_id: int | None = None) -> Alert:
    """Record an alert and deliver it to every enabled channel of the workspace once the
    caller commits. `payload` is the webhook body's `data` (JSON-serialisable); an optional
    `summary` (text) and `url` (a link) in it are also shown in the email."""
    channels = db.session.scalars(select(AlertChannel).where(
        AlertChannel.workspace_id == workspace_id, AlertChannel.enabled.is_(True))
        .order_by(AlertChannel.id)).all()
    return _new_alert(workspace_id, kind=kind, subject=subject, payload=payload,
                      domain_id=domain_id, channels=channels)


def _new_alert(workspace_id: int, *, kind: str, subject: str, payload: dict,
               domain_id: int | None, channels: list[AlertChannel]) -> Alert:
    alert = Alert(workspace_id=workspace_id, domain_id=domain_id, kind=kind,
                  subject=subject[:300], payload=payload)
    db.session.add(alert)
    db.session.flush()
    for channel in channels:
        delivery = AlertDelivery(workspace_id=workspace_id, alert_id=alert.id,
                                 channel_id=channel.id, attempt_log=[])
        db.session.add(delivery)
        db.session.flush()
        enqueue_after_commit("app.monitoring.tasks.deliver_alert", delivery.id,
                             queue=DELIVERY_QUEUES[channel.kind])
    return alert


def recent_alerts(actor: Actor, page: int = 1, per_page: int = 20) -> Page[Alert]:
    query = (select(Alert).where(Alert.workspace_id == actor.workspace.id)
             .order_by(Alert.created_at.desc(), Alert.id.desc()))
    return paginate(query, page, per_page)


def channel_deliveries(channel: AlertChannel, page: int = 1,
                       per_page: int = 25) -> Page[AlertDelivery]:
    """The channel's delivery log, newest first (the caller has checked the workspace)."""
    query = (select(AlertDelivery).where(AlertDelivery.channel_id == channel.id,
                                         AlertDelivery.workspace_id == channel.workspace_id)
             .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc()))
    return paginate(query, page, per_page)


def alerts_by_id(ids: set[int]) -> dict[int, Alert]:
    if not ids:
        return {}
    return {alert.id: alert for alert in db.session.scalars(select(Alert)
                                                            .where(Alert.id.in_(ids)))}


def delivery_counts(alert_ids: list[int]) -> dict[int, dict[str, int]]:
    """For the alerts list: how many of each alert's deliveries are in each status."""
    counts: dict[int, dict[str, int]] = {alert_id: {} for alert_id in alert_ids}
    if alert_ids:
        rows = db.session.execute(
            select(AlertDelivery.alert_id, AlertDelivery.status, func.count())
            .where(AlertDelivery.alert_id.in_(alert_ids))
            .group_by(AlertDelivery.alert_id, AlertDelivery.status))
        for alert_id, status, count in rows:
            counts[alert_id][status.value] = count
    return counts


# --- deliveries -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One delivery attempt's result, whatever the channel."""

    delivered: bool
    retryable: bool
    status_code: int | None = None
    error: str = ""


def webhook_body(alert: Alert, workspace: Workspace, *, attempt: int, sent_at: int) -> bytes:
    """The signed JSON: `id` and `timestamp` repeat the event and timestamp headers, so the
    signature covers them too."""
    body = {"id": alert.event_id, "type": alert.kind, "subject": alert.subject,
            "created_at": alert.created_at.isoformat(), "timestamp": sent_at,
            "attempt": attempt, "workspace": {"id": workspace.id, "slug": workspace.slug},
            "domain_id": alert.domain_id, "data": alert.payload}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def webhook_headers(alert: Alert, secret: str, body: bytes, sent_at: int) -> dict[str, str]:
    return {webhooks.SIGNATURE_HEADER: webhooks.sign(secret, body),
            webhooks.TIMESTAMP_HEADER: str(sent_at), webhooks.EVENT_HEADER: alert.event_id}


def record_attempt(delivery: AlertDelivery, outcome: Outcome,
                   now: datetime | None = None) -> int | None:
    """Log one attempt on the row and move its status on; returns the seconds until the next
    attempt, or None when there is none (delivered, refused for good, or out of retries)."""
    now = now or utcnow()
    intervals = current_app.config["ALERT_RETRY_INTERVALS"]
    delivery.attempts += 1
    delivery.status_code = outcome.status_code
    delivery.error = outcome.error[:500]
    delivery.attempt_log = [*(delivery.attempt_log or []),
                            {"at": now.isoformat(), "status_code": outcome.status_code,
                             "error": outcome.error[:500]}]
    delivery.next_attempt_at = None
    if outcome.delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        return None
    if outcome.retryable and delivery.attempts <= len(intervals):
        delay = int(intervals[delivery.attempts - 1])
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        return delay
    delivery.status = DeliveryStatus.FAILED
    return None


def give_up(delivery: AlertDelivery, reason: str) -> None:
    """Fail a delivery that cannot even be attempted (channel switched off, secret gone)."""
    record_attempt(delivery, Outcome(delivered=False, retryable=False, error=reason))
