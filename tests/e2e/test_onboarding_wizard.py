"""The onboarding wizard in a real browser, with a real worker and a real DNS server.

A person adds a domain, copies the records with "Copy all", asks for a check before their
DNS host serves anything (everything missing), publishes exactly what the clipboard holds
at the DNS host (the loopback test server), clicks "Check now" and watches the verify page
turn green. The worker process (`python worker.py`) generates the DKIM key and runs the
checks; nothing is faked between the clipboard and the DNS answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from app.core.dkim import dkim_record_value, generate_key
from tests.dnsserver import DnsTestServer
from tests.e2e.test_smoke import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.no_transaction,
              pytest.mark.usefixtures("worker_process", "clipboard_permissions")]

# Waits on the worker: its start, RSA key generation and DNS checks, on a busy 2-core machine.
WORKER_SECONDS = 60_000


@pytest.fixture
def clipboard_permissions(page: Page, portal) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.base_url)


@dataclass(frozen=True)
class CopiedRecord:
    """One line of "Copy all": `host TYPE value`, the value as a web DNS panel takes it."""

    host: str
    type: str
    value: str

    @classmethod
    def parse(cls, line: str) -> CopiedRecord:
        host, rdtype, value = line.split(" ", 2)
        return cls(host, rdtype, value)


def publish(dns_server: DnsTestServer, records: list[CopiedRecord]) -> None:
    """Enter the records at the "DNS host" as a person would type them into its panel."""
    for record in records:
        if record.type == "TXT":
            dns_server.set_record(record.host + ".", "TXT", record.value)  # split at 255 bytes
        elif record.type == "CNAME":
            dns_server.set_record(record.host + ".", "CNAME", record.value + ".")
        else:
            pytest.fail(f"the default setup asks for no {record.type} record: {record}")


def add_domain_and_copy_all(page: Page, portal, name: str) -> list[CopiedRecord]:
    """Steps 1 to 3 of the wizard with the default choices; the records as copied."""
    sign_in(page, portal)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Domains").click()
    page.get_by_role("link", name=re.compile(r"^Add (your first )?domain$")).click()
    page.get_by_label("Domain name").fill(name)
    page.get_by_role("button", name="Add domain and continue").click()
    expect(page).to_have_url(re.compile(r"/w/alpha/domains/\d+/setup$"))
    page.get_by_role("button", name="Save and show the DNS records").click()
    expect(page).to_have_url(re.compile(r"/w/alpha/domains/\d+/records$"))

    # The records appear once the worker has stored the DKIM key; the page polls for them.
    copy_all = page.locator("button[data-copy-target='#all-records']")
    expect(copy_all).to_have_text("Copy all", timeout=WORKER_SECONDS)
    copy_all.click()
    expect(copy_all).to_have_text("Copied")
    expect(copy_all).to_have_class(re.compile(r"\bis-copied\b"))
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("All records, one per line").input_value()
    records = [CopiedRecord.parse(line) for line in copied.splitlines()]
    expect(page.locator("#records tbody.record")).to_have_count(len(records))
    return records


def check_before_publishing(page: Page, records: list[CopiedRecord]) -> None:
    """Go to the verify step; its first check finds nothing, as the DNS host serves nothing yet."""
    page.get_by_role("button", name="I have published them: check DNS").click()
    expect(page).to_have_url(re.compile(r"/w/alpha/domains/\d+/verify"))
    expect(page.locator("#verify-status")).to_contain_text(
        f"0 of {len(records)} records found so far", timeout=WORKER_SECONDS)
    expect(page.locator("tr.check-missing")).to_have_count(len(records))
    expect(page.locator("#domain-status")).to_have_text("verifying")


def dkim_of(records: list[CopiedRecord]) -> CopiedRecord:
    [dkim] = [r for r in records if r.type == "TXT" and "._domainkey." in r.host]
    return dkim


def check_row(page: Page, host: str) -> Locator:
    return page.locator("tr.check").filter(
        has=page.locator(".host").get_by_text(host, exact=True))


def test_publishing_exactly_what_copy_all_copied_verifies_the_domain(
        page: Page, portal, dns_server, tmp_path):
    name = "onboard-e2e.example"
    dns_server.add_zone(name)

    records = add_domain_and_copy_all(page, portal, name)
    assert {(r.host, r.type) for r in records} >= {
        (f"_pm-verify.{name}", "TXT"), (name, "TXT"), (f"pm1._domainkey.{name}", "TXT"),
        (f"_dmarc.{name}", "TXT")}
    dkim = dkim_of(records)
    assert dkim.value.startswith("v=DKIM1; k=rsa; p=") and len(dkim.value) > 255
    check_before_publishing(page, records)

    publish(dns_server, records)
    page.get_by_role("button", name="Check now").click()

    verified = page.locator("#verify-status").get_by_role("heading", name=f"{name} is verified")
    expect(verified).to_be_visible(timeout=WORKER_SECONDS)
    expect(page.locator("#domain-status")).to_have_text("verified")
    expect(page.locator("tr.check-found")).to_have_count(len(records))
    dkim_row = check_row(page, dkim.host)
    expect(dkim_row.locator(".badge").filter(has_text="found")).to_be_visible()
    expect(dkim_row.locator(".seen code")).to_have_text(dkim.value)
    expect(dkim_row).to_contain_text("1 of 1 nameservers")

    screenshot = tmp_path / "verified.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_a_wrong_dkim_key_shows_what_we_saw_and_expected_and_the_domain_keeps_verifying(
        page: Page, portal, dns_server):
    name = "wrong-dkim-e2e.example"
    dns_server.add_zone(name)
    records = add_domain_and_copy_all(page, portal, name)
    check_before_publishing(page, records)

    dkim = dkim_of(records)
    # A key left over from another provider: a valid DKIM record, just not ours.
    other_key = generate_key("rsa", 2048).public_key_b64
    stale = CopiedRecord(dkim.host, "TXT", dkim_record_value(other_key))
    publish(dns_server, [stale if r is dkim else r for r in records])
    page.get_by_role("button", name="Check now").click()

    dkim_row = check_row(page, dkim.host)
    expect(dkim_row).to_have_class(re.compile(r"\bcheck-wrong\b"), timeout=WORKER_SECONDS)
    expect(dkim_row.locator(".badge").filter(has_text="wrong")).to_be_visible()
    expect(dkim_row.locator(".seen code")).to_have_text(stale.value)
    expect(dkim_row.locator(".expected code")).to_have_text(dkim.value)
    expect(dkim_row.locator(".check-fix")).to_contain_text(dkim.value)
    expect(page.locator("#verify-status")).to_contain_text(
        f"{len(records) - 1} of {len(records)} records found so far")
    expect(page.locator("#domain-status")).to_have_text("verifying")
