"""Email accounts: the service's rules, the accounts page (HTMX and plain), and the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.domains import accounts
from app.domains.accounts import AccountChanges, AccountStatus
from app.domains.models import Domain, DomainStatus, EmailAccount
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.workspaces.actor import Actor
from app.workspaces.roles import Role
from tests.conftest import RequestPerAppContext
from tests.factories import DomainFactory, EmailAccountFactory, api_token, member
from tests.helpers import login
from tests.integration.test_api import assert_error, bearer

SECRET = "pmd_accounts-api-secret"
VIEWER_SECRET = "pmd_accounts-api-viewer"
UNVERIFIED = [DomainStatus.PENDING, DomainStatus.VERIFYING, DomainStatus.FAILED,
              DomainStatus.SUSPENDED]


@pytest.fixture
def owner():
    return member(Role.OWNER)


@pytest.fixture
def workspace(owner):
    return owner.memberships[0].workspace


@pytest.fixture
def actor(owner, workspace) -> Actor:
    return Actor(user=owner, workspace=workspace, role=Role.OWNER, ip="192.0.2.7")


@pytest.fixture
def viewer_actor(workspace) -> Actor:
    return Actor(user=member(Role.VIEWER, workspace), workspace=workspace, role=Role.VIEWER)


@pytest.fixture
def domain(workspace) -> Domain:
    return DomainFactory(workspace=workspace, fqdn="example.com", status=DomainStatus.VERIFIED)


def audit_trail(account_id: int) -> list[tuple[str, dict | None, dict | None]]:
    return [(e.action, e.before, e.after) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "email_account",
                                 AuditEvent.object_id == str(account_id))
        .order_by(AuditEvent.id))]


# --- the service: local parts ------------------------------------------------------------

@pytest.mark.parametrize("raw, stored", [
    ("sales", "sales"),
    ("  Sales ", "sales"),
    ("First.Last", "first.last"),
    ("o'brien", "o'brien"),
    ("news+weekly", "news+weekly"),
    ("!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"),
    ("a" * 64, "a" * 64),
])
def test_a_dot_atom_local_part_is_stored_lower_case(raw, stored):
    assert accounts.normalise_local_part(raw) == stored


@pytest.mark.parametrize("raw, says", [
    ("", "Enter the part before the @"),
    ("   ", "Enter the part before the @"),
    ("sales@example.com", "only the part before the @"),
    (".sales", "A dot cannot come first"),
    ("sales.", "A dot cannot come first"),
    ("sa..les", "A dot cannot come first"),
    ("sa les", "These characters cannot be used before the @: space"),
    ("sa,les", "These characters cannot be used before the @: ,"),
    ('"quoted"', 'These characters cannot be used before the @: "'),
    ("(comment)sales", "These characters cannot be used before the @: ( )"),
    ("sales\r\nbcc", "These characters cannot be used before the @: U+000A U+000D"),
    ("verkäufer", "other characters are not supported"),
])
def test_a_local_part_that_is_not_a_dot_atom_is_refused_with_the_reason(raw, says):
    with pytest.raises(ValidationFailed) as refused:
        accounts.normalise_local_part(raw)
    assert refused.value.code == "local_part_invalid"
    assert says in refused.value.message
    assert refused.value.fields == {"local_part": refused.value.message}


def test_a_local_part_over_64_octets_is_too_long():
    with pytest.raises(ValidationFailed) as refused:
        accounts.normalise_local_part("a" * 65)
    assert refused.value.code == "local_part_too_long"
    assert "65" in refused.value.message and "64" in refused.value.message


# --- the service: creating ---------------------------------------------------------------

def test_an_account_is_created_active_and_audited(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "Sales", display_name=" Sales Team ",
                                      daily_limit=500)
    assert (account.local_part, account.display_name, account.daily_limit, account.status) == (
        "sales", "Sales Team", 500, "active")
    assert account.workspace_id == domain.workspace_id
    assert accounts.address(account) == "sales@example.com"
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "email_account.created")).one()
    assert (event.object_id, event.actor_id, event.ip) == (str(account.id), actor.user_id,
                                                           "192.0.2.7")
    assert event.after == {"address": "sales@example.com", "display_name": "Sales Team",
                           "daily_limit": 500, "status": "active"}


def test_the_daily_limit_defaults_to_a_thousand(ctx, actor, domain):
    assert accounts.create_account(actor, domain, "sales").daily_limit == 1000


@pytest.mark.parametrize("status", UNVERIFIED)
def test_accounts_cannot_be_created_on_an_unverified_domain(ctx, actor, domain, status):
    domain.status = status
    with pytest.raises(Conflict) as refused:
        accounts.create_account(actor, domain, "sales")
    assert refused.value.code == "domain_not_verified"
    assert "Verify the domain first" in refused.value.message
    assert accounts.list_accounts(actor, domain) == []


def test_the_same_local_part_twice_on_a_domain_is_a_conflict(ctx, actor, domain):
    accounts.create_account(actor, domain, "sales")
    with pytest.raises(Conflict) as refused:
        accounts.create_account(actor, domain, "SALES")
    assert refused.value.code == "account_exists"
    assert refused.value.fields == {"local_part": "Already an account on this domain."}


def test_the_same_local_part_on_another_domain_is_fine(ctx, actor, domain):
    other = DomainFactory(workspace=domain.workspace, status=DomainStatus.VERIFIED)
    accounts.create_account(actor, domain, "sales")
    assert accounts.create_account(actor, other, "sales").domain_id == other.id


def test_a_duplicate_that_slips_past_the_check_is_still_a_conflict(ctx, actor, domain,
                                                                   monkeypatch):
    """Two requests at once both pass the look-up; the unique constraint decides."""
    accounts.create_account(actor, domain, "sales")
    monkeypatch.setattr(accounts, "_local_part_taken", lambda domain, local_part: False)
    with pytest.raises(Conflict) as refused:
        accounts.create_account(actor, domain, "sales")
    assert refused.value.code == "account_exists"
    monkeypatch.undo()
    assert [a.local_part for a in accounts.list_accounts(actor, domain)] == ["sales"]


@pytest.mark.parametrize("display_name, problem", [
    ("x" * 201, "at most 200"),
    ("Sales\r\nBcc: victim@example.org", "Line breaks"),
    ("Sales\nTeam", "Line breaks"),
    ("Sales\x00", "control characters"),
])
def test_a_display_name_too_long_or_with_line_breaks_is_refused(ctx, actor, domain,
                                                                display_name, problem):
    with pytest.raises(ValidationFailed) as refused:
        accounts.create_account(actor, domain, "sales", display_name=display_name)
    assert refused.value.code == "display_name_invalid"
    assert problem in refused.value.message


def test_a_display_name_of_200_characters_is_accepted(ctx, actor, domain):
    name = "Ü" * 200
    assert accounts.create_account(actor, domain, "sales", display_name=name).display_name == name


@pytest.mark.parametrize("limit", [0, -1, 1_000_001, True, 2.5])
def test_a_daily_limit_outside_one_to_a_million_is_refused(ctx, actor, domain, limit):
    with pytest.raises(ValidationFailed) as refused:
        accounts.create_account(actor, domain, "sales", daily_limit=limit)
    assert refused.value.code == "daily_limit_invalid"
    assert "1 to 1,000,000" in refused.value.message


@pytest.mark.parametrize("limit", [1, 1_000_000])
def test_the_daily_limit_bounds_are_accepted(ctx, actor, domain, limit):
    account = accounts.create_account(actor, domain, "sales", daily_limit=limit)
    assert account.daily_limit == limit


def test_a_viewer_cannot_create_change_or_delete(ctx, actor, viewer_actor, domain):
    account = accounts.create_account(actor, domain, "sales")
    attempts = [
        lambda: accounts.create_account(viewer_actor, domain, "other"),
        lambda: accounts.update_account(viewer_actor, account, AccountChanges(daily_limit=5)),
        lambda: accounts.pause_account(viewer_actor, account),
        lambda: accounts.resume_account(viewer_actor, account),
        lambda: accounts.delete_account(viewer_actor, account),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as refused:
            attempt()
        assert refused.value.code == "role_read_only"
    assert len(audit_trail(account.id)) == 1


# --- the service: changing ---------------------------------------------------------------

def test_an_update_is_audited_with_before_and_after(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales", display_name="Sales")
    accounts.update_account(actor, account, AccountChanges(display_name="Sales Team",
                                                           daily_limit=250))
    assert (account.display_name, account.daily_limit) == ("Sales Team", 250)
    assert audit_trail(account.id)[-1] == (
        "email_account.updated",
        {"address": "sales@example.com", "display_name": "Sales", "daily_limit": 1000,
         "status": "active"},
        {"address": "sales@example.com", "display_name": "Sales Team", "daily_limit": 250,
         "status": "active"})


def test_an_update_that_changes_nothing_is_not_audited(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales", display_name="Sales")
    accounts.update_account(actor, account, AccountChanges(display_name="Sales"))
    accounts.update_account(actor, account, AccountChanges())
    assert [action for action, _, _ in audit_trail(account.id)] == ["email_account.created"]


def test_an_unknown_status_is_refused(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales")
    with pytest.raises(ValidationFailed) as refused:
        accounts.update_account(actor, account, AccountChanges(status="deleted"))
    assert refused.value.code == "status_invalid"


def test_pause_and_resume_are_audited(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales")
    accounts.pause_account(actor, account)
    assert account.status == AccountStatus.PAUSED
    accounts.pause_account(actor, account)  # already paused: nothing to record
    accounts.resume_account(actor, account)
    assert account.status == AccountStatus.ACTIVE
    trail = [(action, before["status"] if before else None, after["status"] if after else None)
             for action, before, after in audit_trail(account.id)]
    assert trail == [("email_account.created", None, "active"),
                     ("email_account.paused", "active", "paused"),
                     ("email_account.resumed", "paused", "active")]


@pytest.mark.parametrize("status", UNVERIFIED)
def test_after_losing_verification_an_account_can_be_paused_and_deleted_but_not_resumed(
        ctx, actor, domain, status):
    account = accounts.create_account(actor, domain, "sales")
    paused = accounts.create_account(actor, domain, "paused")
    accounts.pause_account(actor, paused)
    domain.status = status
    for refused_change in (lambda: accounts.resume_account(actor, paused),
                           lambda: accounts.update_account(actor, account,
                                                           AccountChanges(daily_limit=5)),
                           lambda: accounts.update_account(actor, paused,
                                                           AccountChanges(status="active"))):
        with pytest.raises(Conflict) as refused:
            refused_change()
        assert refused.value.code == "domain_not_verified"
    accounts.update_account(actor, account, AccountChanges(status=AccountStatus.PAUSED))
    assert account.status == "paused"
    accounts.delete_account(actor, paused)
    assert [a.local_part for a in accounts.list_accounts(actor, domain)] == ["sales"]


def test_a_deleted_account_is_gone_and_audited_with_what_it_was(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales", daily_limit=10)
    account_id = account.id
    accounts.delete_account(actor, account)
    assert db.session.get(EmailAccount, account_id) is None
    assert audit_trail(account_id)[-1] == (
        "email_account.deleted",
        {"address": "sales@example.com", "display_name": "", "daily_limit": 10,
         "status": "active"}, None)


def test_an_account_is_found_only_under_its_own_domain_and_workspace(ctx, actor, domain):
    account = accounts.create_account(actor, domain, "sales")
    sibling = DomainFactory(workspace=domain.workspace, status=DomainStatus.VERIFIED)
    foreign = EmailAccountFactory()
    assert accounts.get_account(actor, domain, account.id) is account
    for wrong_domain, account_id in ((sibling, account.id), (domain, foreign.id),
                                     (foreign.domain, foreign.id)):
        with pytest.raises(NotFound):
            accounts.get_account(actor, wrong_domain, account_id)


def test_accounts_are_listed_by_local_part(ctx, actor, domain):
    for local_part in ("zed", "alice", "mike"):
        accounts.create_account(actor, domain, local_part)
    EmailAccountFactory(local_part="other-domain")
    assert [a.local_part for a in accounts.list_accounts(actor, domain)] == [
        "alice", "mike", "zed"]


# --- the page ----------------------------------------------------------------------------

HTMX = {"HX-Request": "true", "HX-Target": "accounts"}


def page_url(domain: Domain, suffix: str = "") -> str:
    return f"/w/{domain.workspace.slug}/domains/{domain.id}/accounts/{suffix}"


@pytest.fixture
def signed_in(client, owner):
    login(client, owner)
    return client


def test_the_page_lists_accounts_with_a_form_and_buttons(signed_in, domain):
    EmailAccountFactory(domain=domain, local_part="sales", display_name="Sales Team")
    EmailAccountFactory(domain=domain, local_part="news", status="paused")
    response = signed_in.get(page_url(domain))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Email accounts · example.com" in html
    assert 'id="accounts"' in html and 'name="local_part"' in html
    assert "sales@example.com" in html and "Sales Team" in html
    assert "news@example.com" in html
    assert ">Pause</button>" in html and ">Resume</button>" in html and ">Delete</button>" in html
    assert "HX-Target" in response.headers["Vary"]


def test_an_unverified_domain_says_to_verify_first_and_offers_no_form(signed_in, domain):
    domain.status = DomainStatus.PENDING
    db.session.flush()
    html = signed_in.get(page_url(domain)).get_data(as_text=True)
    assert "example.com is not verified yet" in html and "Verify the domain first" in html
    assert 'name="local_part"' not in html


def test_a_viewer_sees_the_accounts_but_no_controls(client, workspace, domain):
    EmailAccountFactory(domain=domain, local_part="sales")
    login(client, member(Role.VIEWER, workspace))
    html = client.get(page_url(domain)).get_data(as_text=True)
    assert "sales@example.com" in html
    assert 'name="local_part"' not in html and ">Pause</button>" not in html
    assert ">Delete</button>" not in html


def test_adding_an_account_without_javascript_redirects_back_with_a_message(signed_in, domain):
    response = signed_in.post(page_url(domain), data={"local_part": "Sales", "display_name": "",
                                                      "daily_limit": "300"})
    assert response.status_code == 302
    assert response.headers["Location"] == page_url(domain)
    account = db.session.scalars(select(EmailAccount)).one()
    assert (account.local_part, account.daily_limit) == ("sales", 300)
    assert "sales@example.com added." in signed_in.get(page_url(domain)).get_data(as_text=True)


def test_adding_an_account_with_htmx_swaps_in_the_refreshed_section(signed_in, domain):
    response = signed_in.post(page_url(domain), headers=HTMX,
                              data={"local_part": "sales", "daily_limit": "300"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="accounts">')
    assert "sales@example.com" in html and "sales@example.com added." in html
    assert 'value="sales"' not in html  # a fresh form for the next one


def test_a_boosted_navigation_gets_the_full_page(signed_in, domain):
    response = signed_in.get(page_url(domain), headers={"HX-Request": "true",
                                                        "HX-Boosted": "true",
                                                        "HX-Target": "accounts"})
    assert "<html" in response.get_data(as_text=True)


def test_a_refused_account_keeps_what_was_typed_next_to_the_error(signed_in, domain):
    response = signed_in.post(page_url(domain), headers=HTMX,
                              data={"local_part": "sa les", "display_name": "Sales Team",
                                    "daily_limit": "300"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "These characters cannot be used before the @: space" in html
    assert 'value="sa les"' in html and 'value="Sales Team"' in html and 'value="300"' in html
    assert db.session.scalar(select(EmailAccount.id)) is None


@pytest.mark.parametrize("data, message", [
    ({"local_part": "sales", "daily_limit": ""}, "This field is required."),
    ({"local_part": "sales", "daily_limit": "lots"}, "Not a valid integer value."),
    ({"local_part": "sales", "daily_limit": "0"}, "1 to 1,000,000"),
    ({"local_part": "", "daily_limit": "10"}, "This field is required."),
])
def test_bad_form_fields_are_a_422_with_the_problem_shown(signed_in, domain, data, message):
    response = signed_in.post(page_url(domain), data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_a_duplicate_is_a_409_shown_on_the_field(signed_in, domain):
    EmailAccountFactory(domain=domain, local_part="sales")
    response = signed_in.post(page_url(domain), data={"local_part": "sales", "daily_limit": "5"})
    assert response.status_code == 409
    assert "Already an account on this domain." in response.get_data(as_text=True)


def test_posting_an_account_to_an_unverified_domain_is_a_409_that_says_why(signed_in, domain):
    domain.status = DomainStatus.VERIFYING
    db.session.flush()
    response = signed_in.post(page_url(domain), data={"local_part": "sales", "daily_limit": "5"})
    assert response.status_code == 409
    assert "Verify the domain first" in response.get_data(as_text=True)


def test_editing_an_account_saves_and_redirects(signed_in, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    response = signed_in.post(page_url(domain, f"{account.id}"),
                              data={"display_name": "Sales Team", "daily_limit": "42"})
    assert response.status_code == 302
    db.session.refresh(account)
    assert (account.display_name, account.daily_limit) == ("Sales Team", 42)


def test_a_refused_edit_stays_open_with_the_typed_values_and_the_error(signed_in, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales", daily_limit=7)
    response = signed_in.post(page_url(domain, f"{account.id}"), headers=HTMX,
                              data={"display_name": "Sales Team", "daily_limit": "2000000"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<details open>" in html and 'value="2000000"' in html and "1 to 1,000,000" in html
    db.session.refresh(account)
    assert account.daily_limit == 7


@pytest.mark.parametrize("action, start, end", [("pause", "active", "paused"),
                                                ("resume", "paused", "active")])
def test_pause_and_resume_buttons_work_with_and_without_htmx(signed_in, domain, action, start,
                                                             end):
    plain = EmailAccountFactory(domain=domain, local_part="plain", status=start)
    swapped = EmailAccountFactory(domain=domain, local_part="swapped", status=start)
    assert signed_in.post(page_url(domain, f"{plain.id}/{action}")).status_code == 302
    response = signed_in.post(page_url(domain, f"{swapped.id}/{action}"), headers=HTMX)
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<div id="accounts">')
    db.session.expire_all()
    assert {a.status for a in db.session.scalars(select(EmailAccount))} == {end}


def test_the_delete_button_removes_the_account(signed_in, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    response = signed_in.post(page_url(domain, f"{account.id}/delete"), headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "sales@example.com deleted." in html
    assert "No email accounts on example.com yet." in html
    assert db.session.scalar(select(EmailAccount.id)) is None


def test_resuming_on_an_unverified_domain_is_a_409_flashed_on_the_page(signed_in, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales", status="paused")
    domain.status = DomainStatus.FAILED
    db.session.flush()
    response = signed_in.post(page_url(domain, f"{account.id}/resume"), headers=HTMX)
    assert response.status_code == 409
    assert "Verify the domain first" in response.get_data(as_text=True)


@pytest.mark.parametrize("suffix", ["{id}/pause", "{id}/resume", "{id}/delete", "{id}"])
def test_an_unknown_account_is_a_404(signed_in, domain, suffix):
    response = signed_in.post(page_url(domain, suffix.format(id=999999)),
                              data={"daily_limit": "5"})
    assert response.status_code == 404


@pytest.mark.parametrize("suffix", ["", "{id}", "{id}/pause", "{id}/resume", "{id}/delete"])
def test_a_viewer_posting_anyway_gets_a_403_and_nothing_changes(client, workspace, domain,
                                                                 suffix):
    account = EmailAccountFactory(domain=domain, local_part="sales", daily_limit=7)
    login(client, member(Role.VIEWER, workspace))
    response = client.post(page_url(domain, suffix.format(id=account.id)),
                           data={"local_part": "other", "daily_limit": "5"})
    assert response.status_code == 403
    assert "viewer" in response.get_data(as_text=True)
    db.session.expire_all()
    assert [(a.local_part, a.daily_limit, a.status) for a in db.session.scalars(
        select(EmailAccount))] == [("sales", 7, "active")]


# --- the API -----------------------------------------------------------------------------

@pytest.fixture
def api(app, owner, workspace):
    api_token(owner, workspace, SECRET)
    client = RequestPerAppContext(app, app.response_class)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {SECRET}"
    return client


@pytest.fixture
def viewer_token(workspace) -> dict[str, str]:
    return bearer(api_token(member(Role.VIEWER, workspace), workspace, VIEWER_SECRET))


def accounts_url(domain: Domain, suffix: str = "") -> str:
    return f"/api/v1/domains/{domain.id}/accounts{suffix}"


def test_api_creates_an_account_with_201_and_its_location(api, domain):
    response = api.post(accounts_url(domain), json={"local_part": "Sales",
                                                    "display_name": "Sales Team",
                                                    "daily_limit": 250})
    assert response.status_code == 201
    body = response.get_json()
    account = db.session.get(EmailAccount, body["id"])
    assert response.headers["Location"] == accounts_url(domain, f"/{account.id}")
    assert body == {"id": account.id, "domain_id": domain.id, "local_part": "sales",
                    "address": "sales@example.com", "display_name": "Sales Team",
                    "daily_limit": 250, "status": "active",
                    "created_at": account.created_at.isoformat()}
    assert audit_trail(account.id)[0][0] == "email_account.created"


def test_api_lists_and_reads_accounts(api, domain):
    EmailAccountFactory(domain=domain, local_part="zed")
    alice = EmailAccountFactory(domain=domain, local_part="alice")
    EmailAccountFactory(local_part="elsewhere")
    listed = api.get(accounts_url(domain)).get_json()
    assert [a["address"] for a in listed] == ["alice@example.com", "zed@example.com"]
    one = api.get(accounts_url(domain, f"/{alice.id}"))
    assert one.status_code == 200 and one.get_json()["local_part"] == "alice"


def test_api_patch_changes_only_the_given_fields(api, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales", display_name="Sales",
                                  daily_limit=7)
    response = api.patch(accounts_url(domain, f"/{account.id}"), json={"daily_limit": 70})
    assert response.status_code == 200
    assert (response.get_json()["display_name"], response.get_json()["daily_limit"]) == (
        "Sales", 70)
    paused = api.patch(accounts_url(domain, f"/{account.id}"), json={"status": "paused"})
    assert paused.get_json()["status"] == "paused"
    resumed = api.patch(accounts_url(domain, f"/{account.id}"), json={"status": "active"})
    assert resumed.get_json()["status"] == "active"
    assert [action for action, _, _ in audit_trail(account.id)] == ["email_account.updated"] * 3


def test_api_delete_answers_204(api, domain):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    account_id = account.id
    response = api.delete(accounts_url(domain, f"/{account_id}"))
    assert response.status_code == 204 and response.data == b""
    assert_error(api.get(accounts_url(domain, f"/{account_id}")), 404, "not_found")
    assert audit_trail(account_id)[-1][0] == "email_account.deleted"


@pytest.mark.parametrize("status", UNVERIFIED)
def test_api_refuses_accounts_on_an_unverified_domain_with_409(api, workspace, status):
    domain = DomainFactory(workspace=workspace, status=status)
    error = assert_error(api.post(accounts_url(domain), json={"local_part": "sales"}), 409,
                         "domain_not_verified")
    assert "Verify the domain first" in error["message"]


@pytest.mark.parametrize("body, field", [
    ({}, "local_part"),
    ({"local_part": None}, "local_part"),
    ({"local_part": "sales", "daily_limit": "100"}, "daily_limit"),
    ({"local_part": "sales", "daily_limit": 1.5}, "daily_limit"),
    ({"local_part": "sales", "colour": "blue"}, "colour"),
])
def test_api_bodies_of_the_wrong_shape_are_422_naming_the_field(api, domain, body, field):
    error = assert_error(api.post(accounts_url(domain), json=body), 422, "validation_error")
    assert field in error["fields"]


@pytest.mark.parametrize("body, code, field", [
    ({"local_part": "sa..les"}, "local_part_invalid", "local_part"),
    ({"local_part": "x" * 65}, "local_part_too_long", "local_part"),
    ({"local_part": "sales", "display_name": "A\r\nBcc: x@example.org"}, "display_name_invalid",
     "display_name"),
    ({"local_part": "sales", "daily_limit": 0}, "daily_limit_invalid", "daily_limit"),
    ({"local_part": "sales", "daily_limit": 1_000_001}, "daily_limit_invalid", "daily_limit"),
])
def test_api_values_the_service_refuses_are_422_with_its_code(api, domain, body, code, field):
    error = assert_error(api.post(accounts_url(domain), json=body), 422, code)
    assert set(error["fields"]) == {field}
    assert db.session.scalar(select(EmailAccount.id)) is None


@pytest.mark.parametrize("body, field", [
    ({"status": "deleted"}, "status"),
    ({"local_part": "renamed"}, "local_part"),  # the address is the identity: never renamed
    ({"daily_limit": None}, "daily_limit"),
])
def test_api_patch_refuses_what_cannot_change(api, domain, body, field):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    error = assert_error(api.patch(accounts_url(domain, f"/{account.id}"), json=body), 422,
                         "validation_error")
    assert field in error["fields"]


def test_api_duplicate_account_is_a_409(api, domain):
    EmailAccountFactory(domain=domain, local_part="sales")
    assert_error(api.post(accounts_url(domain), json={"local_part": "Sales"}), 409,
                 "account_exists")


def test_api_viewer_reads_but_cannot_change(api, domain, viewer_token):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    assert api.get(accounts_url(domain), headers=viewer_token).status_code == 200
    assert api.get(accounts_url(domain, f"/{account.id}"), headers=viewer_token).status_code == 200
    for response in (
            api.post(accounts_url(domain), json={"local_part": "x"}, headers=viewer_token),
            api.patch(accounts_url(domain, f"/{account.id}"), json={"daily_limit": 5},
                      headers=viewer_token),
            api.delete(accounts_url(domain, f"/{account.id}"), headers=viewer_token)):
        assert_error(response, 403, "role_read_only")
    assert audit_trail(account.id) == []


def test_api_an_account_under_another_of_your_domains_is_a_404(api, domain, workspace):
    account = EmailAccountFactory(domain=domain, local_part="sales")
    sibling = DomainFactory(workspace=workspace, status=DomainStatus.VERIFIED)
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(accounts_url(sibling, f"/{account.id}"), json={})
        assert_error(response, 404, "not_found")
    assert db.session.get(EmailAccount, account.id) is not None
