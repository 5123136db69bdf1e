"""The domains pages and the verification wizard: add → set up → publish records → verify."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from markupsafe import escape
from rq import Queue
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.records import Purpose
from app.domains import service
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainStatus, KeyState
from app.domains.tasks import generate_dkim_key, send_verification_failed_email
from app.extensions import db
from app.uow import commit as real_commit
from app.workspaces.models import Workspace
from app.workspaces.roles import Role
from tests.factories import DomainFactory, WorkspaceFactory, member
from tests.helpers import login

RECORDS_FRAGMENT = {"HX-Request": "true", "HX-Target": "records"}
STATUS_FRAGMENT = {"HX-Request": "true", "HX-Target": "verify-status"}
POLLS_RECORDS = 'hx-trigger="every 2s"'
POLLS_STATUS = 'hx-trigger="every 3s"'
READ_ONLY = "Your role in this workspace is viewer"


@pytest.fixture
def workspace() -> Workspace:
    return WorkspaceFactory(name="Acme Mail")


@pytest.fixture
def owner(client, workspace):
    user = member(Role.OWNER, workspace)
    login(client, user)
    return user


def with_key(domain: Domain, *, state: KeyState | None = None) -> Domain:
    """`domain` with its first DKIM key made by the key job, run inline (in its own session,
    as on a worker: the test's session then reads the key again)."""
    key = DkimKey(workspace_id=domain.workspace_id, domain_id=domain.id, selector="pm1")
    db.session.add(key)
    db.session.flush()
    generate_dkim_key(key.id)
    db.session.expire_all()
    if state is not None:
        key.state = state
        db.session.flush()
    return domain


@pytest.fixture
def domain(workspace, owner) -> Domain:
    """example.com with its setup chosen (step 3) and its key generated."""
    return with_key(DomainFactory(workspace=workspace, fqdn="example.com", setup_step=3))


def page(domain: Domain, name: str = "") -> str:
    base = f"/w/{domain.workspace.slug}/domains/{domain.id}"
    return f"{base}/{name}" if name else base


def text_of(response) -> str:
    return response.get_data(as_text=True)


def fresh(domain_id: int) -> Domain | None:
    db.session.expire_all()
    return db.session.get(Domain, domain_id)


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def jobs(redis_client, queue: str) -> list:
    return Queue(queue, connection=redis_client).jobs


def input_tag(page_html: str, name: str, value: str | None = None) -> str:
    value_part = f'[^>]*value="{value}"' if value else ""
    pattern = rf'<input(?=[^>]*name="{name}"){value_part}[^>]*>'
    match = re.search(pattern, page_html)
    assert match, f"no input {name}={value} on the page"
    return match.group(0)


def is_checked(page_html: str, name: str, value: str | None = None) -> bool:
    return re.search(r"\bchecked\b", input_tag(page_html, name, value)) is not None


def snapshot(domain: Domain, results: list[dict], *, minutes_ago: int = 1) -> DnsSnapshot:
    row = DnsSnapshot(workspace_id=domain.workspace_id, domain_id=domain.id,
                      checked_at=utcnow() - timedelta(minutes=minutes_ago), results=results)
    db.session.add(row)
    db.session.flush()
    return row


def check_row(purpose: str, rdtype: str, host: str, status: str, expected: str,
              observed: list[str], message: str = "", fix: str = "", agreeing=None,
              total=None) -> dict:
    return {"purpose": purpose, "type": rdtype, "host": host, "status": status,
            "expected": expected, "observed": observed, "message": message, "fix": fix,
            "agreeing": agreeing, "total": total, "code": ""}


# --- the list ----------------------------------------------------------------------------

def test_empty_list_invites_you_to_add_a_first_domain(client, workspace, owner):
    response = client.get(f"/w/{workspace.slug}/domains/")

    assert response.status_code == 200
    body = text_of(response)
    assert "No sending domains yet" in body
    assert f'href="/w/{workspace.slug}/domains/new"' in body
    assert re.search(r'href="/w/[^"]+/domains/" aria-current="page">Domains<', body)


def test_list_shows_unicode_names_status_key_and_dates_of_this_workspace_only(
        client, workspace, owner):
    verified_at = utcnow() - timedelta(days=2)
    shown = DomainFactory(workspace=workspace, fqdn="xn--bcher-kva.example", setup_step=4,
                          status=DomainStatus.VERIFIED, verified_at=verified_at,
                          last_checked_at=verified_at)
    db.session.add(DkimKey(workspace_id=workspace.id, domain_id=shown.id, selector="pm7",
                           state=KeyState.ACTIVE, public_key="MIIB"))
    DomainFactory(workspace=WorkspaceFactory(), fqdn="someone-else.example")

    body = text_of(client.get(f"/w/{workspace.slug}/domains/"))

    assert "bücher.example" in body and "xn--bcher-kva.example" in body
    assert '<span class="badge badge-ok">verified</span>' in body
    assert "pm7" in body and ">active<" in body
    assert verified_at.strftime("%Y-%m-%d %H:%M") in body
    assert f'href="/w/{workspace.slug}/domains/new"' in body
    assert "someone-else.example" not in body


def test_viewer_sees_the_list_without_an_add_button(client, workspace):
    DomainFactory(workspace=workspace, fqdn="example.com")
    login(client, member(Role.VIEWER, workspace))

    body = text_of(client.get(f"/w/{workspace.slug}/domains/"))

    assert "example.com" in body
    assert "/domains/new" not in body


# --- step 1: add -------------------------------------------------------------------------

def test_adding_a_domain_stores_its_normal_form_and_queues_its_key(client, workspace, owner,
                                                                   redis_client):
    response = client.post(f"/w/{workspace.slug}/domains/new",
                           data={"name": " Bücher.Example. ", "algorithm": "rsa-3072"})

    domain = db.session.scalar(select(Domain).where(Domain.workspace_id == workspace.id))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/w/{workspace.slug}/domains/{domain.id}/setup"
    assert domain.fqdn == "xn--bcher-kva.example" and domain.setup_step == 2
    [key] = domain.keys
    assert (key.selector, key.algorithm, key.state) == ("pm1", "rsa-3072", KeyState.GENERATING)
    [job] = jobs(redis_client, "keys")
    assert (job.func_name, job.args) == ("app.domains.tasks.generate_dkim_key", (key.id,))
    assert "bücher.example added" in text_of(client.get(response.headers["Location"]))


@pytest.mark.parametrize("name, message", [
    ("co.uk", "co.uk is a public suffix: anyone can register names under it"),
    ("192.0.2.10", "That is an IP address."),
    ("not a host!", "cannot appear in a domain name"),
    ("https://example.com/login", "That looks like a web address."),
    ("a" * 64 + ".com", "each part between dots can be at most 63"),
    ("", "Enter a domain name, for example example.com."),
], ids=["public-suffix", "ip", "not-a-hostname", "url", "long-label", "empty"])
def test_a_name_that_cannot_send_is_refused_on_the_field_and_nothing_is_stored(
        client, workspace, owner, redis_client, name, message):
    events = count(AuditEvent)

    response = client.post(f"/w/{workspace.slug}/domains/new", data={"name": name})

    assert response.status_code == 422
    body = text_of(response)
    [error] = re.findall(r'<div class="error">([^<]*)</div>', body)
    assert message in html.unescape(error)
    assert 'name="name"' in re.search(r'<div class="field has-error">.*?</div>', body, re.DOTALL)[0]
    if name:
        assert f'value="{escape(name)}"' in input_tag(body, "name")  # what was typed stays
    assert count(Domain) == 0 and count(DkimKey) == 0 and count(AuditEvent) == events
    assert jobs(redis_client, "keys") == []


def test_a_domain_already_in_the_workspace_is_a_conflict(client, workspace, owner):
    DomainFactory(workspace=workspace, fqdn="example.com")

    response = client.post(f"/w/{workspace.slug}/domains/new", data={"name": "EXAMPLE.com"})

    assert response.status_code == 409
    assert "example.com is already in this workspace." in text_of(response)
    assert count(Domain, Domain.workspace_id == workspace.id) == 1


def test_a_domain_verified_by_another_workspace_is_taken_without_saying_by_whom(
        client, workspace, owner):
    rival = WorkspaceFactory(name="Globex Confidential", slug="globex")
    DomainFactory(workspace=rival, fqdn="example.com", status=DomainStatus.VERIFIED)

    response = client.post(f"/w/{workspace.slug}/domains/new", data={"name": "example.com"})

    assert response.status_code == 409
    body = text_of(response)
    assert "already verified by another PenguinMails customer" in body
    assert "Globex" not in body and "globex" not in body
    assert count(Domain, Domain.workspace_id == workspace.id) == 0


def test_a_domain_only_claimed_elsewhere_can_still_be_added(client, workspace, owner):
    DomainFactory(workspace=WorkspaceFactory(), fqdn="example.com", status=DomainStatus.PENDING)

    response = client.post(f"/w/{workspace.slug}/domains/new", data={"name": "example.com"})

    assert response.status_code == 302
    assert count(Domain, Domain.workspace_id == workspace.id) == 1


def test_a_key_type_we_do_not_offer_is_refused(client, workspace, owner):
    response = client.post(f"/w/{workspace.slug}/domains/new",
                           data={"name": "example.com", "algorithm": "rsa-1024"})

    assert response.status_code == 422
    assert "Choose a key type: rsa-2048, rsa-3072, rsa-4096." in text_of(response)
    assert count(Domain) == 0


# --- step 2: setup -----------------------------------------------------------------------

def test_setup_starts_from_the_recommended_choices(client, workspace, owner):
    added = DomainFactory(workspace=workspace, fqdn="example.com")
    db.session.add(DkimKey(workspace_id=workspace.id, domain_id=added.id, selector="pm1"))

    response = client.get(page(added, "setup"))

    assert response.status_code == 200
    body = text_of(response)
    assert 'value="pm1"' in input_tag(body, "selector")
    assert is_checked(body, "dmarc_policy", "none")
    assert not is_checked(body, "dmarc_policy", "reject")
    assert is_checked(body, "use_return_path") and not is_checked(body, "use_tracking")
    assert "dmarc-reports@penguinmails.net" in body
    assert 'aria-current="step"' in body and "Choose setup" in body


def test_setup_saves_the_choices_and_moves_on_to_the_records(client, workspace, owner):
    added = DomainFactory(workspace=workspace, fqdn="example.com")
    key = DkimKey(workspace_id=workspace.id, domain_id=added.id, selector="pm1")
    db.session.add(key)
    db.session.flush()

    response = client.post(page(added, "setup"), data={
        "selector": "s2024", "dmarc_policy": "quarantine", "use_tracking": "y"})

    assert response.status_code == 302
    assert response.headers["Location"] == page(added, "records")
    saved = fresh(added.id)
    assert (saved.dmarc_policy, saved.return_path_label, saved.tracking_label,
            saved.setup_step) == ("quarantine", None, "track", 3)
    assert db.session.get(DkimKey, key.id).selector == "s2024"


@pytest.mark.parametrize("data, message", [
    ({"selector": "Bad_Selector!", "dmarc_policy": "none"},
     "Use 1-63 lower-case letters, digits and hyphens"),
    ({"selector": "pm1", "dmarc_policy": "monitor"}, "Choose none, quarantine or reject."),
], ids=["selector", "dmarc"])
def test_setup_refuses_bad_choices_on_their_field_and_changes_nothing(
        client, workspace, owner, data, message):
    added = DomainFactory(workspace=workspace, fqdn="example.com")

    response = client.post(page(added, "setup"), data={**data, "use_tracking": "y"})

    assert response.status_code == 422
    assert re.search(r'<div class="error">' + re.escape(message), text_of(response))
    saved = fresh(added.id)
    assert (saved.dmarc_policy, saved.tracking_label, saved.setup_step) == ("none", None, 2)


def test_the_selector_of_a_signing_key_cannot_change(client, workspace, owner):
    signing = with_key(DomainFactory(workspace=workspace, fqdn="example.com", setup_step=4),
                       state=KeyState.ACTIVE)

    response = client.get(page(signing, "setup"))
    assert "readonly" in input_tag(text_of(response), "selector")

    response = client.post(page(signing, "setup"), data={"selector": "pm2",
                                                           "dmarc_policy": "none"})
    assert response.status_code == 409
    assert "rotate the key to use a new selector" in text_of(response)
    assert service.current_key(fresh(signing.id)).selector == "pm1"


# --- resuming ----------------------------------------------------------------------------

@pytest.mark.parametrize("reached, lands_on", [(1, "setup"), (2, "setup"), (3, "records"),
                                               (4, "verify")])
def test_the_domain_page_resumes_the_wizard_where_it_was_left(client, workspace, owner, reached,
                                                              lands_on):
    added = DomainFactory(workspace=workspace, setup_step=reached)

    response = client.get(page(added))

    assert response.status_code == 302
    assert response.headers["Location"] == page(added, lands_on)


def test_steps_not_reached_yet_send_you_to_the_current_one(client, workspace, owner):
    added = DomainFactory(workspace=workspace, setup_step=2)

    for step in ("records", "verify"):
        response = client.get(page(added, step))
        assert response.status_code == 302
        assert response.headers["Location"] == page(added, "setup")


def test_the_step_indicator_links_back_to_steps_already_done(client, domain):
    db.session.get(Domain, domain.id).setup_step = 4
    db.session.flush()

    body = text_of(client.get(page(domain, "verify")))

    assert f'href="{page(domain, "setup")}"' in body
    assert f'href="{page(domain, "records")}"' in body
    assert re.search(r'aria-current="step"><span class="step-number">4</span> Verify', body)


# --- step 3: records ---------------------------------------------------------------------

def test_records_page_shows_every_record_with_copy_buttons_and_a_copy_all_text(client, domain):
    expected = service.expected_records(domain)
    assert {r.purpose for r in expected} >= {Purpose.OWNERSHIP, Purpose.SPF, Purpose.DKIM,
                                             Purpose.DMARC, Purpose.RETURN_PATH}

    response = client.get(page(domain, "records"))

    assert response.status_code == 200
    body = text_of(response)
    for record in expected:
        assert f'data-copy="{escape(record.host)}"' in body
        assert f'data-copy="{escape(record.value)}"' in body
        assert escape(record.why) in body
        assert f'<td class="num">{record.ttl}</td>' in body
    copy_all = re.search(r'<textarea id="all-records"[^>]*>(.*?)</textarea>', body, re.DOTALL)
    assert html.unescape(copy_all.group(1)).splitlines() == [
        f"{r.host} {r.type} {r.value}" for r in expected]
    assert 'data-copy-target="#all-records"' in body
    dkim = next(r for r in expected if r.purpose == Purpose.DKIM)
    assert len(dkim.zone_values) == 2  # a 2048-bit key needs two ≤255-character strings
    assert escape(dkim.zone_rdata()) in body
    assert POLLS_RECORDS not in body


@pytest.mark.parametrize("hosts, dkim_host, apex", [
    ("relative", "pm1._domainkey", "<code>@</code>"),
    ("relative_blank_apex", "pm1._domainkey", "(leave empty)"),
    ("fqdn", "pm1._domainkey.example.com", "<code>example.com</code>"),
    ("no-such-style", "pm1._domainkey.example.com", "<code>example.com</code>"),
])
def test_the_host_column_follows_the_dns_host_style_as_a_fragment(client, domain, hosts,
                                                                  dkim_host, apex):
    response = client.get(page(domain, f"records?hosts={hosts}"), headers=RECORDS_FRAGMENT)

    assert response.status_code == 200
    body = text_of(response)
    assert body.lstrip().startswith('<div id="records">') and "<html" not in body
    assert f"<code>{dkim_host}</code>" in body and apex in body
    assert "HX-Target" in response.headers["Vary"]


def test_the_provider_hints_name_the_dns_hosts_of_a_style(client, domain):
    body = text_of(client.get(page(domain, "records?hosts=relative"), headers=RECORDS_FRAGMENT))

    assert "Cloudflare" in body and "@ is the domain itself" in body
    assert "example.com.example.com" in body  # the doubled-name warning


def test_a_boosted_navigation_to_the_records_gets_the_full_page(client, domain):
    response = client.get(page(domain, "records"),
                          headers={**RECORDS_FRAGMENT, "HX-Boosted": "true"})

    body = text_of(response)
    assert body.startswith("<!doctype html>")
    assert '<select id="hosts" name="hosts">' in body


def test_the_zone_file_download_is_a_bind_snippet_holding_every_record(client, domain):
    expected = service.expected_records(domain)

    response = client.get(page(domain, "records.zone"))

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="example.com-records.zone"')
    origin = dns.name.from_text("example.com.")
    zone = dns.zone.from_text(text_of(response), origin=origin, relativize=False,
                              check_origin=False)
    for record in expected:
        rdataset = zone.find_rdataset(record.host + ".", record.type)
        assert rdataset.ttl == record.ttl
        [rdata] = list(rdataset)
        if record.type == "TXT":
            assert b"".join(rdata.strings).decode() == record.value
        else:
            assert rdata.to_text() == " ".join(record.zone_values)
    published = sum(len(rdataset) for _, rdataset in zone.iterate_rdatasets())
    assert published == len(expected)


def test_the_csv_download_has_one_row_per_record(client, domain):
    expected = service.expected_records(domain)

    response = client.get(page(domain, "records.csv"))

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text_of(response))))
    assert [(r["type"], r["host"], r["value"], int(r["ttl"]), r["purpose"]) for r in rows] == [
        (r.type, r.host, r.value, r.ttl, str(r.purpose)) for r in expected]


def test_records_wait_for_the_key_job_and_then_swap_in(client, workspace, owner):
    added = DomainFactory(workspace=workspace, fqdn="example.com", setup_step=3)
    key = DkimKey(workspace_id=workspace.id, domain_id=added.id, selector="pm1")
    db.session.add(key)
    db.session.flush()
    records_url, key_id = page(added, "records"), key.id

    full = text_of(client.get(records_url))
    assert "Generating your DKIM key" in full and POLLS_RECORDS in full
    assert 'id="all-records"' not in full and "records.zone" not in full

    waiting = text_of(client.get(records_url + "?hosts=fqdn", headers=RECORDS_FRAGMENT))
    assert waiting.lstrip().startswith('<div id="records" class="card key-pending"')
    assert POLLS_RECORDS in waiting and "<html" not in waiting

    generate_dkim_key(key_id)
    db.session.expire_all()

    ready = text_of(client.get(records_url + "?hosts=fqdn", headers=RECORDS_FRAGMENT))
    assert POLLS_RECORDS not in ready and 'id="all-records"' in ready
    assert db.session.get(DkimKey, key_id).public_key in ready
    assert "<code>pm1._domainkey.example.com</code>" in ready


# --- step 4: verify ----------------------------------------------------------------------

def test_check_now_queues_one_verification_job_after_the_commit(client, domain, redis_client,
                                                                 monkeypatch):
    queued_at_commit = []

    def watching_commit():
        queued_at_commit.append(len(jobs(redis_client, "dns")))
        real_commit()

    monkeypatch.setattr("app.domains.views.commit", watching_commit)

    response = client.post(page(domain, "check"))

    assert queued_at_commit == [0]
    [job] = jobs(redis_client, "dns")
    assert (job.func_name, job.args) == ("app.domains.tasks.verify_domain", (domain.id,))
    assert response.status_code == 302
    assert response.headers["Location"] == page(domain, f"verify?job={job.id}")
    saved = fresh(domain.id)
    assert (saved.status, saved.setup_step) == (DomainStatus.VERIFYING, 4)


def test_check_now_from_the_panel_swaps_in_a_polling_panel(client, domain, redis_client):
    response = client.post(page(domain, "check"), headers=STATUS_FRAGMENT)

    assert response.status_code == 200
    body = text_of(response)
    [job] = jobs(redis_client, "dns")
    assert body.lstrip().startswith('<div id="verify-status"') and "<html" not in body
    assert "Checking DNS now" in body and POLLS_STATUS in body
    assert f'hx-get="{page(domain, "verify")}?job={job.id}"' in body
    assert re.search(r'<span id="domain-status" hx-swap-oob="true"><span class="badge [^"]+">'
                     r'verifying</span></span>', body)  # the page header's badge follows


def test_a_verified_domain_polls_only_while_its_check_is_queued(client, domain, redis_client):
    verified = fresh(domain.id)
    verified.status, verified.verified_at, verified.setup_step = (
        DomainStatus.VERIFIED, utcnow(), 4)
    db.session.flush()
    client.post(page(domain, "check"), headers=STATUS_FRAGMENT)
    [job] = jobs(redis_client, "dns")

    polling = text_of(client.get(page(domain, f"verify?job={job.id}"), headers=STATUS_FRAGMENT))
    assert POLLS_STATUS in polling and "Checking DNS now" in polling

    job.delete()  # the worker finished with it
    done = text_of(client.get(page(domain, f"verify?job={job.id}"), headers=STATUS_FRAGMENT))
    assert POLLS_STATUS not in done and "example.com is verified" in done


def test_a_job_id_of_another_domain_does_not_make_the_panel_poll(client, domain, redis_client):
    other = DomainFactory(workspace=db.session.get(Workspace, domain.workspace_id),
                          status=DomainStatus.VERIFIED)
    client.post(page(other, "check"))
    [job] = jobs(redis_client, "dns")
    verified = fresh(domain.id)
    verified.status, verified.setup_step = DomainStatus.VERIFIED, 4
    db.session.flush()

    body = text_of(client.get(page(domain, f"verify?job={job.id}"), headers=STATUS_FRAGMENT))

    assert POLLS_STATUS not in body


def test_the_verify_panel_shows_what_we_saw_against_what_we_expected(client, domain):
    waiting = fresh(domain.id)
    waiting.status, waiting.setup_step = DomainStatus.VERIFYING, 4
    waiting.last_checked_at = utcnow()
    waiting.next_check_at = utcnow() + timedelta(minutes=5, seconds=10)
    db.session.flush()
    snapshot(waiting, [check_row("spf", "TXT", "example.com", "found", "OLD RUN", ["OLD RUN"])],
             minutes_ago=30)
    snapshot(waiting, [
        check_row("ownership", "TXT", "_pm-verify.example.com", "found", "pm-verify-abc",
                  ["pm-verify-abc"], agreeing=2, total=2),
        check_row("spf", "TXT", "example.com", "missing",
                  "v=spf1 include:_spf.penguinmails.net ~all", [],
                  "No SPF record is published at example.com.",
                  "Publish a TXT record at example.com: v=spf1 include:_spf.penguinmails.net ~all"),
        check_row("dkim", "TXT", "pm1._domainkey.example.com", "wrong", "v=DKIM1; k=rsa; p=NEW",
                  ["v=DKIM1; k=rsa; p=OLDKEY"], "The published key is a different key.",
                  "Replace the value with the one shown.", agreeing=1, total=2),
        check_row("dmarc", "TXT", "_dmarc.example.com", "error", "v=DMARC1; p=none", [],
                  "our DNS query timed out", "Nothing to change yet; we retry."),
    ])

    response = client.get(page(domain, "verify"))

    assert response.status_code == 200
    body = text_of(response)
    assert "OLD RUN" not in body  # only the latest run
    for badge in ('badge-ok">found', 'badge-warn">missing', 'badge-error">wrong',
                  'badge-muted">DNS error'):
        assert badge in body
    assert "2 of 2 nameservers" in body and "1 of 2 nameservers" in body
    assert "v=DKIM1; k=rsa; p=OLDKEY" in body and "v=DKIM1; k=rsa; p=NEW" in body
    assert "Replace the value with the one shown." in body
    assert "Publish a TXT record at example.com" in body
    assert "1 of 4 records found" in body
    assert "next automatic check in 5 minutes" in body
    assert POLLS_STATUS in body and "Check now" in body
    assert "hx-swap-oob" not in body  # a full page has nothing to swap out of band


def test_a_verified_domain_shows_when_and_does_not_poll(client, domain):
    verified_at = utcnow() - timedelta(hours=3)
    verified = fresh(domain.id)
    verified.status, verified.verified_at, verified.setup_step = (
        DomainStatus.VERIFIED, verified_at, 4)
    db.session.flush()

    body = text_of(client.get(page(domain, "verify")))

    assert "example.com is verified" in body
    assert verified_at.strftime("%Y-%m-%d %H:%M") in body
    assert POLLS_STATUS not in body


def test_a_failed_domain_says_why_and_offers_to_check_again(client, domain):
    failed = fresh(domain.id)
    failed.status, failed.failed_at, failed.setup_step = DomainStatus.FAILED, utcnow(), 4
    db.session.flush()
    snapshot(failed, [check_row("spf", "TXT", "example.com", "missing", "v=spf1 ~all", [],
                                "No SPF record.", "Publish the SPF record.")])

    body = text_of(client.get(page(domain, "verify")))

    assert "Not verified" in body and "72 hours" in body
    assert "Check again" in body and "Publish the SPF record." in body
    assert POLLS_STATUS not in body


def test_the_failure_email_lists_each_problem_and_links_to_the_domain(app, domain, outbox):
    failed = fresh(domain.id)
    failed.status, failed.failed_at, failed.setup_step = DomainStatus.FAILED, utcnow(), 4
    db.session.flush()
    snapshot(failed, [
        check_row("ownership", "TXT", "_pm-verify.example.com", "found", "t", ["t"]),
        check_row("dkim", "TXT", "pm1._domainkey.example.com", "wrong", "v=DKIM1; p=NEW",
                  ["v=DKIM1; p=OLD"], "A different key is published.", "Publish the new key."),
    ])
    domain_id, slug = failed.id, failed.workspace.slug

    send_verification_failed_email(domain_id)

    [message] = outbox.messages()
    assert message["Subject"] == "example.com could not be verified"
    text = message.get_content()
    assert "We checked its DNS for 72 hours" in text
    assert "1. TXT record at pm1._domainkey.example.com: wrong" in text
    assert "We expected: v=DKIM1; p=NEW" in text and "We saw:      v=DKIM1; p=OLD" in text
    assert "Fix:         Publish the new key." in text
    assert "_pm-verify" not in text  # found records are not problems
    assert f"/w/{slug}/domains/{domain_id}" in text


# --- delete ------------------------------------------------------------------------------

def test_deleting_a_domain_removes_it_and_destroys_its_keys(client, domain, redis_client):
    domain_id, list_url = domain.id, f"/w/{domain.workspace.slug}/domains/"

    response = client.post(page(domain, "delete"))

    assert response.status_code == 302 and response.headers["Location"] == list_url
    assert fresh(domain_id) is None
    assert count(AuditEvent, AuditEvent.action == "domain.deleted") == 1
    [job] = jobs(redis_client, "keys")
    assert job.func_name == "app.domains.tasks.destroy_private_keys"
    assert "example.com was deleted" in text_of(client.get(list_url))


# --- viewers -----------------------------------------------------------------------------

@pytest.fixture
def viewer_domain(client, workspace) -> Domain:
    login(client, member(Role.VIEWER, workspace))
    viewed = with_key(DomainFactory(workspace=workspace, fqdn="example.com", setup_step=4,
                                    status=DomainStatus.VERIFYING))
    snapshot(viewed, [check_row("spf", "TXT", "example.com", "missing", "v=spf1 ~all", [])])
    return viewed


def test_a_viewer_sees_every_step_without_a_control_that_changes_anything(client,
                                                                          viewer_domain):
    for name in ("setup", "records", "verify"):
        response = client.get(page(viewer_domain, name))
        body = text_of(response)
        assert response.status_code == 200, name
        assert "Delete domain" not in body and "/delete" not in body, name
        assert "/check" not in body, name

    setup = text_of(client.get(page(viewer_domain, "setup")))
    assert '<fieldset class="setup-choices" disabled>' in setup
    assert READ_ONLY in setup and "Save and show the DNS records" not in setup
    records = text_of(client.get(page(viewer_domain, "records")))
    assert 'data-copy-target="#all-records"' in records  # copying changes nothing
    verify = text_of(client.get(page(viewer_domain, "verify")))
    assert "Check now" not in verify and 'badge-warn">missing' in verify


@pytest.mark.parametrize("method, name, data", [
    ("GET", "new", {}),
    ("POST", "new", {"name": "another.example"}),
    ("POST", "setup", {"selector": "pm9", "dmarc_policy": "reject"}),
    ("POST", "check", {}),
    ("POST", "delete", {}),
])
def test_a_viewer_is_refused_every_change_and_nothing_changes(client, viewer_domain,
                                                              redis_client, method, name, data):
    url = (f"/w/{viewer_domain.workspace.slug}/domains/new" if name == "new"
           else page(viewer_domain, name))
    before = (viewer_domain.status, viewer_domain.dmarc_policy, viewer_domain.last_checked_at)
    events = count(AuditEvent)

    response = client.open(url, method=method, data=data)

    assert response.status_code == 403
    assert READ_ONLY in text_of(response)
    saved = fresh(viewer_domain.id)
    assert (saved.status, saved.dmarc_policy, saved.last_checked_at) == before
    assert count(Domain) == 1 and count(AuditEvent) == events
    assert jobs(redis_client, "dns") == [] and jobs(redis_client, "keys") == []


# --- tenancy -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, name", [
    ("GET", ""), ("GET", "setup"), ("POST", "setup"), ("GET", "records"),
    ("GET", "records.zone"), ("GET", "records.csv"), ("GET", "verify"), ("POST", "check"),
    ("POST", "delete"),
])
def test_a_domain_of_another_workspace_is_not_found_under_yours(client, workspace, owner,
                                                                redis_client, method, name):
    theirs = DomainFactory(workspace=WorkspaceFactory(name="Bravo Confidential"),
                           fqdn="bravo-secret.example", setup_step=4)
    url = f"/w/{workspace.slug}/domains/{theirs.id}" + (f"/{name}" if name else "")

    response = client.open(url, method=method, data={"selector": "pm1", "dmarc_policy": "none"})

    assert response.status_code == 404
    assert "bravo-secret" not in text_of(response) and "Bravo" not in text_of(response)
    saved = fresh(theirs.id)
    assert (saved.status, saved.setup_step) == (DomainStatus.PENDING, 4)
    assert jobs(redis_client, "dns") == []
