"""The drift sweep end to end: a verified domain served by a real DNS server on loopback, its
record changed, and the one email (aiosmtpd) and one signed webhook (a loopback receiver)
that follow; then nothing more until the record is fixed, which sends a resolved notice."""

from __future__ import annotations

import json

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from app.adapters import webhooks
from app.domains import service as domains
from app.domains.models import Domain, DomainStatus
from app.domains.tasks import verify_domain
from app.extensions import db, redis_connection
from app.jobs.queues import get_queue
from app.monitoring import alerts, service
from app.monitoring.models import Alert, AlertDelivery, DeliveryStatus, DomainHealth
from app.monitoring.tasks import SWEEP_LOCK_KEY, check_domain, sweep_verified_domains
from app.uow import commit
from tests.factories import DomainFactory
from tests.onboarding import ZONE, onboard, publish, run_job
from tests.webhookreceiver import webhook_receiver  # noqa: F401

GOOD_SPF = "v=spf1 include:_spf.penguinmails.net ~all"


@pytest.fixture
def platform_zone(zone_server):
    """Our own names the customer's records point at, so the baseline has no DNS failures."""
    zone_server.add_zone("penguinmails.net", {
        "_spf": {"TXT": "v=spf1 ip4:192.0.2.0/24 -all"},
        f"{ZONE}._report._dmarc": {"TXT": "v=DMARC1"},
        "bounces": {"A": "192.0.2.25"},
    })
    return zone_server


@pytest.fixture
def verified(owner, platform_zone) -> Domain:
    domain = onboard(owner)
    publish(platform_zone, domains.expected_records(domain))
    domains.request_check(owner, domain)
    commit()
    run_job(verify_domain, domain.id)
    domain = db.session.get(Domain, domain.id)
    assert domain.status == DomainStatus.VERIFIED
    return domain


@pytest.fixture
def channels(app, monkeypatch, owner, smtp_server, webhook_receiver):
    """An email channel through the aiosmtpd relay and a webhook to the loopback receiver."""
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    alerts.create_email_channel(owner, "Ops", "ops@example.com")
    _, secret = alerts.create_webhook_channel(owner, "Pager", webhook_receiver.url())
    commit()
    return secret


def sweep() -> dict:
    """The cron job, then one real worker draining the delivery queues."""
    outcome = run_job(sweep_verified_domains)
    SimpleWorker([get_queue("mail"), get_queue("default")],
                 connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    return outcome


def test_a_changed_record_alerts_once_by_email_and_signed_webhook_then_resolves(
        owner, verified, platform_zone, channels, smtp_server, webhook_receiver):
    secret = channels
    baseline = sweep()
    assert baseline == {"checked": 1, "alerts": 0}
    assert smtp_server.messages == [] and webhook_receiver.requests == []
    assert db.session.get(DomainHealth, verified.id) is not None

    platform_zone.set_record(f"{ZONE}.", "TXT", "v=spf1 +all")
    assert sweep() == {"checked": 1, "alerts": 1}

    [(recipients, email)] = smtp_server.messages
    assert recipients == ["ops@example.com"]
    assert email["Subject"] == f"{ZONE}: 1 new or worse DNS problem (SPF_PLUS_ALL)"
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "SPF_PLUS_ALL" in text and "v=spf1 +all" in text and GOOD_SPF in text
    assert f"/health/{verified.id}" in text

    [hook] = webhook_receiver.requests
    assert webhooks.signature_matches(secret, hook.body, hook.headers["X-Signature"])
    body = json.loads(hook.body)
    assert body["type"] == "drift" and body["domain_id"] == verified.id
    assert [f["code"] for f in body["data"]["opened"]] == ["SPF_PLUS_ALL"]
    changed = {change["name"]: change for change in body["data"]["records_changed"]}
    assert changed[f"{ZONE} TXT"]["before"] == [GOOD_SPF]
    assert changed[f"{ZONE} TXT"]["after"] == ["v=spf1 +all"]
    assert {d.status for d in db.session.scalars(select(AlertDelivery))} == {
        DeliveryStatus.DELIVERED}

    assert sweep() == {"checked": 1, "alerts": 0}, "the same finding does not alert twice"
    assert len(smtp_server.messages) == 1 and len(webhook_receiver.requests) == 1

    platform_zone.set_record(f"{ZONE}.", "TXT", GOOD_SPF)
    assert sweep() == {"checked": 1, "alerts": 1}
    assert len(smtp_server.messages) == 2 and len(webhook_receiver.requests) == 2
    resolved_email = smtp_server.messages[1][1]
    assert resolved_email["Subject"] == (f"{ZONE}: 1 DNS problem resolved or eased "
                                         "(SPF_PLUS_ALL)")
    resolved = json.loads(webhook_receiver.requests[1].body)
    assert resolved["type"] == "resolved"
    assert [f["code"] for f in resolved["data"]["resolved"]] == ["SPF_PLUS_ALL"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 2


def test_the_sweep_checks_verified_domains_in_batches_and_reports_progress(owner,
                                                                          platform_zone):
    names = [f"d{n}.{ZONE}" for n in range(3)]
    ids = [DomainFactory(workspace=owner.workspace, fqdn=name,
                         status=DomainStatus.VERIFIED).id for name in names]
    pending = DomainFactory(workspace=owner.workspace, fqdn=f"pending.{ZONE}").id
    commit()
    assert run_job(sweep_verified_domains, 2) == {"checked": 3, "alerts": 0}
    checked = set(db.session.scalars(select(DomainHealth.domain_id)))
    assert checked == set(ids) and pending not in checked
    progress = service.sweep_progress()
    assert (progress["total"], progress["done"], progress["running"]) == (3, 3, False)
    assert progress["started_at"] <= progress["finished_at"]


def test_before_any_sweep_the_progress_is_empty():
    assert service.sweep_progress() == {"started_at": None, "finished_at": None, "total": 0,
                                        "done": 0, "running": False}


def test_a_sweep_still_running_makes_the_next_one_skip(owner, platform_zone, redis_client):
    DomainFactory(workspace=owner.workspace, fqdn=f"d.{ZONE}", status=DomainStatus.VERIFIED)
    redis_client.set(SWEEP_LOCK_KEY, "another-sweep")
    assert run_job(sweep_verified_domains) == {"skipped": "another sweep is still running"}
    assert db.session.scalar(select(func.count()).select_from(DomainHealth)) == 0
    assert redis_client.get(SWEEP_LOCK_KEY) == b"another-sweep", "not someone else's to free"
    redis_client.delete(SWEEP_LOCK_KEY)
    assert run_job(sweep_verified_domains)["checked"] == 1
    assert redis_client.get(SWEEP_LOCK_KEY) is None


def test_a_domain_that_cannot_be_recorded_does_not_stop_the_sweep(owner, platform_zone,
                                                                  monkeypatch):
    broken, fine = (DomainFactory(workspace=owner.workspace, fqdn=f"{name}.{ZONE}",
                                  status=DomainStatus.VERIFIED).id for name in ("a", "b"))
    commit()
    record = service.record_report

    def fail_for_one(domain_id, report, **kwargs):
        if domain_id == broken:
            raise RuntimeError("a bug in recording")
        return record(domain_id, report, **kwargs)

    monkeypatch.setattr(service, "record_report", fail_for_one)
    assert run_job(sweep_verified_domains) == {"checked": 2, "alerts": 0}
    assert list(db.session.scalars(select(DomainHealth.domain_id))) == [fine]


def test_check_now_records_one_domain_like_the_sweep(owner, verified):
    outcome = run_job(check_domain, verified.id)
    health = db.session.get(DomainHealth, verified.id)
    assert outcome == {"score": health.score, "band": health.band, "alert_id": None}
    assert run_job(check_domain, 2**31 - 1) is None
