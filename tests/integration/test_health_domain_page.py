"""A domain's health page: its score explained finding by finding, the findings with their
fixes, the history of snapshots with what changed, and "Check now"."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.findings import WARNING
from app.domains import service as domains
from app.domains.models import Domain, DomainStatus
from app.extensions import db
from app.monitoring.models import DomainHealth
from app.monitoring.tasks import check_domain
from app.workspaces.roles import Role
from tests.acme_workspace import owner, workspace  # noqa: F401  (fixtures)
from tests.factories import DomainFactory, WorkspaceFactory, member
from tests.helpers import login
from tests.monitoring_factories import HealthSnapshotFactory, health_of, problem
from tests.onboarding import ZONE, actor_for, onboard, publish, run_job

PANEL = {"HX-Request": "true", "HX-Target": "domain-health"}
POLLS = 'hx-trigger="every 3s"'




@pytest.fixture
def domain(workspace, owner) -> Domain:
    return DomainFactory(workspace=workspace, fqdn="example.com", status=DomainStatus.VERIFIED)


def page(client, domain: Domain, headers=None, **params) -> str:
    response = client.get(f"/w/acme/health/{domain.id}", query_string=params,
                          headers=headers or {})
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def check_jobs(redis_client) -> list:
    return [job for job in Queue("dns", connection=redis_client).jobs
            if job.func_name == "app.monitoring.tasks.check_domain"]


# --- the score and the findings ------------------------------------------------------------

def test_the_score_is_explained_point_by_point(client, domain):
    health_of(domain, [problem("SPF_PLUS_ALL", domain), problem("DMARC_POLICY_NONE", domain,
                                                                host="_dmarc.example.com")])
    html = page(client, domain)
    assert 'health-score-critical">55<' in html
    table = re.search(r'<table class="data deductions">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<code>(\w+)</code>.*?<td class=\"num\">−(\d+)</td>", table, re.S)
    assert rows == [("SPF_PLUS_ALL", "35"), ("DMARC_POLICY_NONE", "10")]
    assert "100 − 45" in table and '<th class="num">55</th>' in table


def test_an_error_caps_the_score_and_the_cap_is_charged_to_it(client, domain):
    health_of(domain, [problem("MX_MISSING", domain, record_type="MX")])
    html = page(client, domain)
    assert 'health-score-critical">69<' in html
    assert "−31" in html  # the 30 it costs plus the 1 that brings 70 down to the cap


def test_open_findings_show_record_message_and_a_fix_to_copy(client, domain):
    health_of(domain, [replace(problem("SPF_PLUS_ALL", domain),
                               fix="Publish: v=spf1 include:_spf.x ~all")])
    html = page(client, domain)
    card = re.search(r'<li class="finding finding-error" data-code="SPF_PLUS_ALL">(.*?)</li>',
                     html, re.S).group(1)
    assert "SPF ends in +all: anyone may send" in card
    assert "example.com" in card and ">TXT<" in card
    assert "SPF_PLUS_ALL seen at example.com." in card
    assert "−35 points" in card
    # The copy button copies the record itself, ready for the DNS host's value field.
    assert 'data-copy="v=spf1 include:_spf.x ~all"' in card


def test_resolved_findings_are_listed_apart(client, domain):
    health_of(domain, [], resolved=[problem("DMARC_MISSING", domain,
                                            host="_dmarc.example.com")])
    html = page(client, domain)
    assert "No open findings." in html
    resolved = re.search(r'<table class="data resolved-findings">(.*?)</table>', html,
                         re.S).group(1)
    assert "DMARC_MISSING" in resolved and "_dmarc.example.com TXT" in resolved
    assert "Nothing costs points" in html


def test_a_domain_never_checked_says_so(client, domain):
    html = page(client, domain)
    assert "Not checked yet" in html and "health-score-none" in html
    assert "Check now" in html


# --- history -------------------------------------------------------------------------------

def snapshot(domain, minutes_ago: int, records: dict, findings: list, score: int):
    return HealthSnapshotFactory(domain=domain, taken_at=utcnow() - timedelta(minutes=minutes_ago),
                                 records=records, score=score,
                                 findings=[found.to_dict() for found in findings])


def test_history_shows_what_changed_between_snapshots(client, domain):
    spf_host = "example.com TXT"
    plus_all = problem("SPF_PLUS_ALL", domain)
    no_dmarc = problem("DMARC_MISSING", domain, host="_dmarc.example.com")
    none = problem("DMARC_POLICY_NONE", domain, host="_dmarc.example.com")
    snapshot(domain, 60, {spf_host: ["v=spf1 +all"], "_dmarc.example.com TXT": []},
             [plus_all, no_dmarc], 35)
    snapshot(domain, 30, {spf_host: ["v=spf1 include:_spf.x ~all"],
                          "_dmarc.example.com TXT": ["v=DMARC1; p=none"]}, [none], 90)
    health_of(domain, [none])
    html = page(client, domain)
    history = html[html.index('id="history"'):]
    newest, oldest = history.split('<article class="snapshot">')[1:3]
    assert "35 → <strong>90</strong>" in newest
    assert "opened <code>DMARC_POLICY_NONE</code>" in newest
    assert "resolved <code>SPF_PLUS_ALL</code>" in newest
    assert "resolved <code>DMARC_MISSING</code>" in newest
    assert re.search(r"removed:</span> <code>v=spf1 \+all</code>", newest)
    assert re.search(r"added:</span> <code>v=spf1 include:_spf.x ~all</code>", newest)
    assert re.search(r"added:</span> <code>v=DMARC1; p=none</code>", newest)
    assert "First snapshot: 2 findings" in oldest
    assert "2 snapshots" in history


def test_worsened_findings_and_names_looked_up_for_the_first_time(client, domain):
    weak = problem("DKIM_KEY_WEAK", domain, severity=WARNING, host="pm1._domainkey.example.com")
    snapshot(domain, 60, {"example.com TXT": []}, [weak], 90)
    worse = problem("DKIM_KEY_WEAK", domain, severity="error", host="pm1._domainkey.example.com")
    snapshot(domain, 30, {"example.com TXT": [], "pm1._domainkey.example.com TXT": ["p="]},
             [worse], 65)
    health_of(domain, [worse])
    html = page(client, domain)
    assert "worse <code>DKIM_KEY_WEAK</code>" in html and "warning → error" in html
    assert "pm1._domainkey.example.com TXT <span class=\"muted small\">(newly looked up)" in html


def test_history_is_paged_and_each_page_diffs_its_last_snapshot(client, domain):
    for number in range(12):
        snapshot(domain, 100 - number, {"example.com TXT": [f"v=spf1 ip4:192.0.2.{number} ~all"]},
                 [], 100)
    health_of(domain, [])
    first = page(client, domain)
    assert first.count('<article class="snapshot">') == 10
    assert "Page 1 of 2" in first
    assert f'href="/w/acme/health/{domain.id}?history=2#history"' in first
    second = page(client, domain, history=2)
    assert second.count('<article class="snapshot">') == 2
    assert "ip4:192.0.2.1 ~all" in second and "First snapshot" in second
    # The last snapshot of page 1 is diffed against the first one of page 2.
    assert "removed:</span> <code>v=spf1 ip4:192.0.2.2 ~all" in first


# --- Check now -----------------------------------------------------------------------------

def test_check_now_queues_the_check_after_the_commit_and_polls_until_it_lands(
        client, domain, redis_client):
    checked_at = utcnow() - timedelta(hours=1)
    health_of(domain, [], checked_at=checked_at)
    response = client.post(f"/w/acme/health/{domain.id}/check", headers=PANEL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="domain-health"') and "<html" not in html
    assert POLLS in html and "Checking DNS now" in html
    jobs = check_jobs(redis_client)
    assert [job.args for job in jobs] == [(domain.id,)]
    job_id = jobs[0].id
    assert job_id.startswith(f"health-{domain.id}-")
    assert f"job={job_id}" in html and "since=" in html

    poll_url = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    still = client.get(poll_url, headers=PANEL).get_data(as_text=True)
    assert POLLS in still  # queued, and checked_at has not moved

    db.session.get(DomainHealth, domain.id).checked_at = utcnow()  # the job has recorded
    db.session.flush()
    done = client.get(poll_url, headers=PANEL).get_data(as_text=True)
    assert POLLS not in done and "Checked just now." in done
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "domain.health_check_requested")) == 1


def test_check_now_without_javascript_redirects_to_the_polling_page(client, domain,
                                                                    redis_client):
    response = client.post(f"/w/acme/health/{domain.id}/check")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"/w/acme/health/{domain.id}?job=health-{domain.id}-")
    assert "since=never" in location
    assert POLLS in client.get(location).get_data(as_text=True)


def test_a_check_that_vanished_stops_the_polling(client, domain, redis_client):
    html = page(client, domain, job=f"health-{domain.id}-000000000000", since="never")
    assert POLLS not in html and "The check did not finish" in html


def test_a_job_id_of_another_domain_is_not_followed(client, workspace, domain, redis_client):
    other = DomainFactory(workspace=workspace, fqdn="other.example")
    client.post(f"/w/acme/health/{other.id}/check")
    job_id = check_jobs(redis_client)[0].id
    assert POLLS not in page(client, domain, job=job_id, since="never")


def test_viewers_read_the_page_but_cannot_check(client, workspace, domain, redis_client):
    client.post("/logout")
    login(client, member(Role.VIEWER, workspace))
    html = page(client, domain)
    assert "Check now" not in html and "Your role in this workspace is viewer" in html
    response = client.post(f"/w/acme/health/{domain.id}/check", headers=PANEL)
    assert response.status_code == 403
    assert check_jobs(redis_client) == []


def test_another_workspaces_domain_is_not_found(client, owner, redis_client):
    theirs = DomainFactory(workspace=WorkspaceFactory(name="Rival"), fqdn="rival.example")
    assert client.get(f"/w/acme/health/{theirs.id}").status_code == 404
    assert client.post(f"/w/acme/health/{theirs.id}/check").status_code == 404
    assert check_jobs(redis_client) == []


def test_check_now_end_to_end_with_a_real_dns_server(app, client, zone_server, redis_client):
    """The queued job checks the zone on the loopback DNS server; the page then shows it."""
    actor = actor_for(Role.OWNER)
    login(client, actor.user)
    domain = onboard(actor)
    publish(zone_server, domains.expected_records(domain))
    zone_server.set_record(f"{ZONE}.", "TXT", ("v=spf1 +all",))
    slug, domain_id = domain.workspace.slug, domain.id
    response = client.post(f"/w/{slug}/health/{domain_id}/check", headers=PANEL)
    assert "Checking DNS now" in response.get_data(as_text=True)
    (job,) = check_jobs(redis_client)
    run_job(check_domain, *job.args)
    poll_url = re.search(r'hx-get="([^"]+)"', response.get_data(as_text=True)).group(1)
    done = client.get(poll_url.replace("&amp;", "&"), headers=PANEL).get_data(as_text=True)
    assert "Checked just now." in done and POLLS not in done
    assert 'data-code="SPF_PLUS_ALL"' in done
    assert 'data-code="DKIM_MISSING"' not in done  # the zone serves our key
