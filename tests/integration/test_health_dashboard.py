"""The DNS health dashboard: every domain of the workspace with its score, sorted, filtered,
searched and paged on the server, as a bookmarkable page or just its table for HTMX."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event

from app.core.clock import utcnow
from app.extensions import db
from app.monitoring import service
from app.monitoring.queries import PAGE_SIZE
from tests.acme_workspace import owner, workspace  # noqa: F401  (fixtures)
from tests.factories import DomainFactory, WorkspaceFactory
from tests.monitoring_factories import checked_domain, health_of, problem, tag

TABLE = {"HX-Request": "true", "HX-Target": "health-table"}
POLLS = 'hx-trigger="every 3s"'




def dashboard(client, workspace=None, headers=None, **params):
    slug = workspace.slug if workspace else "acme"
    response = client.get(f"/w/{slug}/health/", query_string=params, headers=headers or {})
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def listed(html: str) -> list[str]:
    """The domains in the table, in order."""
    return re.findall(r'<tr data-domain="([^"]+)"', html)


def row_of(html: str, fqdn: str) -> str:
    match = re.search(rf'<tr data-domain="{re.escape(fqdn)}">(.*?)</tr>', html, re.S)
    assert match, f"{fqdn} is not listed"
    return match.group(1)


@pytest.fixture
def mixed(workspace, owner):
    """Four checked domains across the bands and one never checked."""
    now = utcnow()
    return {
        "clean": checked_domain(workspace, "clean.example", checked_at=now - timedelta(minutes=5),
                                previous_score=90),
        "weak": checked_domain(workspace, "weak.example", ["DMARC_POLICY_NONE"],
                               checked_at=now - timedelta(minutes=1), previous_score=100),
        "broken": checked_domain(workspace, "broken.example", ["SPF_PLUS_ALL", "DMARC_POLICY_NONE"],
                                 checked_at=now - timedelta(minutes=30), previous_score=55),
        "listed": checked_domain(workspace, "listed.example", ["DNSBL_LISTED", "SPF_NO_ALL"],
                                 checked_at=now - timedelta(minutes=10)),
        "new": DomainFactory(workspace=workspace, fqdn="new.example"),
    }


# --- what a row shows --------------------------------------------------------------------

def test_each_domain_shows_score_band_worst_finding_last_check_and_change(client, mixed):
    html = dashboard(client)
    assert sorted(listed(html)) == sorted(d.fqdn for d in mixed.values())

    broken = row_of(html, "broken.example")
    assert 'health-score-critical">55<' in broken  # 100 - 35 - 10
    assert ">critical<" in broken
    assert "<code>SPF_PLUS_ALL</code>" in broken and "SPF ends in +all: anyone may send" in broken
    assert "and 1 more" in broken
    assert "change-none" in broken  # 55 before, 55 now

    weak = row_of(html, "weak.example")
    assert 'health-score-healthy">90<' in weak
    assert "DMARC_POLICY_NONE" in weak
    assert "change-down" in weak and "−10" in weak

    clean = row_of(html, "clean.example")
    assert ">100<" in clean and "no findings" in clean and "+10" in clean

    new = row_of(html, "new.example")
    assert new.count("not checked yet") >= 2  # status, worst finding and last checked
    assert "health-score-none" in new


def test_tags_are_listed_and_link_to_their_filter(client, workspace, mixed):
    tag(mixed["weak"], "client-a", "eu")
    html = dashboard(client)
    weak = row_of(html, "weak.example")
    assert ">client-a</a>" in weak and ">eu</a>" in weak
    assert 'href="/w/acme/health/?tag=client-a"' in weak


# --- sorting -----------------------------------------------------------------------------

@pytest.mark.parametrize(("sort", "order"), [
    ("", ["listed.example", "broken.example", "weak.example", "clean.example", "new.example"]),
    ("score", ["listed.example", "broken.example", "weak.example", "clean.example",
               "new.example"]),
    ("-score", ["clean.example", "weak.example", "broken.example", "listed.example",
                "new.example"]),
    ("domain", ["broken.example", "clean.example", "listed.example", "new.example",
                "weak.example"]),
    ("-domain", ["weak.example", "new.example", "listed.example", "clean.example",
                 "broken.example"]),
    ("-checked", ["weak.example", "clean.example", "listed.example", "broken.example",
                  "new.example"]),
    ("checked", ["broken.example", "listed.example", "clean.example", "weak.example",
                 "new.example"]),
    ("change", ["weak.example", "broken.example", "clean.example", "listed.example",
                "new.example"]),
    ("-change", ["clean.example", "broken.example", "weak.example", "listed.example",
                 "new.example"]),
])
def test_sorting_keeps_domains_never_checked_last(client, mixed, sort, order):
    assert listed(dashboard(client, sort=sort)) == order


def test_column_headers_sort_and_reverse_the_sort(client, mixed):
    html = dashboard(client, sort="domain")
    assert 'aria-sort="ascending"' in html
    assert 'href="/w/acme/health/?sort=-domain"' in html  # the active column reverses
    assert 'href="/w/acme/health/?sort=change"' in html


# --- filters and search ------------------------------------------------------------------

def test_band_filter_and_its_counts(client, mixed):
    html = dashboard(client, band="critical")
    assert sorted(listed(html)) == ["broken.example", "listed.example"]
    assert "All 5" in html and "critical 2" in html and "healthy 2" in html
    assert "warning 0" in html and "not checked yet 1" in html
    assert listed(dashboard(client, band="unchecked")) == ["new.example"]
    assert listed(dashboard(client, band="healthy")) == ["weak.example", "clean.example"]


def test_code_filter_finds_any_open_finding_not_only_the_worst(client, workspace, mixed):
    fixed = DomainFactory(workspace=workspace, fqdn="fixed.example")
    health_of(fixed, [], resolved=[problem("DMARC_POLICY_NONE", fixed)])
    html = dashboard(client, code="DMARC_POLICY_NONE")
    assert sorted(listed(html)) == ["broken.example", "weak.example"]
    assert listed(dashboard(client, code="spf_no_all")) == ["listed.example"]


def test_tag_filter(client, mixed):
    tag(mixed["weak"], "client-a")
    tag(mixed["new"], "client-a", "eu")
    tag(mixed["clean"], "eu")
    assert listed(dashboard(client, tag="client-a")) == ["weak.example", "new.example"]
    html = dashboard(client, tag="eu", band="unchecked")
    assert listed(html) == ["new.example"]
    assert '<option value="client-a"' in html and '<option value="eu" selected' in html


def test_search_matches_part_of_the_name_and_unicode_names(client, workspace, mixed):
    DomainFactory(workspace=workspace, fqdn="xn--bcher-kva.example")
    DomainFactory(workspace=workspace, fqdn="under_score.example")
    assert sorted(listed(dashboard(client, q="BROK"))) == ["broken.example"]
    assert listed(dashboard(client, q="bücher")) == ["xn--bcher-kva.example"]
    assert listed(dashboard(client, q="_")) == ["under_score.example"]  # not a LIKE wildcard
    assert listed(dashboard(client, q="%")) == []
    html = dashboard(client, q="nothing-like-this")
    assert "No domains match these filters." in html


def test_filters_combine(client, mixed):
    assert listed(dashboard(client, band="critical", code="DMARC_POLICY_NONE",
                            q="broken")) == ["broken.example"]
    assert listed(dashboard(client, band="healthy", code="SPF_PLUS_ALL")) == []


def test_parameters_that_name_nothing_are_explained_and_left_out(client, mixed):
    html = dashboard(client, band="purple", code="NOPE", sort="colour", page="-1", q="x" * 300)
    assert "There is no band “purple”" in html
    assert "There is no finding code “NOPE”" in html
    assert "Sort by score, domain, checked, change" in html
    assert "The page is a whole number from 1." in html
    assert "Search for at most 253 characters" in html
    assert len(listed(html)) == 5  # the rest of the view still works


# --- pages -------------------------------------------------------------------------------

@pytest.fixture
def many(workspace, owner):
    """PAGE_SIZE * 2 + 5 domains, scores falling with the number in the name."""
    domains = []
    for number in range(PAGE_SIZE * 2 + 5):
        domain = DomainFactory(workspace=workspace, fqdn=f"d{number:03d}.example")
        health_of(domain, [problem("DMARC_POLICY_NONE", domain)] * (number % 3))
        domains.append(domain)
    return domains


def test_pages_hold_page_size_rows_with_counts_and_page_links(client, many):
    first = dashboard(client, sort="domain")
    assert listed(first) == [f"d{n:03d}.example" for n in range(PAGE_SIZE)]
    assert f"Showing 1–{PAGE_SIZE} of {len(many)} domains" in first
    assert 'href="/w/acme/health/?sort=domain&amp;page=2"' in first
    assert 'href="/w/acme/health/?sort=domain&amp;page=3"' in first
    assert '<span class="current" aria-current="page">1</span>' in first

    last = dashboard(client, sort="domain", page=3)
    assert listed(last) == [f"d{n:03d}.example" for n in range(PAGE_SIZE * 2, len(many))]
    assert f"Showing {PAGE_SIZE * 2 + 1}–{len(many)} of {len(many)}" in last
    assert "Next →</span>" in last  # disabled on the last page


def test_a_page_past_the_end_shows_the_last_page(client, many):
    assert listed(dashboard(client, sort="domain", page=99)) == listed(
        dashboard(client, sort="domain", page=3))


def test_filters_count_and_page_together(client, many):
    html = dashboard(client, code="DMARC_POLICY_NONE", sort="domain")
    with_finding = [d.fqdn for n, d in enumerate(many) if n % 3]
    assert f"of {len(with_finding)} domains matching the filters" in html
    assert listed(html) == with_finding[:PAGE_SIZE]


def test_a_page_costs_the_same_few_queries_whatever_its_size(app, client, workspace, many):
    for domain in many[:20]:
        tag(domain, "bulk", f"t{domain.id}")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "domain" in statement:
            statements.append(statement)

    def dashboard_statements(**params) -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            dashboard(client, **params)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    full = dashboard_statements(sort="domain")
    small = dashboard_statements(sort="domain", q="d000")
    assert full == small
    assert full <= 4  # tallies, rows, tags, tag choices


# --- HTMX: one URL, two renderings -------------------------------------------------------

def test_a_request_aimed_at_the_table_gets_only_the_table(client, mixed):
    response = client.get("/w/acme/health/", query_string={"band": "critical"}, headers={
        **TABLE, "HX-Trigger": "health-filters"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="health-table"')
    assert "<html" not in html and 'id="health-filters"' not in html
    assert sorted(listed(html)) == ["broken.example", "listed.example"]
    assert {"HX-Request", "HX-Target", "HX-Trigger"} <= set(response.vary)
    assert response.headers["HX-Push-Url"] == "/w/acme/health/?band=critical"
    assert 'hx-swap-oob' not in html  # the form the user is typing in stays as it is


def test_a_table_link_also_updates_the_filter_form_out_of_band(client, mixed):
    html = dashboard(client, headers=TABLE, sort="-domain")
    assert '<div id="health-selects" class="health-selects" hx-swap-oob="true">' in html
    assert '<option value="-domain" selected>' in html


def test_a_boosted_navigation_gets_the_whole_page(client, mixed):
    html = dashboard(client, headers={"HX-Request": "true", "HX-Boosted": "true",
                                      "HX-Target": "health-table"})
    assert "<html" in html and 'id="health-filters"' in html


def test_the_page_works_without_javascript(client, mixed):
    html = dashboard(client, band="critical", q="broken")
    form = re.search(r'<form id="health-filters" method="get" action="/w/acme/health/"', html)
    assert form
    assert '<input type="search" id="health-q" name="q" value="broken"' in html
    assert '<option value="critical" selected>' in html
    assert "<noscript><button type=\"submit\"" in html


# --- live updates while a sweep runs -----------------------------------------------------

def test_the_table_polls_while_a_sweep_runs_and_stops_when_it_ends(app, client, mixed):
    assert POLLS not in dashboard(client)
    with app.app_context():
        service.start_sweep_progress(40)
        service.advance_sweep_progress(12)
    html = dashboard(client, sort="domain")
    assert POLLS in html
    assert 'hx-get="/w/acme/health/?sort=domain"' in html
    assert "Sweep running: 30% done" in html

    poll = client.get("/w/acme/health/", query_string={"sort": "domain"},
                      headers={**TABLE, "HX-Trigger": "health-table"})
    assert POLLS in poll.get_data(as_text=True)
    assert "HX-Push-Url" not in poll.headers  # a poll is not a navigation

    with app.app_context():
        service.finish_sweep_progress()
    done = client.get("/w/acme/health/", headers={**TABLE, "HX-Trigger": "health-table"})
    assert POLLS not in done.get_data(as_text=True)
    assert "Sweep running" not in done.get_data(as_text=True)


def test_platform_admins_see_the_sweeps_domain_counts(app, client, workspace, mixed, owner):
    owner.is_platform_admin = True
    db.session.flush()
    with app.app_context():
        service.start_sweep_progress(40)
        service.advance_sweep_progress(12)
    assert "Sweep running: 12/40 domains checked" in dashboard(client)


# --- tenancy and the platform view -------------------------------------------------------

@pytest.fixture
def rival():
    rival = WorkspaceFactory(name="Rival Corp", slug="rival")
    checked_domain(rival, "rival-secret.example", ["SPF_PLUS_ALL"])
    other = DomainFactory(workspace=rival, fqdn="rival-unchecked.example")
    tag(other, "rival-tag")
    return rival


def test_another_workspaces_domains_never_appear(client, mixed, rival):
    for params in ({}, {"scope": "platform"}, {"band": "unchecked"}, {"q": "rival"},
                   {"code": "SPF_PLUS_ALL"}, {"tag": "rival-tag"}):
        html = dashboard(client, **params)
        assert all(not fqdn.startswith("rival") for fqdn in listed(html)), params
        assert "rival-secret" not in html and "rival-unchecked" not in html
        assert "Rival Corp" not in html
    html = dashboard(client)
    assert "rival-tag" not in html  # nor their tags among the filter's choices
    assert "Whole platform" not in html


def test_another_workspaces_dashboard_is_not_found(client, owner, rival):
    assert client.get("/w/rival/health/").status_code == 404


def test_platform_admins_can_see_every_workspaces_domains(client, workspace, owner, mixed, rival):
    owner.is_platform_admin = True
    db.session.flush()
    assert "rival-secret.example" not in dashboard(client)  # their own workspace by default
    html = dashboard(client, scope="platform", sort="domain")
    assert "rival-secret.example" in html and "Rival Corp" in html and "Acme Mail" in html
    assert len(listed(html)) == len(mixed) + 2
    # Only domains of workspaces they belong to link to a page they can open.
    assert 'href="/w/acme/health/' in row_of(html, "weak.example")
    assert "href=" not in row_of(html, "rival-secret.example").split("<td>")[1]
    # Every link keeps the platform scope.
    links = re.findall(r'href="(/w/acme/health/\?[^"]*)"', html)
    assert links and all(parse_qs(urlsplit(link.replace("&amp;", "&")).query)["scope"]
                         == ["platform"] for link in links)
