"""The live validation box in a real browser: findings appear while typing, no submit needed.

Served by gunicorn with CSRF protection on, as in production: the box's HTMX posts carry the
token from the page (static/app.js), and nothing but the findings is swapped.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_smoke import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.no_transaction]


def test_typing_an_spf_record_with_plus_all_shows_the_finding_without_submitting(
        page: Page, portal):
    sign_in(page, portal)
    expect(page).to_have_url(re.compile(r"/w/alpha/$"))
    page.goto("/w/alpha/health/validate")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check a record")

    posts: list[str] = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.get_by_label("Record").select_option("spf")
    page.get_by_label("Host").fill("example.com")
    value = page.get_by_label("Value")
    value.press_sequentially("v=spf1 mx +all", delay=20)

    finding = page.locator('#record-findings [data-code="SPF_PLUS_ALL"]')
    expect(finding).to_be_visible()
    expect(finding).to_contain_text("SPF ends in +all: anyone may send")
    expect(finding.get_by_role("button", name="Copy SPF_PLUS_ALL fix")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/w/alpha/health/validate$"))  # nothing was submitted
    assert posts and all(url.endswith("/w/alpha/health/validate") for url in posts)
    assert len(posts) < len("v=spf1 mx +all")  # debounced, not one request per key

    # Fixing the record as one keeps typing clears the finding.
    value.press("End")
    for _ in range(4):
        value.press("Backspace")
    value.press_sequentially("-all", delay=20)
    expect(page.locator("#record-findings")).to_contain_text("No problems in this SPF record")
    expect(finding).to_have_count(0)
    expect(value).to_have_value("v=spf1 mx -all")  # the box itself was never replaced
