"""Reputation from stored roll-ups: isolation per sending identity, idempotent roll-ups, the
roll-up job, the domain page and the reputation API."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import event, func, select

from app.core.clock import utcnow
from app.domains.models import Domain
from app.extensions import db
from app.reputation import ingest, rollup, service, tasks
from app.reputation.models import ReputationStat, StatScope
from tests.factories import DomainFactory, WorkspaceFactory, api_token, member
from tests.helpers import login
from tests.monitoring_factories import health_of, problem

_ids = count()


def send(domain: Domain, kind: str = "delivered", n: int = 1, *, hours_ago: float = 1,
         **fields) -> None:
    """Store `n` events of `kind` for `domain` as the API would."""
    at = (utcnow() - timedelta(hours=hours_ago)).isoformat()
    result = ingest.ingest(domain.workspace_id, [
        {"id": f"ev-{next(_ids)}", "domain": domain.fqdn, "type": kind, "at": at, **fields}
        for _ in range(n)])
    assert result.accepted == n, result.rejected[:3]


def roll_up_everything() -> None:
    rollup.roll_up(rollup.touched_since(utcnow() - timedelta(days=365)))


def summaries(*domains: Domain) -> list[tuple]:
    found = service.reputation_summaries([d.id for d in domains])
    return [(found[d.id].score, found[d.id].subtree_score) for d in domains]


@pytest.fixture
def family():
    """example.com with marketing. and sales. under it, and eu.marketing. under that."""
    workspace = WorkspaceFactory()
    parent = DomainFactory(workspace=workspace, fqdn="example.com")
    marketing = DomainFactory(workspace=workspace, fqdn="marketing.example.com", parent=parent)
    sales = DomainFactory(workspace=workspace, fqdn="sales.example.com", parent=parent)
    eu = DomainFactory(workspace=workspace, fqdn="eu.marketing.example.com", parent=marketing)
    return parent, marketing, sales, eu


# --- isolation ------------------------------------------------------------------------------

def test_a_subdomains_complaints_move_only_its_own_score_and_its_ancestors_subtree(ctx, family):
    parent, marketing, sales, eu = family
    for domain in family:
        send(domain, n=1_000)
    roll_up_everything()
    assert summaries(parent, marketing, sales, eu) == [
        (100, 100), (100, 100), (100, 100), (100, 100)]

    send(eu, "complained", n=5)  # 0.5 % of delivered: over the providers' limit
    roll_up_everything()

    (parent_own, parent_tree), (mkt_own, mkt_tree), sales_now, eu_now = summaries(
        parent, marketing, sales, eu)
    assert eu_now == (39, 39)
    assert (parent_own, mkt_own, sales_now) == (100, 100, (100, 100))
    assert mkt_tree == round((100 * 1_000 + 39 * 1_000) / 2_000)
    assert parent_tree == round((100 * 3_000 + 39 * 1_000) / 4_000)


def test_a_subdomains_blacklisting_is_its_own(ctx, family):
    parent, marketing, sales, _ = family
    for domain in (parent, marketing, sales):
        send(domain, n=200)
    health_of(sales, [problem("DNSBL_LISTED", sales, host=f"{sales.fqdn}.dbl.example")])
    roll_up_everything()
    found = service.reputation_summaries([parent.id, marketing.id, sales.id])
    assert found[sales.id].score < 60 and found[sales.id].band in ("poor", "bad")
    assert found[parent.id].score == found[marketing.id].score == 100
    assert found[parent.id].subtree_score < 100


def test_domains_without_events_have_no_scores_yet(ctx, family):
    parent, marketing, _, _ = family
    send(marketing, n=10)
    roll_up_everything()
    found = service.reputation_summaries([parent.id, marketing.id])
    assert (found[parent.id].score, found[parent.id].band) == (None, None)
    assert found[parent.id].subtree_score == 100 and found[parent.id].subtree_sent == 10
    assert found[marketing.id].low_volume


def test_summaries_take_queries_per_tree_level_not_per_domain(ctx, app):
    workspace = WorkspaceFactory()
    domains = [DomainFactory(workspace=workspace) for _ in range(12)]
    for index, domain in enumerate(domains):
        DomainFactory(workspace=workspace, parent=domain, fqdn=f"sub{index}.{domain.fqdn}")
        send(domain, n=3)
    roll_up_everything()

    def statements(ids) -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            service.reputation_summaries(ids)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    # Two levels walked (the children, then none below them) + totals + listings + health.
    assert statements([domains[0].id]) == statements([d.id for d in domains]) == 5


# --- roll-ups -------------------------------------------------------------------------------

def stat_rows(domain: Domain) -> list[tuple]:
    return sorted(db.session.execute(
        select(ReputationStat.day, ReputationStat.scope, ReputationStat.region,
               ReputationStat.ip, ReputationStat.delivered, ReputationStat.bounced,
               ReputationStat.hard_bounced, ReputationStat.soft_bounced,
               ReputationStat.complained).where(ReputationStat.domain_id == domain.id)).all(),
        key=repr)


def test_rolling_up_a_day_twice_gives_the_same_rows(ctx, family):
    parent = family[0]
    send(parent, n=5, region="eu-west", ip="192.0.2.10")
    send(parent, "bounced", n=2, bounce_class="hard", ip="192.0.2.11")
    send(parent, "bounced", n=1, bounce_class="block")
    send(parent, "bounced", n=3)
    roll_up_everything()
    first = stat_rows(parent)
    roll_up_everything()
    assert stat_rows(parent) == first
    day = (utcnow() - timedelta(hours=1)).date()
    assert (day, StatScope.ALL, None, None, 5, 6, 3, 3, 0) in first
    assert (day, StatScope.REGION, "eu-west", None, 5, 0, 0, 0, 0) in first
    assert (day, StatScope.IP, "192.0.2.11", None, 0, 2, 2, 0, 0) not in first  # ip column set
    assert (day, StatScope.IP, None, "192.0.2.11", 0, 2, 2, 0, 0) in first
    assert len(first) == 4


def test_late_events_replace_the_days_rows_instead_of_adding_to_them(ctx, family):
    parent = family[0]
    send(parent, n=5, hours_ago=30)
    roll_up_everything()
    send(parent, n=2, hours_ago=30)
    roll_up_everything()
    totals = db.session.execute(select(func.count(), func.sum(ReputationStat.delivered))
                                .where(ReputationStat.domain_id == parent.id)).one()
    assert tuple(totals) == (1, 7)


def test_the_roll_up_job_redoes_only_what_arrived_since_its_last_run(ctx, family):
    parent, marketing = family[0], family[1]
    an_hour_ago = utcnow() - timedelta(hours=1)
    old = [{"id": f"old-{n}", "domain": parent.fqdn, "type": "delivered",
            "at": (an_hour_ago - timedelta(hours=hours)).isoformat()}
           for n, hours in enumerate((0, 0, 0, 0, 50))]
    ingest.ingest(parent.workspace_id, old, now=an_hour_ago)  # received an hour ago
    assert tasks.roll_up_recent_days() == {"days": 2, "domain_days": 2}  # first run: all
    assert service.reputation_summaries([parent.id])[parent.id].sent == 5

    tasks.redis_connection().set(tasks.WATERMARK_KEY,
                                 (utcnow() - timedelta(minutes=10)).isoformat())
    send(marketing, n=3, hours_ago=0)
    assert tasks.roll_up_recent_days() == {"days": 1, "domain_days": 1}
    assert service.reputation_summaries([marketing.id])[marketing.id].sent == 3
    assert service.reputation_summaries([parent.id])[parent.id].sent == 5


def test_a_roll_up_already_running_makes_the_next_one_skip(ctx, redis_client):
    redis_client.set(tasks.LOCK_KEY, "someone-else")
    assert tasks.roll_up_recent_days() == {"skipped": "another roll-up is still running"}


# --- the page and the API -------------------------------------------------------------------

def test_the_page_draws_the_charts_with_thresholds_and_own_and_subtree_scores(client, family):
    parent, marketing = family[0], family[1]
    user = member(workspace=parent.workspace)
    send(parent, n=2_000, region="eu-west", ip="192.0.2.10")
    send(parent, "complained", n=4, region="eu-west", ip="192.0.2.10")  # 0.2 %
    send(marketing, "bounced", n=500, bounce_class="hard")
    send(marketing, n=500)
    roll_up_everything()
    login(client, user)
    response = client.get(f"/w/{parent.workspace.slug}/reputation/{parent.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("<svg") == 4 and "cdn" not in html.lower()
    assert "0.1 % providers warn" in html and "0.3 % providers&#39; limit" in html
    assert "over the providers&#39; 0.10 % warning level" in html
    assert "eu-west" in html and "192.0.2.10" in html
    own = service.reputation_summaries([parent.id])[parent.id]
    assert own.score != own.subtree_score
    assert f"<strong>{own.score}</strong>" in html and f"<strong>{own.subtree_score}</strong>" in html


def test_the_page_reports_a_bad_range_and_shows_the_default(client, family):
    parent = family[0]
    login(client, member(workspace=parent.workspace))
    response = client.get(f"/w/{parent.workspace.slug}/reputation/{parent.id}"
                          "?from=2026-05-10&to=2026-05-01")
    assert response.status_code == 200
    assert "`from` must be on or before `to`." in response.get_data(as_text=True)


def test_the_page_is_not_found_for_another_workspaces_domain(client, family):
    parent = family[0]
    outsider = member()
    login(client, outsider)
    their_slug = parent.workspace.slug
    my_slug = outsider.workspaces()[0][0].slug
    assert client.get(f"/w/{their_slug}/reputation/{parent.id}").status_code == 404
    assert client.get(f"/w/{my_slug}/reputation/{parent.id}").status_code == 404


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_gives_score_breakdown_and_daily_series(client, family):
    parent = family[0]
    secret = api_token(member(workspace=parent.workspace), parent.workspace)
    send(parent, n=1_000, hours_ago=1)
    send(parent, "bounced", n=30, bounce_class="hard", hours_ago=1)
    roll_up_everything()
    today = utcnow().date()
    response = client.get(f"/api/v1/domains/{parent.id}/reputation"
                          f"?from={(today - timedelta(days=6)).isoformat()}&to={today}",
                          headers=bearer(secret))
    assert response.status_code == 200
    body = response.get_json()
    assert body["score"] == 100 - body["breakdown"][0]["points"]
    assert body["breakdown"][0]["cause"] == "hard_bounces"
    assert len(body["daily"]) == 7 and body["daily"][-1]["day"] == today.isoformat()
    assert sum(day["sent"] for day in body["daily"]) == 1_030
    assert body["subtree"]["score"] == body["score"]


def test_the_api_refuses_a_bad_range_and_another_workspaces_domain(client, family):
    parent = family[0]
    secret = api_token(member(workspace=parent.workspace), parent.workspace)
    response = client.get(f"/api/v1/domains/{parent.id}/reputation?from=yesterday",
                          headers=bearer(secret))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"from": "`from` must be a date like "
                                                              "2026-05-01."}
    response = client.get(f"/api/v1/domains/{parent.id}/reputation?from=2024-01-01&to=2026-01-01",
                          headers=bearer(secret))
    assert response.status_code == 422
    outsider = WorkspaceFactory()
    other = api_token(member(workspace=outsider), outsider, secret="pmd_outsider")
    response = client.get(f"/api/v1/domains/{parent.id}/reputation", headers=bearer(other))
    assert response.status_code == 404
