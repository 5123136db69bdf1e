"""The DKIM keys page: every key's state in plain words, "Rotate now" and the rotation cadence.

Tenant isolation of these routes is proven by the sweeps in test_tenancy.py and the viewer
sweep in test_workspaces.py; here the viewer's view of the page is checked.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape
from rq import Queue
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.domains import service
from app.domains.models import Domain, DomainStatus, KeyState
from app.domains.tasks import generate_dkim_key, verify_domain
from app.extensions import db
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import DkimKeyFactory, DomainFactory, member
from tests.helpers import login
from tests.onboarding import ZONE, onboard, publish, run_job

SECTION = {"HX-Request": "true", "HX-Target": "dkim-keys"}
KEY_LIST = {"HX-Request": "true", "HX-Target": "key-list"}
POLLS = 'hx-trigger="every 2s"'
ROTATE_BUTTON = re.compile(r'<button type="submit" class="btn btn-primary"\s*(disabled)?>'
                           r'Rotate now')
NOT_VERIFIED = "Only a verified domain with an active key can rotate; verify it first."


@pytest.fixture
def signed_in(client, owner):
    login(client, owner.user)
    return client


@pytest.fixture
def verified(signed_in, owner, zone_server) -> Domain:
    """example.test onboarded, its records served by DNS and checked from its verify page."""
    domain = onboard(owner)
    publish(zone_server, service.expected_records(domain))
    signed_in.post(f"/w/{owner.workspace.slug}/domains/{domain.id}/check")
    run_job(verify_domain, domain.id)
    assert fresh(domain.id).status == DomainStatus.VERIFIED
    return fresh(domain.id)


@pytest.fixture
def signing(owner) -> Domain:
    """example.com verified, pm1 signing since 10 days (rows only, no DNS)."""
    return DkimKeyFactory(domain__workspace=owner.workspace, domain__fqdn="example.com",
                          domain__setup_step=4,
                          activated_at=utcnow() - timedelta(days=10)).domain


def keys_url(domain: Domain, action: str = "") -> str:
    return f"/w/{domain.workspace.slug}/domains/{domain.id}/keys/{action}"


def text_of(response) -> str:
    return response.get_data(as_text=True)


def fresh(domain_id: int) -> Domain:
    db.session.expire_all()  # requests commit in sessions of their own
    return db.session.get(Domain, domain_id)


def states(domain: Domain) -> dict[str, KeyState]:
    return {key.selector: key.state for key in fresh(domain.id).keys}


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def key_row(page_html: str, selector: str) -> str:
    """The words of a key's table row, tags stripped and spaces collapsed."""
    row = re.search(rf'<tr id="key-{selector}".*?</tr>', page_html, re.DOTALL)
    assert row, f"no row for {selector}"
    return " ".join(re.sub(r"<[^>]+>", "", row.group(0)).split())


def shown(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def dkim_record(domain: Domain, selector: str):
    return next(r for r in service.expected_records(fresh(domain.id))
                if r.host == f"{selector}._domainkey.{domain.fqdn}")


def rotate_button(page_html: str) -> str:
    """"enabled" or "disabled"; fails when the page has no button."""
    match = ROTATE_BUTTON.search(page_html)
    assert match, "no Rotate now button"
    return "disabled" if match.group(1) else "enabled"


# --- the page ----------------------------------------------------------------------------

def test_every_key_is_listed_newest_first_with_its_state_in_plain_words(signed_in, owner):
    domain = DomainFactory(workspace=owner.workspace, fqdn="example.com", setup_step=4,
                           status=DomainStatus.VERIFIED)
    now = utcnow()
    retired, retiring = now - timedelta(days=100), now - timedelta(days=2)
    keys = [
        DkimKeyFactory(domain=domain, selector="pm1", state=KeyState.RETIRED,
                       created_at=now - timedelta(days=300), activated_at=now - timedelta(days=290),
                       retiring_at=retired - timedelta(days=7), retire_after=retired,
                       retired_at=retired),
        DkimKeyFactory(domain=domain, selector="pm2", state=KeyState.RETIRING,
                       created_at=now - timedelta(days=200), activated_at=now - timedelta(days=190),
                       retiring_at=retiring, retire_after=retiring + timedelta(days=7)),
        DkimKeyFactory(domain=domain, selector="pm3", created_at=now - timedelta(days=3),
                       activated_at=retiring),
        DkimKeyFactory(domain=domain, selector="pm4", state=KeyState.PENDING,
                       created_at=now - timedelta(hours=1), activated_at=None),
        DkimKeyFactory(domain=domain, selector="pm5", algorithm="ed25519", public_key=None,
                       state=KeyState.GENERATING, created_at=now, activated_at=None),
    ]

    response = signed_in.get(keys_url(domain))

    assert response.status_code == 200
    body = text_of(response)
    assert re.findall(r'<tr id="key-(pm\d)"', body) == ["pm5", "pm4", "pm3", "pm2", "pm1"]
    assert key_row(body, "pm1") == (
        f"pm1 RSA 2048-bit retired Safe to remove pm1._domainkey.example.com from DNS. "
        f"{shown(keys[0].created_at)} {shown(keys[0].activated_at)} {shown(keys[0].retiring_at)} "
        f"{shown(retired)}")
    assert key_row(body, "pm2") == (
        f"pm2 RSA 2048-bit retiring Kept in DNS until {shown(keys[1].retire_after)} for mail "
        f"already in flight. {shown(keys[1].created_at)} {shown(keys[1].activated_at)} "
        f"{shown(retiring)} —")
    assert key_row(body, "pm3") == (
        f"pm3 RSA 2048-bit active Signs your mail. {shown(keys[2].created_at)} {shown(retiring)} "
        "— —")
    assert key_row(body, "pm4") == (
        f"pm4 RSA 2048-bit pending Publish this record; it signs once every nameserver serves "
        f"it. {shown(keys[3].created_at)} — — —")
    assert key_row(body, "pm5").startswith("pm5 Ed25519 generating Being generated")
    # Only the pending key waits for a record to be published, and it gets copy buttons.
    record = dkim_record(domain, "pm4")
    assert re.findall(r'id="record-(pm\d)"', body) == ["pm4"]
    assert f'data-copy="{escape(record.host)}"' in body
    assert f'data-copy="{escape(record.value)}"' in body
    assert escape(record.zone_rdata()) in body
    assert POLLS in body  # pm5 is being generated


def test_a_new_key_polls_until_its_record_can_be_shown(signed_in, owner):
    domain = service.add_domain(owner, ZONE)
    commit()
    key_id = domain.keys[0].id

    body = text_of(signed_in.get(keys_url(domain)))
    assert POLLS in body and 'id="record-pm1"' not in body

    run_job(generate_dkim_key, key_id)
    response = signed_in.get(keys_url(domain), headers=KEY_LIST)

    body = text_of(response)
    assert body.lstrip().startswith('<div id="key-list"') and "<html" not in body
    assert POLLS not in body
    assert f'data-copy="{escape(dkim_record(domain, "pm1").value)}"' in body
    assert "HX-Target" in response.headers["Vary"]


def test_the_domain_pages_link_to_the_keys_page(signed_in, owner):
    domain = DomainFactory(workspace=owner.workspace)

    setup_page = text_of(signed_in.get(f"/w/{owner.workspace.slug}/domains/{domain.id}/setup"))
    keys_page = text_of(signed_in.get(keys_url(domain)))

    assert f'href="{keys_url(domain)}">DKIM keys</a>' in setup_page
    assert f'href="{keys_url(domain)}"' not in keys_page
    assert f'<a href="/w/{owner.workspace.slug}/domains/{domain.id}">{domain.fqdn}</a>' in keys_page


# --- rotate now --------------------------------------------------------------------------

def test_rotate_now_starts_the_next_key_and_answers_htmx_with_the_section(signed_in, verified,
                                                                          redis_client):
    assert rotate_button(text_of(signed_in.get(keys_url(verified)))) == "enabled"

    response = signed_in.post(keys_url(verified, "rotate"), headers=SECTION)

    assert response.status_code == 200
    body = text_of(response)
    assert body.lstrip().startswith('<div id="dkim-keys">') and "<html" not in body
    assert "Rotation started: the new key pm2 is being generated." in body
    assert "A rotation is under way" in body and rotate_button(body) == "disabled"
    assert POLLS in body
    assert states(verified) == {"pm1": KeyState.ACTIVE, "pm2": KeyState.GENERATING}
    pm2 = next(k for k in fresh(verified.id).keys if k.selector == "pm2")
    job = Queue("keys", connection=redis_client).jobs[-1]
    assert (job.func_name, job.args) == ("app.domains.tasks.generate_dkim_key", (pm2.id,))

    run_job(generate_dkim_key, pm2.id)
    body = text_of(signed_in.get(keys_url(verified)))
    assert key_row(body, "pm2").startswith("pm2 RSA 2048-bit pending Publish this record")
    assert f'data-copy="{escape(dkim_record(verified, "pm2").value)}"' in body
    assert key_row(body, "pm1").startswith("pm1 RSA 2048-bit active Signs your mail.")


def test_rotate_now_without_javascript_redirects_back_to_the_keys_page(signed_in, signing):
    response = signed_in.post(keys_url(signing, "rotate"))

    assert response.status_code == 302
    assert response.headers["Location"] == keys_url(signing)
    assert "Rotation started: the new key pm2" in text_of(signed_in.get(keys_url(signing)))


@pytest.mark.parametrize("headers", [{}, SECTION], ids=["plain", "htmx"])
def test_an_unverified_domain_cannot_rotate_and_nothing_changes(signed_in, owner, redis_client,
                                                               headers):
    domain = onboard(owner)
    assert rotate_button(text_of(signed_in.get(keys_url(domain)))) == "disabled"
    jobs, events = len(Queue("keys", connection=redis_client).jobs), audit_count()

    response = signed_in.post(keys_url(domain, "rotate"), headers=headers)

    assert response.status_code == 409
    body = text_of(response)
    assert NOT_VERIFIED in body and 'class="flash flash-error"' in body
    assert body.lstrip().startswith('<div id="dkim-keys">') == bool(headers)
    assert states(domain) == {"pm1": KeyState.PENDING}
    assert len(Queue("keys", connection=redis_client).jobs) == jobs
    assert audit_count() == events


def test_a_second_rotation_while_one_is_under_way_is_refused(signed_in, signing):
    assert signed_in.post(keys_url(signing, "rotate")).status_code == 302

    response = signed_in.post(keys_url(signing, "rotate"), headers=SECTION)

    assert response.status_code == 409
    assert "A rotation is already under way" in text_of(response)
    assert states(signing) == {"pm1": KeyState.ACTIVE, "pm2": KeyState.GENERATING}


# --- the cadence -------------------------------------------------------------------------

def selected_cadence(page_html: str) -> str:
    select = re.search(r'<select[^>]*name="dkim_rotation_days".*?</select>', page_html, re.DOTALL)
    return re.search(r'<option selected value="([^"]*)">', select.group(0)).group(1)


def test_a_cadence_is_saved_and_says_when_the_next_rotation_is_due(signed_in, signing):
    active = fresh(signing.id).keys[0]
    assert "Off: the key changes only when you rotate it." in text_of(signed_in.get(
        keys_url(signing)))

    response = signed_in.post(keys_url(signing, "cadence"), data={"dkim_rotation_days": "90"},
                              headers=SECTION)

    assert response.status_code == 200
    body = text_of(response)
    assert "The DKIM key of example.com now rotates every 90 days." in body
    due = shown(active.activated_at + timedelta(days=90))
    assert re.search(rf"Next rotation due <time[^>]*>{due}</time>", body)
    assert selected_cadence(body) == "90"
    assert fresh(signing.id).dkim_rotation_days == 90
    last = select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)
    assert db.session.scalar(last) == "domain.rotation_cadence_changed"


def test_a_cadence_already_passed_says_the_rotation_is_due_now(signed_in, signing):
    fresh(signing.id).dkim_rotation_days = 7
    commit()

    body = text_of(signed_in.get(keys_url(signing)))

    assert "Every 7 days." in body and "Next rotation: due now" in body


def test_never_turns_automatic_rotation_off(signed_in, signing):
    fresh(signing.id).dkim_rotation_days = 90
    commit()

    response = signed_in.post(keys_url(signing, "cadence"), data={"dkim_rotation_days": ""})

    assert response.status_code == 302
    assert fresh(signing.id).dkim_rotation_days is None
    body = text_of(signed_in.get(keys_url(signing)))
    assert "Automatic rotation is off" in body and selected_cadence(body) == ""


def test_a_cadence_set_elsewhere_is_offered_as_it_is(signed_in, signing):
    fresh(signing.id).dkim_rotation_days = 45  # the API takes any number of days
    commit()

    assert selected_cadence(text_of(signed_in.get(keys_url(signing)))) == "45"


@pytest.mark.parametrize("data, message", [
    ({"dkim_rotation_days": "0"}, "Rotate every 1 to 3650 days"),
    ({"dkim_rotation_days": "4000"}, "Rotate every 1 to 3650 days"),
    ({"dkim_rotation_days": "-5"}, "Choose never or a number of days."),
    ({"dkim_rotation_days": "soon"}, "Choose never or a number of days."),
    ({}, "Choose never or a number of days."),
], ids=["zero", "over-ten-years", "negative", "not-a-number", "missing"])
def test_a_cadence_out_of_range_or_not_a_number_is_a_422_on_the_field(signed_in, signing,
                                                                      data, message):
    fresh(signing.id).dkim_rotation_days = 30
    commit()
    events = audit_count()

    response = signed_in.post(keys_url(signing, "cadence"), data=data, headers=SECTION)

    assert response.status_code == 422
    body = text_of(response)
    assert re.search(r'<div class="field has-error">\s*<label for="dkim_rotation_days"', body)
    assert re.search(r'<div class="error">' + re.escape(message), body)
    assert fresh(signing.id).dkim_rotation_days == 30
    assert audit_count() == events


# --- viewers -----------------------------------------------------------------------------

def test_viewers_see_every_key_but_no_controls_and_their_changes_are_forbidden(client, signing):
    login(client, member(Role.VIEWER, signing.workspace))

    body = text_of(client.get(keys_url(signing)))

    assert key_row(body, "pm1").startswith("pm1 RSA 2048-bit active Signs your mail.")
    assert "Your role in this workspace is viewer" in body
    assert "Rotate now" not in body and 'name="dkim_rotation_days"' not in body
    events = audit_count()
    for action, data in (("rotate", {}), ("cadence", {"dkim_rotation_days": "30"})):
        response = client.post(keys_url(signing, action), data=data, headers=SECTION)
        assert response.status_code == 403, action
    assert states(signing) == {"pm1": KeyState.ACTIVE}
    assert fresh(signing.id).dkim_rotation_days is None
    assert audit_count() == events
