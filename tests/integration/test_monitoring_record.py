"""Recording health checks: finding rows open, refresh and resolve; snapshots only when
something changed; one alert per check that moved something, never twice for the same finding.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.core.findings import ERROR, Finding, finding
from app.core.health import score
from app.domains.models import DomainStatus
from app.extensions import db
from app.monitoring import queries, service
from app.monitoring.models import (Alert, AlertChannel, AlertDelivery, ChannelKind,
                                   DomainFinding, DomainHealth, HealthSnapshot)
from app.monitoring.validator import ValidationReport
from app.uow import commit
from tests.factories import DomainFactory

SPF = "v=spf1 include:_spf.penguinmails.net -all"
DMARC = "v=DMARC1; p=none; rua=mailto:dmarc-reports@penguinmails.net"


@pytest.fixture
def domain():
    return DomainFactory(fqdn="drift.example", status=DomainStatus.VERIFIED)


def records(spf: str = SPF, dmarc: str = DMARC) -> dict[str, list[str]]:
    return {"drift.example TXT": [spf], "_dmarc.drift.example TXT": [dmarc]}


def report(*findings: Finding, observed: dict | None = None) -> ValidationReport:
    found = list(findings)
    return ValidationReport("drift.example", found, score(found), utcnow(),
                            records() if observed is None else observed)


def dmarc_none(message: str = "p=none only monitors.") -> Finding:
    return finding("DMARC_POLICY_NONE", "_dmarc.drift.example", "TXT", message,
                   "Publish p=quarantine")


def plus_all() -> Finding:
    return finding("SPF_PLUS_ALL", "drift.example", "TXT", "`+all` lets anyone send.",
                   "Publish v=spf1 include:_spf.penguinmails.net -all")


def rows(domain, *, open_only: bool = False) -> list[DomainFinding]:
    query = select(DomainFinding).where(DomainFinding.domain_id == domain.id)
    if open_only:
        query = query.where(DomainFinding.resolved_at.is_(None))
    return list(db.session.scalars(query.order_by(DomainFinding.id)))


def count(model, domain) -> int:
    return db.session.scalar(select(func.count()).select_from(model)
                             .where(model.domain_id == domain.id))


def test_the_first_check_is_a_baseline_stored_without_an_alert(domain):
    recorded = service.record_report(domain.id, report(dmarc_none()))
    assert recorded.baseline and recorded.alert is None
    health = db.session.get(DomainHealth, domain.id)
    assert (health.score, health.band, health.worst_code, health.worst_severity) == (
        recorded.health.score, recorded.health.band, "DMARC_POLICY_NONE", "warning")
    assert (health.error_count, health.warning_count, health.previous_score) == (0, 1, None)
    assert [row.code for row in rows(domain)] == ["DMARC_POLICY_NONE"]
    assert recorded.snapshot is not None and recorded.snapshot.records == records()
    assert recorded.snapshot.findings[0]["code"] == "DMARC_POLICY_NONE"
    assert count(Alert, domain) == 0


def test_a_finding_still_seen_is_refreshed_not_reopened_and_nothing_is_stored_or_sent(domain):
    first = utcnow() - timedelta(minutes=15)
    service.record_report(domain.id, report(dmarc_none()), now=first)
    again = service.record_report(domain.id, report(dmarc_none()))
    [row] = rows(domain)
    assert row.first_seen == first and row.last_seen > first and row.resolved_at is None
    assert again.snapshot is None and again.alert is None and not again.findings.any
    assert count(HealthSnapshot, domain) == 1
    health = db.session.get(DomainHealth, domain.id)
    assert health.checked_at > first and health.changed_at == first


def test_a_new_finding_opens_a_row_stores_a_snapshot_and_raises_one_alert(domain):
    service.record_report(domain.id, report(dmarc_none()))
    before = db.session.get(DomainHealth, domain.id).score
    broken = records(spf="v=spf1 +all")
    recorded = service.record_report(domain.id, report(dmarc_none(), plus_all(), observed=broken))

    assert [row.code for row in rows(domain, open_only=True)] == ["DMARC_POLICY_NONE",
                                                                  "SPF_PLUS_ALL"]
    assert recorded.snapshot is not None and count(HealthSnapshot, domain) == 2
    health = db.session.get(DomainHealth, domain.id)
    assert health.previous_score == before and health.score < before
    assert (health.worst_code, health.error_count) == ("SPF_PLUS_ALL", 1)

    alert = recorded.alert
    assert alert.kind == "drift" and alert.domain_id == domain.id
    assert alert.subject == "drift.example: 1 new or worse DNS problem (SPF_PLUS_ALL)"
    assert [f["code"] for f in alert.payload["opened"]] == ["SPF_PLUS_ALL"]
    assert alert.payload["previous_score"] == before and alert.payload["score"] == health.score
    [change] = alert.payload["records_changed"]
    assert change["name"] == "drift.example TXT" and change["added"] == ["v=spf1 +all"]
    assert alert.payload["url"].endswith(f"/health/{domain.id}")
    assert count(Alert, domain) == 1


def test_the_same_finding_never_alerts_twice(domain):
    service.record_report(domain.id, report())
    service.record_report(domain.id, report(plus_all()))
    for _ in range(3):
        again = service.record_report(domain.id, report(plus_all()))
        assert again.alert is None
    # Its text changing (a count, a seen value) is not a new finding either.
    reworded = Finding("SPF_PLUS_ALL", ERROR, "drift.example", "TXT", "now worded otherwise", "")
    assert service.record_report(domain.id, report(reworded)).alert is None
    assert count(Alert, domain) == 1
    assert len(rows(domain)) == 1 and rows(domain)[0].message == "now worded otherwise"


def test_a_worsened_finding_alerts_and_keeps_its_row(domain):
    service.record_report(domain.id, report(dmarc_none()))
    [row] = rows(domain)
    worse = finding("DMARC_POLICY_NONE", "_dmarc.drift.example", "TXT", "p=none", "",
                    severity=ERROR)
    recorded = service.record_report(domain.id, report(worse))
    assert recorded.alert.kind == "drift"
    assert recorded.alert.payload["worsened"][0]["previous_severity"] == "warning"
    assert rows(domain) == [row] and row.severity == ERROR


def test_a_fixed_finding_resolves_its_row_and_sends_a_resolved_notice(domain):
    service.record_report(domain.id, report())
    service.record_report(domain.id, report(plus_all(), observed=records(spf="v=spf1 +all")))
    fixed = service.record_report(domain.id, report())
    [row] = rows(domain)
    assert row.resolved_at is not None
    assert fixed.alert.kind == "resolved"
    assert fixed.alert.subject == "drift.example: 1 DNS problem resolved or eased (SPF_PLUS_ALL)"
    assert [f["code"] for f in fixed.alert.payload["resolved"]] == ["SPF_PLUS_ALL"]
    # Broken again later: a new row and a new alert, the old row stays resolved.
    broken = service.record_report(domain.id, report(plus_all(),
                                                     observed=records(spf="v=spf1 +all")))
    assert broken.alert.kind == "drift"
    assert [r.resolved_at is None for r in rows(domain)] == [False, True]


def test_a_changed_record_with_the_same_findings_alerts_once(domain):
    service.record_report(domain.id, report(dmarc_none()))
    moved = records(dmarc="v=DMARC1; p=none; rua=mailto:elsewhere@example.net")
    changed = service.record_report(domain.id, report(dmarc_none(), observed=moved))
    assert changed.alert.kind == "records_changed"
    assert changed.alert.subject == "drift.example: DNS records changed (1 name)"
    assert changed.snapshot is not None
    assert service.record_report(domain.id, report(dmarc_none(), observed=moved)).alert is None


def test_a_lookup_that_failed_is_not_a_changed_record_and_the_next_answer_is_not_either(domain):
    service.record_report(domain.id, report())
    timeout = finding("DNS_TIMEOUT", "drift.example", "TXT", "timed out")
    unread = {"_dmarc.drift.example TXT": [DMARC]}  # the apex TXT lookup failed
    failed = service.record_report(domain.id, report(timeout, observed=unread))
    assert failed.records == []
    assert failed.snapshot.records == records(), "the last known values are kept"
    healed = service.record_report(domain.id, report())
    assert healed.records == [] and healed.alert.kind == "resolved"


def test_a_name_asked_only_sometimes_is_not_a_changed_record(domain):
    """A blocklist that answers one sweep and refuses the next (an info finding) changes what
    was asked, not what the zone holds."""
    listed = {**records(), "drift.example.dbl.spamhaus.org A": []}
    refused = finding("DNSBL_QUERY_REFUSED", "drift.example.dbl.spamhaus.org", "A", "refused")
    service.record_report(domain.id, report(observed=listed))
    assert service.record_report(domain.id, report(refused)).alert is None
    assert service.record_report(domain.id, report(observed=listed)).alert is None
    assert count(Alert, domain) == 0


def test_a_domain_that_is_not_verified_is_recorded_but_never_alerts(domain):
    domain.status = DomainStatus.VERIFYING
    service.record_report(domain.id, report())
    recorded = service.record_report(domain.id, report(plus_all()))
    assert recorded.alert is None and recorded.snapshot is not None
    assert [row.code for row in rows(domain)] == ["SPF_PLUS_ALL"]


def test_a_deleted_domain_records_nothing():
    assert service.record_report(2**31 - 1, report()) is None


def test_one_check_that_moves_many_things_raises_one_alert_summarising_them(domain):
    service.record_report(domain.id, report(dmarc_none()))
    missing = finding("DKIM_MISSING", "pm1._domainkey.drift.example", "TXT", "gone")
    recorded = service.record_report(domain.id, report(
        plus_all(), missing, observed=records(spf="v=spf1 +all", dmarc="v=DMARC1; p=reject")))
    assert count(Alert, domain) == 1
    payload = recorded.alert.payload
    assert [f["code"] for f in payload["opened"]] == ["DKIM_MISSING", "SPF_PLUS_ALL"]
    assert [f["code"] for f in payload["resolved"]] == ["DMARC_POLICY_NONE"]
    assert len(payload["records_changed"]) == 2
    assert recorded.alert.subject == ("drift.example: 2 new or worse DNS problems "
                                      "(DKIM_MISSING, SPF_PLUS_ALL)")


def test_an_alert_is_delivered_to_every_enabled_channel_once_committed(domain, redis_client):
    on = AlertChannel(workspace_id=domain.workspace_id, kind=ChannelKind.EMAIL, name="Ops",
                      target="ops@example.com")
    off = AlertChannel(workspace_id=domain.workspace_id, kind=ChannelKind.EMAIL, name="Off",
                       target="off@example.com", enabled=False)
    db.session.add_all([on, off])
    service.record_report(domain.id, report())
    recorded = service.record_report(domain.id, report(plus_all()))
    deliveries = db.session.scalars(select(AlertDelivery)
                                    .where(AlertDelivery.alert_id == recorded.alert.id)).all()
    assert [d.channel_id for d in deliveries] == [on.id]
    mail_queue = Queue("mail", connection=redis_client)
    assert mail_queue.count == 0, "nothing is queued before the commit"
    commit()
    assert [job.args for job in mail_queue.jobs] == [(deliveries[0].id,)]


def test_read_helpers_list_open_findings_worst_first_and_page_snapshots(domain):
    service.record_report(domain.id, report(dmarc_none()))
    service.record_report(domain.id, report(dmarc_none(), plus_all()))
    service.record_report(domain.id, report(plus_all()))
    assert [row.code for row in service.open_findings(domain)] == ["SPF_PLUS_ALL"]
    first_page = queries.snapshot_history(domain, page=1, per_page=2)
    newest_first = [change.snapshot for change in first_page.changes]
    assert len(newest_first) == 2 and newest_first[0].id > newest_first[1].id
    older = [change.snapshot for change in
             queries.snapshot_history(domain, page=2, per_page=2).changes]
    assert len(older) == 1 and older[0].id < newest_first[-1].id
