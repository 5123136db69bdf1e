"""`flask users|tokens|demo`: the operator's way in, with messages that say what to fix."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, User
from app.auth.passwords import verify_password
from app.core.tokens import digest
from app.extensions import db
from app.uow import commit
from app.workspaces.models import Invitation, Membership, Workspace
from app.workspaces.roles import Role
from tests.factories import PASSWORD, WorkspaceFactory, member


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))

    return invoke


def role_of(email: str, slug: str) -> Role | None:
    user, workspace = User.by_email(email), Workspace.by_slug(slug)
    membership = user.membership_in(workspace.id) if user and workspace else None
    return membership.role if membership else None


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def abandon_uncommitted_work() -> None:
    """What the end of a failed CLI process does: whatever it did not commit is gone."""
    db.session.rollback()


# --- flask users create ----------------------------------------------------------------------

def test_users_create_makes_an_owner_of_a_new_workspace(cli):
    result = cli("users", "create", "--email", "Ada@Example.com", "--password", "a-long-password",
                 "--workspace", "ada-labs", "--name", "Ada")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ada@example.com is owner of workspace ada-labs."
    user = User.by_email("ada@example.com")
    assert user.name == "Ada" and not user.is_platform_admin
    assert verify_password(user.password_hash, "a-long-password")
    assert role_of("ada@example.com", "ada-labs") is Role.OWNER


def test_users_create_can_make_a_platform_admin(cli):
    result = cli("users", "create", "--email", "root@example.com", "--password",
                 "a-long-password", "--workspace", "ops", "--platform-admin")
    assert result.exit_code == 0, result.output
    assert "(platform admin)" in result.output
    assert User.by_email("root@example.com").is_platform_admin


def test_users_create_reuses_an_existing_account_and_keeps_its_password(cli):
    existing = member(email="grace@example.com")
    commit()
    result = cli("users", "create", "--email", "GRACE@example.com", "--password",
                 "another-long-password", "--workspace", "second-home")
    assert result.exit_code == 0, result.output
    assert "The account already existed: its name and password were not changed." in result.output
    user = User.by_email("grace@example.com")
    assert user.id == existing.id and verify_password(user.password_hash, PASSWORD)
    assert role_of("grace@example.com", "second-home") is Role.OWNER


def test_users_create_adds_a_role_in_an_existing_workspace(cli):
    workspace = WorkspaceFactory(slug="acme")
    member(Role.OWNER, workspace=workspace)
    commit()
    result = cli("users", "create", "--email", "new@example.com", "--password", "a-long-password",
                 "--workspace", "acme", "--role", "viewer")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "new@example.com is viewer of workspace acme."
    assert role_of("new@example.com", "acme") is Role.VIEWER
    added = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.added"))
    assert added.actor_label == "system (cli)" and added.after["role"] == "viewer"


def test_users_create_changes_the_role_of_an_existing_member(cli):
    workspace = WorkspaceFactory(slug="acme")
    member(Role.OWNER, workspace=workspace)
    member(Role.MEMBER, workspace=workspace, email="promote@example.com")
    commit()
    result = cli("users", "create", "--email", "promote@example.com", "--password",
                 "ignored-password", "--workspace", "acme", "--role", "admin")
    assert result.exit_code == 0, result.output
    assert role_of("promote@example.com", "acme") is Role.ADMIN


def test_users_create_will_not_demote_the_last_owner(cli):
    member(Role.OWNER, workspace=WorkspaceFactory(slug="acme"), email="only@example.com")
    commit()
    result = cli("users", "create", "--email", "only@example.com", "--password",
                 "a-long-password", "--workspace", "acme", "--role", "member")
    assert result.exit_code == 1
    assert "at least one owner" in result.output
    assert role_of("only@example.com", "acme") is Role.OWNER


def test_users_create_refuses_a_non_owner_as_first_member_of_a_new_workspace(cli):
    result = cli("users", "create", "--email", "new@example.com", "--password", "a-long-password",
                 "--workspace", "fresh", "--role", "admin")
    assert result.exit_code == 1
    assert "Workspace 'fresh' does not exist yet" in result.output
    assert "use --role owner" in result.output
    abandon_uncommitted_work()
    assert Workspace.by_slug("fresh") is None and User.by_email("new@example.com") is None


@pytest.mark.parametrize("email,password,message", [
    ("not-an-email", "a-long-password", "That email address is not valid"),
    ("short@example.com", "short", "Password refused: Use at least 10 characters."),
])
def test_users_create_refuses_bad_input_with_a_message(cli, email, password, message):
    result = cli("users", "create", "--email", email, "--password", password,
                 "--workspace", "somewhere")
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    abandon_uncommitted_work()
    assert User.by_email(email) is None and Workspace.by_slug("somewhere") is None


def test_users_create_refuses_an_invalid_workspace_slug(cli):
    result = cli("users", "create", "--email", "new@example.com", "--password", "a-long-password",
                 "--workspace", "not a slug!")
    assert result.exit_code == 1
    assert "lower-case letters, digits and hyphens" in result.output


def test_users_create_refuses_an_unknown_role(cli):
    result = cli("users", "create", "--email", "new@example.com", "--password", "a-long-password",
                 "--workspace", "acme", "--role", "boss")
    assert result.exit_code == 2
    assert "'boss' is not one of 'owner', 'admin', 'member', 'viewer'" in result.output


def test_users_list_shows_each_user_with_roles(cli):
    member(Role.ADMIN, workspace=WorkspaceFactory(slug="acme"), email="lister@example.com",
           is_platform_admin=True)
    result = cli("users", "list")
    assert result.exit_code == 0
    assert "lister@example.com [platform admin]  acme:admin" in result.output


# --- flask tokens create ---------------------------------------------------------------------

def test_tokens_create_prints_a_secret_once_that_authenticates_the_api(cli, client):
    user = member(Role.MEMBER, workspace=WorkspaceFactory(slug="acme"), email="bot@example.com")
    commit()
    result = cli("tokens", "create", "--email", "bot@example.com", "--workspace", "acme",
                 "--name", "CI deploys")
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("pmd_") and "\n" not in secret
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.name == "CI deploys" and token.token_hash == digest(secret)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == "bot@example.com"
    assert me.get_json()["workspace"]["role"] == "member"


def test_tokens_create_for_an_unknown_user_says_so(cli):
    result = cli("tokens", "create", "--email", "ghost@example.com", "--workspace", "acme")
    assert result.exit_code == 1
    assert "No user with email 'ghost@example.com'." in result.output


@pytest.mark.parametrize("slug", ["nowhere", "elsewhere"])
def test_tokens_create_outside_the_users_workspaces_says_so(cli, slug):
    member(email="bot@example.com", workspace=WorkspaceFactory(slug="acme"))
    WorkspaceFactory(slug="elsewhere")
    result = cli("tokens", "create", "--email", "bot@example.com", "--workspace", slug)
    assert result.exit_code == 1
    assert f"bot@example.com is not a member of a workspace '{slug}'." in result.output
    tokens = select(ApiToken).join(User).where(User.email == "bot@example.com")
    assert db.session.scalar(tokens) is None


# --- flask demo seed -------------------------------------------------------------------------

def test_demo_seed_creates_the_demo_teams_and_is_idempotent(cli):
    def counts() -> dict[str, int]:
        return {model.__name__: count(model) for model in (User, Workspace, Membership, Invitation)}

    before = counts()
    first = cli("demo", "seed")
    assert first.exit_code == 0, first.output
    after_first = counts()
    assert {name: after_first[name] - before[name] for name in before} == {
        "User": 5, "Workspace": 2, "Membership": 6, "Invitation": 2}
    assert role_of("owner@acme.example", "acme-agency") is Role.OWNER
    assert role_of("owner@acme.example", "globex") is Role.ADMIN
    assert role_of("client@acme.example", "acme-agency") is Role.VIEWER
    assert "penguin-demo-2026" in first.output

    second = cli("demo", "seed")
    assert second.exit_code == 0, second.output
    assert counts() == after_first


def test_the_first_start_creates_a_platform_admin_once(app):
    from app.auth.models import User
    from app.portal import _first_admin

    email, password = _first_admin()
    admin = User.by_email(email)
    assert admin.is_platform_admin and admin.workspaces()
    assert len(password) >= 12
    assert _first_admin() is None, "an existing account means no new admin"


# --- flask dns check --concurrency -----------------------------------------------------------

def test_dns_check_prints_domains_in_the_order_given_however_they_finish(cli, dns_server, app,
                                                                         monkeypatch):
    """The first domain times out while the others finish; the output keeps the given order."""
    monkeypatch.setitem(app.config, "DNS_TIMEOUT", 0.5)
    monkeypatch.setitem(app.config, "DNS_LIFETIME", 0.5)
    names = [f"d{n}.test" for n in range(6)]
    for name in names:
        dns_server.add_zone(name, {"@": {"TXT": "v=spf1 -all", "MX": "0 ."},
                                   "_dmarc": {"TXT": "v=DMARC1; p=reject"}})
    dns_server.fail("_dmarc.d0.test", "drop")

    result = cli("dns", "check", *names, "--nameserver", dns_server.nameserver, "--json",
                 "--concurrency", "3")

    assert result.exit_code == 0, result.output  # a timeout is a warning, not an error
    entries = json.loads(result.stdout)
    assert [entry["domain"] for entry in entries] == names
    assert [found["code"] for found in entries[0]["findings"]] == ["DNS_TIMEOUT"]
    assert all(entry["findings"] == [] for entry in entries[1:])


@pytest.mark.parametrize("value", ["0", "1001", "many"])
def test_dns_check_refuses_a_bad_concurrency(cli, value):
    result = cli("dns", "check", "example.test", "--concurrency", value)
    assert result.exit_code == 2
    assert "--concurrency" in result.output
