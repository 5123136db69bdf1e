"""The domain tree in a real browser: opening a node loads its subdomains in place, and the
bulk bar counts a "select all" and tags the selection without reloading the page.

Served by gunicorn with CSRF protection on, as in production (see conftest.py). The domains
are written straight into the server's database: adding 4 domains through the wizard would
test the wizard, not the tree.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from tests.e2e.test_smoke import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.no_transaction]

ROOT = "tree-e2e.example"
SUBDOMAINS = ("eu", "news", "sales")


@pytest.fixture(scope="module")
def tree_domains(portal, e2e_database_url) -> None:
    """tree-e2e.example in workspace alpha with three subdomains, one of them with its own."""
    engine = create_engine(e2e_database_url)
    now = datetime.now(timezone.utc)
    try:
        with engine.begin() as conn:
            workspace_id = conn.execute(text("SELECT id FROM workspaces WHERE slug = 'alpha'")
                                        ).scalar_one()

            def add(fqdn: str, parent_id: int | None) -> int:
                return conn.execute(text(
                    "INSERT INTO domains (workspace_id, parent_id, fqdn, status, "
                    "verification_token, dmarc_policy, setup_step, created_at) VALUES "
                    "(:workspace_id, :parent_id, :fqdn, 'pending', :token, 'none', 2, :now) "
                    "RETURNING id"), {"workspace_id": workspace_id, "parent_id": parent_id,
                                      "fqdn": fqdn, "token": f"pm-verify-{fqdn}",
                                      "now": now}).scalar_one()

            root = add(ROOT, None)
            children = {label: add(f"{label}.{ROOT}", root) for label in SUBDOMAINS}
            add(f"paris.eu.{ROOT}", children["eu"])
    finally:
        engine.dispose()


def node(page: Page, fqdn: str):
    return page.locator(f'li.tree-node[data-domain="{fqdn}"]')


def test_opening_a_node_shows_its_subdomains_and_bulk_tagging_them_updates_them_in_place(
        page: Page, portal, tree_domains):
    sign_in(page, portal)
    expect(page).to_have_url(re.compile(r"/w/alpha/$"))
    page.goto("/w/alpha/tree/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Domain tree")
    root = node(page, ROOT)
    expect(root).to_be_visible()
    expect(root).to_contain_text("3 subdomains")
    below = page.locator(f'li.tree-node[data-domain$=".{ROOT}"]')
    expect(below).to_have_count(0)  # nothing below the top yet

    loads: list[str] = []
    page.on("request", lambda request: "/children" in request.url and loads.append(request.url))
    root.locator(".tree-count").click()  # the row, not the domain's link
    children = page.locator(f"#children-{root.locator('input.tree-select').get_attribute('value')}"
                            " > ul > li.tree-node")
    expect(children).to_have_count(3)
    expect(children.nth(0)).to_have_attribute("data-domain", f"eu.{ROOT}")
    expect(node(page, f"eu.{ROOT}")).to_contain_text("1 subdomain")
    expect(node(page, f"paris.eu.{ROOT}")).to_have_count(0)  # one level at a time
    assert len(loads) == 1
    expect(page).to_have_url(re.compile(r"/w/alpha/tree/$"))  # opened in place

    counter = page.locator("#tree-selected-count")
    expect(counter).to_have_text("0")
    root.get_by_role("button", name="Select all shown subdomains").click()
    expect(counter).to_have_text("3")
    page.get_by_label("With the selected domains").select_option("tag")
    page.get_by_label("Group or tag").fill("Launch")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#tree-bulk-result")).to_have_text(
        "3 domains tagged “launch” (3 changed).")
    for label in SUBDOMAINS:
        expect(node(page, f"{label}.{ROOT}").locator(".tree-tag")).to_have_text("launch")
    expect(counter).to_have_text("3")  # the selection stays for the next action
    expect(children).to_have_count(3)  # and the opened node stays open
