"""Webhook deliveries against a real receiver on loopback: signed bodies, retries with
back-off, giving up, and the SSRF rules (at creation and again at delivery)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from app.adapters import webhooks
from app.core.clock import utcnow
from app.errors import ValidationFailed
from app.extensions import db, redis_connection
from app.jobs.queues import get_queue
from app.monitoring import alerts
from app.monitoring.models import AlertChannel, AlertDelivery, DeliveryStatus
from app.monitoring.tasks import deliver_alert
from app.uow import commit
from tests.integration.conftest import free_port
from tests.onboarding import run_job
from tests.webhookreceiver import tls_webhook_receiver, webhook_receiver  # noqa: F401

HOOK_HOST = "hooks.example.test"


@pytest.fixture
def private_allowed(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


@pytest.fixture
def intervals(app, monkeypatch):
    monkeypatch.setitem(app.config, "ALERT_RETRY_INTERVALS", [30, 120])
    return [30, 120]


def webhook(owner, url: str) -> tuple[AlertChannel, str]:
    channel, secret = alerts.create_webhook_channel(owner, "Receiver", url)
    commit()
    return channel, secret


def queued_test_delivery(owner, channel: AlertChannel) -> AlertDelivery:
    """Send a test alert to the channel and return its (still pending) delivery."""
    alert = alerts.send_test(owner, channel)
    commit()
    return db.session.scalar(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id))


def deliver(delivery: AlertDelivery) -> AlertDelivery:
    run_job(deliver_alert, delivery.id)
    return db.session.get(AlertDelivery, delivery.id)


# --- delivery and signature ------------------------------------------------------------------

def test_a_delivery_is_a_json_post_signed_with_the_channels_secret(owner, webhook_receiver,
                                                                    private_allowed):
    channel, secret = webhook(owner, webhook_receiver.url())
    delivery = deliver(queued_test_delivery(owner, channel))

    [received] = webhook_receiver.requests
    assert received.path == "/hooks/penguinmails"
    assert received.headers["Content-Type"] == "application/json"
    assert webhooks.signature_matches(secret, received.body, received.headers["X-Signature"])
    body = json.loads(received.body)
    assert body["type"] == "test" and body["attempt"] == 1
    assert body["id"] == received.headers["X-PenguinMails-Event"]
    assert str(body["timestamp"]) == received.headers["X-PenguinMails-Timestamp"]
    assert body["workspace"] == {"id": owner.workspace.id, "slug": owner.workspace.slug}
    assert "test alert" in body["data"]["summary"]
    assert secret not in received.body.decode()

    assert delivery.status == DeliveryStatus.DELIVERED and delivery.status_code == 200
    assert delivery.attempts == 1 and delivery.delivered_at is not None
    assert [entry["status_code"] for entry in delivery.attempt_log] == [200]
    assert run_job(deliver_alert, delivery.id) is None, "a delivered alert is not sent again"
    assert len(webhook_receiver.requests) == 1


def test_a_real_worker_delivers_what_the_commit_enqueued(owner, webhook_receiver,
                                                         private_allowed):
    channel, _ = webhook(owner, webhook_receiver.url())
    delivery = queued_test_delivery(owner, channel)
    SimpleWorker([get_queue("default")], connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(AlertDelivery, delivery.id).status == DeliveryStatus.DELIVERED
    assert len(webhook_receiver.requests) == 1


def test_failures_are_retried_after_each_interval_then_given_up(owner, webhook_receiver,
                                                                private_allowed, intervals):
    channel, secret = webhook(owner, webhook_receiver.url())
    webhook_receiver.answer(500, 503, 502)
    delivery = queued_test_delivery(owner, channel)
    scheduled = ScheduledJobRegistry(queue=get_queue("default"))

    for attempt, interval in enumerate(intervals, start=1):
        before = utcnow()
        delivery = deliver(delivery)
        assert delivery.status == DeliveryStatus.RETRYING and delivery.attempts == attempt
        assert before + timedelta(seconds=interval - 1) <= delivery.next_attempt_at
        assert delivery.next_attempt_at <= utcnow() + timedelta(seconds=interval + 1)
        job_id = f"alert-delivery-{delivery.id}-{attempt + 1}"
        assert job_id in scheduled.get_job_ids()
        due = scheduled.get_scheduled_time(job_id)
        assert abs((due - delivery.next_attempt_at).total_seconds()) < 2

    delivery = deliver(delivery)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert delivery.next_attempt_at is None and delivery.status_code == 502
    assert [entry["status_code"] for entry in delivery.attempt_log] == [500, 503, 502]
    assert "receiver says no" in delivery.error
    assert f"alert-delivery-{delivery.id}-4" not in scheduled.get_job_ids()
    assert len(webhook_receiver.requests) == 3
    attempts = [json.loads(r.body)["attempt"] for r in webhook_receiver.requests]
    assert attempts == [1, 2, 3]
    assert len({r.headers["X-PenguinMails-Event"] for r in webhook_receiver.requests}) == 1
    assert all(webhooks.signature_matches(secret, r.body, r.headers["X-Signature"])
               for r in webhook_receiver.requests)


def test_a_retry_that_gets_through_is_delivered(owner, webhook_receiver, private_allowed,
                                                intervals):
    channel, _ = webhook(owner, webhook_receiver.url())
    webhook_receiver.answer(503)
    delivery = deliver(deliver(queued_test_delivery(owner, channel)))
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert [entry["status_code"] for entry in delivery.attempt_log] == [503, 200]
    assert delivery.error == "" and delivery.next_attempt_at is None


@pytest.mark.parametrize("status, outcome", [
    (400, DeliveryStatus.FAILED), (401, DeliveryStatus.FAILED), (404, DeliveryStatus.FAILED),
    (410, DeliveryStatus.FAILED), (408, DeliveryStatus.RETRYING),
    (429, DeliveryStatus.RETRYING),
])
def test_a_client_error_is_given_up_at_once_except_timeout_and_rate_limit(
        owner, webhook_receiver, private_allowed, intervals, status, outcome):
    channel, _ = webhook(owner, webhook_receiver.url())
    webhook_receiver.answer(status)
    delivery = deliver(queued_test_delivery(owner, channel))
    assert (delivery.status, delivery.status_code, delivery.attempts) == (outcome, status, 1)


def test_a_redirect_is_not_followed(owner, webhook_receiver, private_allowed, intervals):
    channel, _ = webhook(owner, webhook_receiver.url())
    webhook_receiver.answer(302)
    webhook_receiver.location = webhook_receiver.url("/elsewhere")
    delivery = deliver(queued_test_delivery(owner, channel))
    assert delivery.status == DeliveryStatus.FAILED and delivery.status_code == 302
    assert "not followed" in delivery.error
    assert [r.path for r in webhook_receiver.requests] == ["/hooks/penguinmails"]


def test_a_receiver_that_is_down_is_retried(owner, private_allowed, intervals):
    channel, _ = webhook(owner, f"http://127.0.0.1:{free_port()}/hook")
    delivery = deliver(queued_test_delivery(owner, channel))
    assert delivery.status == DeliveryStatus.RETRYING and delivery.status_code is None
    assert "could not connect to 127.0.0.1" in delivery.error


def test_a_receiver_that_does_not_answer_in_time_is_retried(app, monkeypatch, owner,
                                                            webhook_receiver, private_allowed,
                                                            intervals):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT", 0.2)
    webhook_receiver.hold = threading.Event()
    channel, _ = webhook(owner, webhook_receiver.url())
    try:
        delivery = deliver(queued_test_delivery(owner, channel))
    finally:
        webhook_receiver.hold.set()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.status_code is None
    assert delivery.error == "no answer within 0.2 s"


def test_a_regenerated_secret_signs_the_next_delivery(owner, webhook_receiver,
                                                      private_allowed):
    channel, old = webhook(owner, webhook_receiver.url())
    new = alerts.regenerate_secret(owner, channel)
    commit()
    assert new != old
    deliver(queued_test_delivery(owner, channel))
    [received] = webhook_receiver.requests
    assert webhooks.signature_matches(new, received.body, received.headers["X-Signature"])
    assert not webhooks.signature_matches(old, received.body, received.headers["X-Signature"])


def test_a_channel_switched_off_before_delivery_sends_nothing_but_tests(owner, webhook_receiver,
                                                                         private_allowed):
    channel, _ = webhook(owner, webhook_receiver.url())
    alert = alerts.raise_alert(owner.workspace.id, kind="drift", subject="s", payload={})
    commit()
    [delivery] = db.session.scalars(select(AlertDelivery)
                                    .where(AlertDelivery.alert_id == alert.id)).all()
    alerts.set_enabled(owner, channel, False)
    commit()
    delivery = deliver(delivery)
    assert delivery.status == DeliveryStatus.FAILED and "switched off" in delivery.error
    assert webhook_receiver.requests == []
    assert deliver(queued_test_delivery(owner, channel)).status == DeliveryStatus.DELIVERED


# --- SSRF ------------------------------------------------------------------------------------

def channel_count(owner) -> int:
    return db.session.scalar(select(func.count()).select_from(AlertChannel)
                             .where(AlertChannel.workspace_id == owner.workspace.id))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://127.1.2.3/hook", "http://10.0.0.1/hook",
    "http://192.168.0.10/hook", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook", "http://[::1]:8080/hook", "http://0.0.0.0:8080/hook",
    "http://[::]/hook", "http://[::ffff:127.0.0.1]/hook",
])
def test_webhooks_to_private_or_loopback_addresses_are_refused(owner, url):
    with pytest.raises(ValidationFailed) as refused:
        alerts.create_webhook_channel(owner, "Internal", url)
    assert refused.value.code == "webhook_private_address"
    assert "url" in refused.value.fields
    assert channel_count(owner) == 0


def test_a_name_resolving_to_loopback_is_refused(owner, zone_server):
    zone_server.set_record(f"{HOOK_HOST}.", "A", "127.0.0.1")
    with pytest.raises(ValidationFailed, match="resolves to 127.0.0.1") as refused:
        alerts.create_webhook_channel(owner, "Sneaky", f"https://{HOOK_HOST}/hook")
    assert refused.value.code == "webhook_private_address"
    assert channel_count(owner) == 0


def test_a_name_that_does_not_resolve_is_refused(owner, zone_server):
    with pytest.raises(ValidationFailed) as refused:
        alerts.create_webhook_channel(owner, "Typo", "https://nohooks.example.test/hook")
    assert refused.value.code == "webhook_host_unresolvable"


def test_the_platform_admin_may_allow_private_targets(owner, zone_server, webhook_receiver,
                                                      private_allowed):
    zone_server.set_record(f"{HOOK_HOST}.", "A", "127.0.0.1")
    channel, secret = webhook(owner, webhook_receiver.url(host=HOOK_HOST))
    delivery = deliver(queued_test_delivery(owner, channel))
    assert delivery.status == DeliveryStatus.DELIVERED
    [received] = webhook_receiver.requests
    assert received.headers["Host"] == f"{HOOK_HOST}:{webhook_receiver.port}"


def test_the_address_is_checked_again_at_delivery_time(owner, zone_server, webhook_receiver):
    """DNS rebinding: the name was public when the channel was made, points home later."""
    zone_server.set_record(f"{HOOK_HOST}.", "A", "93.184.215.14")
    channel, _ = webhook(owner, webhook_receiver.url(host=HOOK_HOST))
    zone_server.set_record(f"{HOOK_HOST}.", "A", "127.0.0.1")
    delivery = deliver(queued_test_delivery(owner, channel))
    assert delivery.status == DeliveryStatus.FAILED and delivery.status_code is None
    assert "resolves to 127.0.0.1" in delivery.error
    assert webhook_receiver.requests == []


def test_https_goes_to_the_vetted_address_and_verifies_the_certificate_for_the_name(
        zone_server, tls_webhook_receiver):
    receiver, certificate = tls_webhook_receiver
    zone_server.set_record(f"{HOOK_HOST}.", "A", "127.0.0.1")
    target = webhooks.vet(receiver.url(host=HOOK_HOST), alerts.resolver_from_config(),
                                 allow_private=True)
    assert target.addresses == ("127.0.0.1",)
    response = webhooks.post(target, b"{}", {}, timeout=5, verify=str(certificate))
    assert response.delivered and response.status_code == 200
    assert receiver.requests[0].headers["Host"] == f"{HOOK_HOST}:{receiver.port}"

    zone_server.set_record("other.example.test.", "A", "127.0.0.1")
    wrong_name = webhooks.vet(receiver.url(host="other.example.test"),
                                     alerts.resolver_from_config(), allow_private=True)
    refused = webhooks.post(wrong_name, b"{}", {}, timeout=5, verify=str(certificate))
    assert refused.status_code is None and "TLS failed" in refused.error
    assert len(receiver.requests) == 1
