"""The domain tree page: top-level domains first, children loaded when a node opens, filters
that keep the path to a match, a search that opens it, paging, and bulk actions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from app.audit.models import AuditEvent
from app.domains.models import Domain, DomainStatus, DomainTag
from app.extensions import db
from app.monitoring.models import DomainHealth
from app.subdomains.tree import PAGE_SIZE
from app.workspaces.roles import Role
from tests.acme_workspace import owner, workspace  # noqa: F401  (fixtures)
from tests.factories import DomainFactory, WorkspaceFactory, member
from tests.helpers import login
from tests.monitoring_factories import checked_domain, health_of, problem, tag
from tests.tree_factories import chain, subdomain, with_subdomains




def children_of(domain: Domain) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Target": f"children-{domain.id}"}


def tree(client, headers=None, **params) -> str:
    response = client.get("/w/acme/tree/", query_string=params, headers=headers or {})
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def opened(client, domain: Domain, **params) -> str:
    response = client.get(f"/w/acme/tree/{domain.id}/children", query_string=params,
                          headers=children_of(domain))
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def listed(html: str) -> list[str]:
    """Every node drawn, in document order."""
    return re.findall(r'<li class="tree-node[^"]*" data-domain="([^"]+)"', html)


def dimmed(html: str) -> set[str]:
    return set(re.findall(r'<li class="tree-node tree-node-context" data-domain="([^"]+)"', html))


def node_html(html: str, fqdn: str) -> str:
    match = re.search(rf'<li class="tree-node[^"]*" data-domain="{re.escape(fqdn)}"(.*?)</summary>'
                      rf'|<li class="tree-node[^"]*" data-domain="{re.escape(fqdn)}"(.*?)</li>',
                      html, re.S)
    assert match, f"{fqdn} is not drawn"
    return match.group(1) or match.group(2)


# --- lazy loading ---------------------------------------------------------------------------

def test_the_first_paint_draws_top_level_domains_only_with_their_child_counts(client, owner,
                                                                             workspace):
    root, subs = with_subdomains(workspace, "example.com", 3)
    chain(subs[0], "eu")
    lonely = DomainFactory(workspace=workspace, fqdn="lonely.example")
    html = tree(client)
    assert listed(html) == ["example.com", "lonely.example"]
    assert "s00.example.com" not in html and "eu.s00.example.com" not in html
    assert "3 subdomains" in node_html(html, "example.com")
    # The node fetches its children when it opens; without JS the link shows them.
    assert (f'hx-get="/w/acme/tree/{root.id}/children" hx-trigger="toggle once" '
            f'hx-target="#children-{root.id}"') in html
    assert f'href="/w/acme/tree/{root.id}/children"' in html
    assert "subdomain" not in node_html(html, "lonely.example")
    assert f"/w/acme/tree/{lonely.id}/children" not in html


def test_opening_a_node_returns_exactly_its_children_as_a_fragment(client, owner, workspace):
    root, subs = with_subdomains(workspace, "example.com", 3)
    chain(subs[1], "eu", "fr")
    other, _ = with_subdomains(workspace, "other.example", 2)
    html = opened(client, root)
    assert "<html" not in html
    assert listed(html) == ["s00.example.com", "s01.example.com", "s02.example.com"]
    assert "1 subdomain" in node_html(html, "s01.example.com")
    assert "eu.s01.example.com" not in html


def test_a_deep_tree_opens_one_level_at_a_time(client, owner, workspace):
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    news, eu, fr, paris = chain(root, "news", "eu", "fr", "paris")
    assert listed(tree(client)) == ["example.com"]
    assert listed(opened(client, root)) == ["news.example.com"]
    assert listed(opened(client, news)) == ["eu.news.example.com"]
    assert listed(opened(client, eu)) == ["fr.eu.news.example.com"]
    assert listed(opened(client, fr)) == ["paris.fr.eu.news.example.com"]
    assert "subdomain" not in node_html(opened(client, fr), "paris.fr.eu.news.example.com")


def test_without_javascript_a_nodes_children_are_a_page_with_the_path_above(client, owner,
                                                                          workspace):
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    news, eu = chain(root, "news", "eu")
    subdomain(eu, "fr")
    response = client.get(f"/w/acme/tree/{eu.id}/children")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert "Subdomains of eu.news.example.com" in html
    breadcrumb = html[html.index('class="breadcrumbs"'):html.index("</nav>", html.index(
        'class="breadcrumbs"'))]
    assert re.findall(r">([a-z.]+)</a>", breadcrumb) == ["example.com", "news.example.com"]
    assert listed(html) == ["fr.eu.news.example.com"]


def test_each_node_shows_status_health_reputation_tags_and_group(client, owner, workspace):
    root = checked_domain(workspace, "example.com", ["DMARC_MISSING"])
    root.status = DomainStatus.VERIFIED
    root.group_name = "Marketing"
    tag(root, "newsletters", "eu")
    subdomain(root, "news")
    row = node_html(tree(client), "example.com")
    assert "verified" in row
    assert re.search(r'health-score-(healthy|warning|critical)">\d+<', row)
    assert '<span class="tree-group" title="Group">Marketing</span>' in row
    assert '<span class="tree-tag">eu</span><span class="tree-tag">newsletters</span>' in row
    # No sending events yet: no reputation, for itself nor for its subtree.
    assert re.search(r'rep\.</span> <span class="muted">—</span> <span class="tree-label">'
                     r'subtree</span> <span class="muted">—</span>', row)


def test_a_page_costs_the_same_few_queries_whatever_the_number_of_nodes(app, client, owner,
                                                                      workspace):
    def statements_for_first_paint() -> int:
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            tree(client)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    root, subs = with_subdomains(workspace, "a.example", 2)
    tag(root, "x")
    few = statements_for_first_paint()
    for number in range(12):
        more, _ = with_subdomains(workspace, f"b{number:02d}.example", 3)
        tag(more, "x", f"t{number}")
    assert statements_for_first_paint() == few


# --- paging ---------------------------------------------------------------------------------

def test_top_level_domains_come_a_page_at_a_time_with_show_more(client, owner, workspace):
    for number in range(PAGE_SIZE + 5):
        DomainFactory(workspace=workspace, fqdn=f"d{number:03d}.example")
    html = tree(client)
    assert listed(html) == [f"d{number:03d}.example" for number in range(PAGE_SIZE)]
    assert '<li class="tree-more" id="more-top">' in html
    assert f"({PAGE_SIZE} of {PAGE_SIZE + 5} shown)" in html
    more = tree(client, headers={"HX-Request": "true", "HX-Target": "more-top"}, page="2")
    assert "<html" not in more and 'id="tree"' not in more
    assert listed(more) == [f"d{number:03d}.example" for number in range(PAGE_SIZE,
                                                                          PAGE_SIZE + 5)]
    assert "tree-more" not in more
    # Without JavaScript the same link is a page of its own.
    page_two = tree(client, page="2")
    assert "<html" in page_two and listed(page_two)[0] == f"d{PAGE_SIZE:03d}.example"
    assert f"Showing {PAGE_SIZE + 1}–{PAGE_SIZE + 5} of {PAGE_SIZE + 5}" in page_two


def test_a_nodes_children_come_a_page_at_a_time_too(client, owner, workspace):
    root, _ = with_subdomains(workspace, "example.com", 0)
    for number in range(PAGE_SIZE + 1):
        subdomain(root, f"n{number:03d}")
    first = opened(client, root)
    assert len(listed(first)) == PAGE_SIZE
    assert f'<li class="tree-more" id="more-{root.id}">' in first
    response = client.get(f"/w/acme/tree/{root.id}/children", query_string={"page": "2"},
                          headers={"HX-Request": "true", "HX-Target": f"more-{root.id}"})
    assert listed(response.get_data(as_text=True)) == [f"n{PAGE_SIZE:03d}.example.com"]


# --- filters --------------------------------------------------------------------------------

@pytest.fixture
def teams(workspace, owner):
    """example.com > news > eu (tagged, grouped, verified, critical DNS) and a sibling."""
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    news, eu = chain(root, "news", "eu")
    sales = subdomain(root, "sales")
    other = DomainFactory(workspace=workspace, fqdn="other.example")
    tag(eu, "campaigns")
    eu.group_name = "Marketing"
    eu.status = DomainStatus.VERIFIED
    health_of(eu, [problem("SPF_MISSING", eu, severity="error"),
                   problem("DMARC_MISSING", eu, severity="error"),
                   problem("DKIM_MISSING", eu, severity="error")])
    db.session.flush()
    return {"root": root, "news": news, "eu": eu, "sales": sales, "other": other}


@pytest.mark.parametrize("filters", [{"tag": "campaigns"}, {"tag": "Campaigns "},
                                     {"group": "marketing"}, {"status": "verified"}],
                         ids=["tag", "tag-as-typed", "group-any-case", "status"])
def test_a_filter_keeps_the_path_to_a_matching_subdomain_with_ancestors_dimmed(
        client, teams, filters):
    top = tree(client, **filters)
    assert listed(top) == ["example.com"]
    assert dimmed(top) == {"example.com"}
    assert "dimmed ones only lead to matching subdomains" in top
    below_root = opened(client, teams["root"], **filters)
    assert listed(below_root) == ["news.example.com"]  # not sales: nothing matches under it
    assert dimmed(below_root) == {"news.example.com"}
    below_news = opened(client, teams["news"], **filters)
    assert listed(below_news) == ["eu.news.example.com"]
    assert dimmed(below_news) == set()
    # Opening a node keeps the filters.
    name, value = next(iter(filters.items()))
    assert f"/w/acme/tree/{teams['root'].id}/children?{name}=" in top


def test_the_band_filter_uses_dns_health_and_unchecked_means_never_checked(client, teams):
    eu_band = db.session.get(DomainHealth, teams["eu"].id).band
    assert eu_band in ("warning", "critical")
    top = tree(client, band=eu_band)
    assert listed(top) == ["example.com"] and dimmed(top) == {"example.com"}
    assert listed(opened(client, teams["news"], band=eu_band)) == ["eu.news.example.com"]
    unchecked = tree(client, band="unchecked")
    assert listed(unchecked) == ["example.com", "other.example"]
    assert dimmed(unchecked) == set()
    assert listed(opened(client, teams["news"], band="unchecked")) == []


def test_a_matching_parent_is_not_dimmed_and_lists_only_matching_paths(client, teams):
    tag(teams["root"], "campaigns")
    top = tree(client, tag="campaigns")
    assert dimmed(top) == set()
    assert listed(opened(client, teams["root"], tag="campaigns")) == ["news.example.com"]


def test_filters_that_name_nothing_are_explained_and_left_out(client, teams):
    html = tree(client, band="purple", status="sleeping", tag="x" * 51)
    assert "Left out of this view" in html
    assert "There is no score band “purple”" in html
    assert "There is no status “sleeping”" in html
    assert "A tag is at most 50 characters long." in html
    assert listed(html) == ["example.com", "other.example"]


def test_nothing_matching_says_so(client, teams):
    assert "No domain matches these filters." in tree(client, tag="nobody")


def test_a_request_aimed_at_the_tree_gets_only_the_tree(client, teams):
    html = tree(client, headers={"HX-Request": "true", "HX-Target": "tree"}, tag="campaigns")
    assert html.lstrip().startswith('<div id="tree"')
    assert "tree-filters" not in html
    boosted = tree(client, headers={"HX-Request": "true", "HX-Boosted": "true",
                                    "HX-Target": "tree"})
    assert "<html" in boosted


# --- search ---------------------------------------------------------------------------------

def test_a_search_opens_the_path_down_to_each_match(client, owner, workspace):
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    news, eu, paris = chain(root, "news", "eu", "paris")
    subdomain(news, "us")
    other = DomainFactory(workspace=workspace, fqdn="other.example")
    shop = subdomain(other, "paris-shop")
    subdomain(other, "berlin")
    DomainFactory(workspace=workspace, fqdn="unrelated.example")
    html = tree(client, q="paris")
    assert listed(html) == ["example.com", "news.example.com", "eu.news.example.com",
                            "paris.eu.news.example.com", "other.example",
                            "paris-shop.other.example"]
    assert dimmed(html) == {"example.com", "news.example.com", "eu.news.example.com",
                            "other.example"}
    for ancestor in (root, news, eu, other):
        assert '<details class="tree-branch" open>' in node_html(html, ancestor.fqdn)
    assert "2 domains match “paris”" in html
    assert shop.fqdn in html and "berlin.other.example" not in html


def test_a_search_with_more_matches_than_it_opens_says_so_and_offers_the_rest(
        client, owner, workspace, monkeypatch):
    monkeypatch.setattr("app.subdomains.tree.OPENED_MATCHES", 2)
    root, _ = with_subdomains(workspace, "example.com", 4)
    html = tree(client, q="s0")
    assert listed(html) == ["example.com", "s00.example.com", "s01.example.com"]
    assert "the paths to the first 2 are open" in html
    assert "Show them all" in html
    assert listed(opened(client, root, q="s0")) == [f"s0{n}.example.com" for n in range(4)]


# --- tenancy --------------------------------------------------------------------------------

def test_another_workspaces_node_is_not_found_and_never_listed(client, owner, workspace):
    theirs, _ = with_subdomains(WorkspaceFactory(name="Bravo"), "bravo.example", 2)
    mine = DomainFactory(workspace=workspace, fqdn="mine.example")
    subdomain(mine, "sub")
    for headers in ({}, children_of(theirs)):
        response = client.get(f"/w/acme/tree/{theirs.id}/children", headers=headers)
        assert response.status_code == 404
        assert "bravo" not in response.get_data(as_text=True)
    for params in ({}, {"q": "bravo"}, {"status": "pending"}):
        assert "bravo.example" not in tree(client, **params)


# --- bulk selection and actions -------------------------------------------------------------

BULK = {"HX-Request": "true", "HX-Target": "tree-bulk-result"}


def bulk(client, ids, action="group", value="Marketing", headers=None, **extra):
    return client.post("/w/acme/tree/bulk", data={"domain_ids": [str(i) for i in ids],
                                                  "action": action, "value": value, **extra},
                       headers=headers or {})


def test_writers_get_checkboxes_and_the_bulk_bar(client, owner, workspace):
    root, _ = with_subdomains(workspace, "example.com", 2)
    html = tree(client)
    assert f'<input type="checkbox" class="tree-select" name="domain_ids" value="{root.id}" ' \
           'form="tree-bulk"' in html
    assert 'id="tree-bulk"' in html and 'id="tree-selected-count"' in html
    assert "data-select-children" in opened(client, root)


def test_viewers_read_the_tree_but_cannot_select_or_bulk_edit(client, workspace):
    root, subs = with_subdomains(workspace, "example.com", 2)
    login(client, member(Role.VIEWER, workspace))
    html = tree(client)
    assert listed(html) == ["example.com"]
    assert "tree-select" not in html and 'id="tree-bulk"' not in html
    assert "data-select-children" not in opened(client, root)
    response = bulk(client, [subs[0].id])
    assert response.status_code == 403
    assert db.session.get(Domain, subs[0].id).group_name is None


def test_bulk_set_group_changes_the_selection_and_swaps_their_rows_in_place(client, owner,
                                                                          workspace):
    root, subs = with_subdomains(workspace, "example.com", 3)
    response = bulk(client, [subs[0].id, subs[2].id], headers=BULK)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 domains now in the group “Marketing” (2 changed)." in html
    for sub in (subs[0], subs[2]):
        assert (f'<span class="tree-meta" id="node-meta-{sub.id}" hx-swap-oob="true">'
                '<span class="tree-group" title="Group">Marketing</span></span>') in html
    db.session.expire_all()
    assert [db.session.get(Domain, s.id).group_name for s in subs] == ["Marketing", None,
                                                                        "Marketing"]
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.object_id == str(subs[0].id))) == "domain.group_changed"


def test_bulk_add_tag_adds_to_the_tags_each_domain_has(client, owner, workspace):
    root, subs = with_subdomains(workspace, "example.com", 2)
    tag(subs[0], "eu")
    tag(subs[1], "launch")
    response = bulk(client, [root.id, subs[0].id, subs[1].id], action="tag", value="Launch",
                    headers=BULK)
    assert response.status_code == 200
    assert "3 domains tagged “launch” (2 changed)." in response.get_data(as_text=True)
    db.session.expire_all()
    rows = db.session.execute(select(DomainTag.domain_id, DomainTag.tag)).all()
    by_domain: dict[int, list[str]] = {}
    for domain_id, name in rows:
        by_domain.setdefault(domain_id, []).append(name)
    assert sorted(by_domain[root.id]) == ["launch"]
    assert sorted(by_domain[subs[0].id]) == ["eu", "launch"]
    assert sorted(by_domain[subs[1].id]) == ["launch"]


@pytest.mark.parametrize("ids, action, value, status, message", [
    ([], "group", "Sales", 422, "Nothing is selected"),
    (["x1"], "group", "Sales", 422, "is not a domain id"),
    (None, "tag", "no/slashes", 422, "may only contain letters"),
    (None, "tag", "  ", 422, "A tag cannot be empty"),
    (None, "group", "g" * 65, 422, "it can be at most 64"),
    (None, "delete", "", 422, "Choose an action"),
], ids=["nothing", "bad-id", "bad-tag", "empty-tag", "long-group", "unknown-action"])
def test_bad_bulk_input_is_refused_with_a_reason_and_changes_nothing(
        client, owner, workspace, ids, action, value, status, message):
    root, subs = with_subdomains(workspace, "example.com", 2)
    chosen = [s.id for s in subs] if ids is None else ids
    response = bulk(client, chosen, action=action, value=value, headers=BULK)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert {db.session.get(Domain, s.id).group_name for s in subs} == {None}
    assert db.session.scalar(select(DomainTag.tag)) is None


def test_a_selection_with_another_workspaces_domain_is_refused_whole(client, owner,
                                                                     workspace):
    mine, _ = with_subdomains(workspace, "example.com", 0)
    theirs = DomainFactory(workspace=WorkspaceFactory(name="Bravo"), fqdn="bravo.example")
    response = bulk(client, [mine.id, theirs.id], headers=BULK)
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Domain, mine.id).group_name is None
    assert db.session.get(Domain, theirs.id).group_name is None


def test_without_javascript_bulk_actions_redirect_back_or_keep_the_selection(client, owner,
                                                                            workspace):
    root, subs = with_subdomains(workspace, "example.com", 2)
    done = bulk(client, [root.id], value="Sales")
    assert done.status_code == 302 and done.headers["Location"] == "/w/acme/tree/"
    db.session.expire_all()
    assert db.session.get(Domain, root.id).group_name == "Sales"
    nothing = bulk(client, [])
    assert nothing.status_code == 302
    refused = bulk(client, [root.id, subs[1].id], action="tag", value="no/slashes")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "may only contain letters" in html
    assert f'value="{root.id}" form="tree-bulk" aria-label="Select example.com" checked' in html
    # The subdomain is not drawn on the first paint: it stays selected as a hidden field.
    assert f'<input type="hidden" name="domain_ids" value="{subs[1].id}" data-kept-selection>' \
        in html
    assert 'value="no/slashes"' in html
    back_to_children = bulk(client, [subs[0].id], value="Ops", parent=str(root.id))
    assert back_to_children.headers["Location"] == f"/w/acme/tree/{root.id}/children"


def test_a_bulk_post_for_another_workspaces_tree_is_not_found(client, owner, workspace):
    other = WorkspaceFactory(name="Bravo", slug="bravo")
    theirs = DomainFactory(workspace=other, fqdn="bravo.example")
    response = client.post("/w/bravo/tree/bulk", data={"domain_ids": [str(theirs.id)],
                                                       "action": "group", "value": "x"})
    assert response.status_code == 404
    assert db.session.get(Domain, theirs.id).group_name is None
