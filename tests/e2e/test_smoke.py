"""Smoke test in a real browser: what a person does on a first visit works end to end.

Served by gunicorn with CSRF protection on, as in production (see conftest.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.no_transaction]


def sign_in(page: Page, portal) -> None:
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(portal.email)
    page.get_by_label("Password", exact=True).fill(portal.password)
    page.get_by_role("button", name="Sign in").click()


def sidebar_link(page: Page, name: str):
    sidebar = page.get_by_role("navigation", name="Workspace")
    return sidebar.get_by_role("link", name=name, exact=True)


def test_sign_in_switch_workspace_rename_it_and_find_the_change_in_the_audit_log(
        page: Page, portal, tmp_path):
    sign_in(page, portal)
    expect(page).to_have_url(f"{portal.base_url}/w/alpha/")
    expect(page).to_have_title("alpha · PenguinMails")
    switcher = page.locator("details.workspace-switcher")
    expect(switcher.locator("summary")).to_have_text("alpha")
    expect(page.get_by_role("heading", level=1)).to_have_text("alpha")

    switcher.locator("summary").click()
    switcher.get_by_role("link", name=re.compile(r"^beta\b")).click()
    expect(page).to_have_url(f"{portal.base_url}/w/beta/")
    expect(page).to_have_title("beta · PenguinMails")
    expect(switcher.locator("summary")).to_have_text("beta")
    expect(page.get_by_role("heading", level=1)).to_have_text("beta")
    expect(page.locator(".page-header .badge")).to_have_text("admin")

    sidebar_link(page, "Settings").click()
    expect(page).to_have_url(f"{portal.base_url}/w/beta/settings")
    page.get_by_label("Workspace name").fill("Beta Team")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success > span")).to_have_text("Workspace renamed.")
    expect(switcher.locator("summary")).to_have_text("Beta Team")

    sidebar_link(page, "Audit log").click()
    expect(page).to_have_title("Audit log · PenguinMails")
    renamed = page.locator("#audit-events tbody tr").filter(has_text="workspace.renamed")
    expect(renamed).to_have_count(1)
    expect(renamed.locator("td").nth(1)).to_have_text(portal.email)
    expect(renamed.locator(".audit-diff .before")).to_have_text("name: beta")
    expect(renamed.locator(".audit-diff .after")).to_have_text("name: Beta Team")

    screenshot = tmp_path / "audit-log.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_invite_form_swaps_the_members_list_in_place_with_the_csrf_header(page: Page, portal):
    sign_in(page, portal)
    expect(page).to_have_url(f"{portal.base_url}/w/alpha/")
    # A full load: htmx has wired the form once `goto` returns. (Right after a boosted
    # navigation it does so only when the swap settles, a few milliseconds later.)
    page.goto("/w/alpha/members")
    page.evaluate("window.e2eSurvivesSwap = 'set before the invitation'")
    csrf_token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    invite_form = page.locator("form[action$='/members/invite']")
    # Without the form's own token field, only the header app.js adds can satisfy CSRF.
    invite_form.locator("input[name=csrf_token]").evaluate("field => field.remove()")

    invite_form.get_by_label("Email", exact=True).fill("carol@example.com")
    invite_form.get_by_label("Role", exact=True).select_option("admin")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/w/alpha/members/invite")) as answer:
        invite_form.get_by_role("button", name="Send invitation").click()

    response = answer.value
    sent = response.request.all_headers()
    assert response.status == 200
    assert sent.get("x-csrftoken") == csrf_token
    assert sent.get("hx-request") == "true" and sent.get("hx-target") == "members"
    assert "<html" not in response.text(), "expected the #members fragment, got a full page"
    expect(page.locator("#members .flash-success > span")).to_have_text(
        "Invitation sent to carol@example.com.")
    invitation = page.locator("#members tr").filter(has_text="carol@example.com")
    expect(invitation).to_contain_text("pending")
    expect(invitation).to_contain_text("admin")
    assert page.evaluate("window.e2eSurvivesSwap") == "set before the invitation"
    expect(page).to_have_url(f"{portal.base_url}/w/alpha/members")

    page.goto("/w/alpha/audit/")
    page.get_by_label("Action").select_option("invitation.created")
    expect(page).to_have_url(re.compile(r"/w/alpha/audit/\?.*action=invitation\.created"))
    events = page.locator("#audit-events tbody tr")
    expect(events).to_have_count(1)
    expect(events.locator("td").nth(1)).to_have_text(portal.email)
    expect(events.locator(".audit-diff .after")).to_contain_text("email: carol@example.com")
