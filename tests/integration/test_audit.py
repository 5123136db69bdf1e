"""The audit log: every change is recorded, owners and admins read it, nobody rewrites it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.audit.service import AuditLogIsAppendOnly
from app.auth.models import User
from app.core.clock import utcnow
from app.extensions import db
from app.workspaces import service as workspaces
from app.workspaces.actor import Actor
from app.workspaces.models import Invitation, Workspace
from app.workspaces.roles import Role
from tests.factories import PASSWORD, InvitationFactory, WorkspaceFactory, member
from tests.helpers import login

TEST_CLIENT_IP = "127.0.0.1"
FRAGMENT = {"HX-Request": "true", "HX-Target": "audit-events"}


@pytest.fixture
def workspace() -> Workspace:
    return WorkspaceFactory()


@pytest.fixture
def owner(client, workspace) -> User:
    user = member(Role.OWNER, workspace)
    login(client, user)
    return user


def last_event(action: str) -> AuditEvent:
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id.desc())).first()


def assert_recorded(event: AuditEvent, actor: User, workspace: Workspace, object_type: str,
                    object_id: object, before: dict | None, after: dict | None) -> None:
    assert event is not None
    assert (event.actor_id, event.actor_label) == (actor.id, actor.email)
    assert event.workspace_id == workspace.id
    assert event.ip == TEST_CLIENT_IP
    assert (event.object_type, event.object_id) == (object_type, str(object_id))
    assert (event.before, event.after) == (before, after)


def add_event(workspace: Workspace, object_id: str, *, action: str = "domain.created",
              actor: str = "alice@example.com", object_type: str = "domain",
              at: datetime | None = None) -> AuditEvent:
    entry = audit.append(action, object_type, object_id, workspace_id=workspace.id,
                         actor_id=None, actor_label=actor)
    if at is not None:
        entry.created_at = at
    db.session.flush()
    return entry


def listed_object_ids(html: str) -> list[str]:
    """The object ids of the rendered events, in page order."""
    return re.findall(r'<td class="mono">\w+ #([\w.-]+)</td>', html)


# --- every change is recorded ------------------------------------------------------------

def test_creating_a_workspace_is_audited(client):
    user = member()
    login(client, user)
    client.post("/workspaces/new", data={"name": "Acme", "slug": "acme"})
    workspace = Workspace.by_slug("acme")
    assert_recorded(last_event("workspace.created"), user, workspace, "workspace", workspace.id,
                    before=None, after={"name": "Acme", "slug": "acme"})


def test_renaming_is_audited_with_old_and_new_name(client, workspace, owner):
    old_name = workspace.name
    client.post(f"/w/{workspace.slug}/settings", data={"name": "New name"})
    assert_recorded(last_event("workspace.renamed"), owner, workspace, "workspace", workspace.id,
                    before={"name": old_name}, after={"name": "New name"})


def test_renaming_to_the_same_name_records_nothing(client, workspace, owner):
    client.post(f"/w/{workspace.slug}/settings", data={"name": workspace.name})
    assert last_event("workspace.renamed") is None


def test_invitation_is_audited(client, workspace, owner):
    client.post(f"/w/{workspace.slug}/members/invite",
                data={"email": "new@example.com", "role": "admin"})
    invitation = db.session.scalar(select(Invitation))
    assert_recorded(last_event("invitation.created"), owner, workspace, "invitation", invitation.id,
                    before=None, after={"email": "new@example.com", "role": "admin",
                                        "expires_at": invitation.expires_at.isoformat()})


def test_revoking_an_invitation_is_audited(client, workspace, owner):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    client.post(f"/w/{workspace.slug}/invitations/{invitation.id}/revoke")
    assert_recorded(last_event("invitation.revoked"), owner, workspace, "invitation", invitation.id,
                    before=workspaces.invitation_snapshot(invitation), after=None)


def test_accepting_an_invitation_is_audited_as_the_new_member(client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    client.post(f"/invitations/{workspaces.invitation_token(invitation)}",
                data={"name": "Newcomer", "password": PASSWORD, "confirm": PASSWORD})
    newcomer = User.by_email("invitee@example.com")
    membership = newcomer.membership_in(workspace.id)
    assert_recorded(last_event("invitation.accepted"), newcomer, workspace, "membership",
                    membership.id, before=None,
                    after={"user": "invitee@example.com", "role": "member"})


def test_role_change_is_audited_with_old_and_new_role(client, workspace, owner):
    colleague = member(Role.MEMBER, workspace)
    membership = colleague.membership_in(workspace.id)
    client.post(f"/w/{workspace.slug}/members/{membership.id}/role", data={"role": "admin"})
    assert_recorded(last_event("member.role_changed"), owner, workspace, "membership", membership.id,
                    before={"user": colleague.email, "role": "member"},
                    after={"user": colleague.email, "role": "admin"})


def test_removing_a_member_is_audited(client, workspace, owner):
    colleague = member(Role.VIEWER, workspace)
    membership_id = colleague.membership_in(workspace.id).id
    client.post(f"/w/{workspace.slug}/members/{membership_id}/remove")
    assert_recorded(last_event("member.removed"), owner, workspace, "membership", membership_id,
                    before={"user": colleague.email, "role": "viewer"}, after=None)


def test_leaving_is_audited_as_the_leaver(client, workspace):
    member(Role.OWNER, workspace)
    leaver = member(Role.MEMBER, workspace)
    login(client, leaver)
    membership_id = leaver.membership_in(workspace.id).id
    client.post(f"/w/{workspace.slug}/members/{membership_id}/remove")
    assert_recorded(last_event("member.removed"), leaver, workspace, "membership", membership_id,
                    before={"user": leaver.email, "role": "member"}, after=None)


def test_api_token_creation_and_revocation_are_audited_without_the_secret(client, workspace, owner):
    response = client.post(f"/w/{workspace.slug}/settings/tokens/", data={"name": "CI"})
    secret = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True))[1]
    created = last_event("api_token.created")
    snapshot = {"name": "CI", "hint": secret[-4:], "user": owner.email}
    assert_recorded(created, owner, workspace, "api_token", created.object_id,
                    before=None, after=snapshot)
    client.post(f"/w/{workspace.slug}/settings/tokens/{created.object_id}/revoke")
    assert_recorded(last_event("api_token.revoked"), owner, workspace, "api_token",
                    created.object_id, before=snapshot, after=None)
    assert secret not in str([created.before, created.after])


def test_refused_change_records_nothing(client, workspace, owner):
    membership = owner.membership_in(workspace.id)
    response = client.post(f"/w/{workspace.slug}/members/{membership.id}/role",
                           data={"role": "viewer"})
    assert response.status_code == 409
    assert last_event("member.role_changed") is None


# --- who may read it ---------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_can_read_the_audit_log(client, workspace, role):
    login(client, member(role, workspace))
    add_event(workspace, "evt-1")
    response = client.get(f"/w/{workspace.slug}/audit/")
    assert response.status_code == 200
    assert listed_object_ids(response.get_data(as_text=True)) == ["evt-1"]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_read_the_audit_log(client, workspace, role):
    login(client, member(role, workspace))
    add_event(workspace, "evt-1")
    response = client.get(f"/w/{workspace.slug}/audit/")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Only owners and admins of this workspace can do this." in html
    assert "evt-1" not in html


def test_audit_log_shows_only_this_workspaces_events(client, workspace, owner):
    add_event(workspace, "ours")
    add_event(WorkspaceFactory(), "theirs")
    html = client.get(f"/w/{workspace.slug}/audit/").get_data(as_text=True)
    assert listed_object_ids(html) == ["ours"]


def test_audit_log_shows_before_and_after_and_the_ip(client, workspace, owner):
    colleague = member(Role.MEMBER, workspace)
    client.post(f"/w/{workspace.slug}/members/{colleague.membership_in(workspace.id).id}/role",
                data={"role": "admin"})
    html = client.get(f"/w/{workspace.slug}/audit/").get_data(as_text=True)
    assert "<del>user: " in html and "role: member</del>" in html
    assert "role: admin</ins>" in html
    assert f'<td class="mono">{TEST_CLIENT_IP}</td>' in html


# --- filters -----------------------------------------------------------------------------

@pytest.fixture
def mixed_events(workspace):
    day = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    add_event(workspace, "a1", actor="Alice@Example.com", action="member.added",
              object_type="membership", at=day)
    add_event(workspace, "b1", actor="bob@example.com", action="member.removed",
              object_type="membership", at=day + timedelta(days=1))
    add_event(workspace, "b2", actor="bob@example.com", action="workspace.renamed",
              object_type="workspace", at=day + timedelta(days=2))


@pytest.mark.parametrize("query, expected", [
    ("actor=alice", ["a1"]),
    ("actor=BOB%40EXAMPLE", ["b2", "b1"]),
    ("action=member.removed", ["b1"]),
    ("action=member.", ["b1", "a1"]),
    ("object_type=membership", ["b1", "a1"]),
    ("object_id=b2", ["b2"]),
    ("from=2026-03-02", ["b2", "b1"]),
    ("to=2026-03-02", ["b1", "a1"]),
    ("from=2026-03-02&to=2026-03-02", ["b1"]),
    ("actor=bob&object_type=membership", ["b1"]),
    ("actor=nobody", []),
])
def test_filters_narrow_the_audit_log(client, workspace, owner, mixed_events, query, expected):
    response = client.get(f"/w/{workspace.slug}/audit/?{query}")
    assert response.status_code == 200
    assert listed_object_ids(response.get_data(as_text=True)) == expected


@pytest.mark.parametrize("param", ["from", "to"])
def test_a_date_that_is_not_a_date_is_a_422_that_says_so(client, workspace, owner, mixed_events,
                                                         param):
    response = client.get(f"/w/{workspace.slug}/audit/?{param}=2026-13-01")
    assert response.status_code == 422
    assert "“2026-13-01” is not a date; use YYYY-MM-DD." in response.get_data(as_text=True)


def test_filters_are_kept_in_the_pagination_links(client, workspace, owner):
    for i in range(51):
        add_event(workspace, f"evt-{i}", actor="alice@example.com")
    html = client.get(f"/w/{workspace.slug}/audit/?actor=alice").get_data(as_text=True)
    assert f"/w/{workspace.slug}/audit/?page=2&amp;actor=alice" in html


# --- pagination --------------------------------------------------------------------------

@pytest.fixture
def many_events(workspace):
    start = utcnow() - timedelta(hours=1)
    for i in range(120):
        audit.append("domain.created", "domain", f"{i:03d}", workspace_id=workspace.id,
                     actor_id=None, actor_label="alice@example.com").created_at = (
            start + timedelta(seconds=i))
    db.session.flush()


@pytest.mark.parametrize("page, first, size", [(1, 119, 50), (2, 69, 50), (3, 19, 20)])
def test_audit_log_pages_by_fifty_newest_first(client, workspace, owner, many_events,
                                               page, first, size):
    response = client.get(f"/w/{workspace.slug}/audit/?page={page}")
    html = response.get_data(as_text=True)
    assert listed_object_ids(html) == [f"{i:03d}" for i in range(first, first - size, -1)]
    assert f"Page {page} of 3" in html
    assert "120 events" in html


@pytest.mark.parametrize("page", ["0", "-1", "abc", "4", "99999999999999999999999"])
def test_out_of_range_page_numbers_never_fail(client, workspace, owner, many_events, page):
    response = client.get(f"/w/{workspace.slug}/audit/?page={page}")
    assert response.status_code == 200
    assert len(listed_object_ids(response.get_data(as_text=True))) in (50, 20)


def test_events_at_the_same_instant_are_newest_id_first(ctx, workspace):
    owner = member(Role.OWNER, workspace)
    same_instant = utcnow()
    for i in range(3):
        add_event(workspace, f"evt-{i}", at=same_instant)
    page = audit.list_events(Actor(owner, workspace, Role.OWNER), audit.AuditFilters())
    assert [e.object_id for e in page.items] == ["evt-2", "evt-1", "evt-0"]


# --- HTMX --------------------------------------------------------------------------------

def test_filtering_through_htmx_returns_only_the_events_fragment(client, workspace, owner,
                                                                 mixed_events):
    response = client.get(f"/w/{workspace.slug}/audit/?actor=alice", headers=FRAGMENT)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="audit-events">')
    assert "<html" not in html and "<form" not in html
    assert listed_object_ids(html) == ["a1"]
    assert "HX-Target" in response.headers["Vary"]


def test_bad_date_through_htmx_shows_the_error_inside_the_fragment(client, workspace, owner):
    response = client.get(f"/w/{workspace.slug}/audit/?from=yesterday", headers=FRAGMENT)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<div id="audit-events">')
    assert "is not a date" in html


def test_boosted_navigation_to_the_audit_log_gets_the_full_page(client, workspace, owner):
    response = client.get(f"/w/{workspace.slug}/audit/", headers={**FRAGMENT, "HX-Boosted": "true"})
    assert response.get_data(as_text=True).lstrip().startswith("<!doctype html>")


# --- append-only -------------------------------------------------------------------------

def test_updating_an_audit_event_through_the_orm_is_refused(ctx, workspace):
    entry = add_event(workspace, "evt-1")
    entry.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()


def test_deleting_an_audit_event_through_the_orm_is_refused(ctx, workspace):
    entry = add_event(workspace, "evt-1")
    db.session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()


# The database's own guard: PostgreSQL's trigger RAISEs (psycopg reports it as a
# ProgrammingError), SQLite's RAISE(ABORT) is reported as an IntegrityError.
REFUSAL = {"postgresql": ProgrammingError, "sqlite": IntegrityError}


@pytest.mark.parametrize("statement", [
    text("UPDATE audit_events SET action = 'tampered'"),
    text("DELETE FROM audit_events"),
    update(AuditEvent).values(actor_label="someone else"),
], ids=["sql-update", "sql-delete", "orm-bulk-update"])
def test_database_refuses_to_rewrite_audit_events(ctx, workspace, statement):
    entry = add_event(workspace, "evt-1")
    with pytest.raises(DBAPIError, match="audit_events is append-only") as refused:
        # A savepoint, so the failed statement does not poison the test's transaction.
        with db.session.begin_nested():
            db.session.execute(statement)
    assert isinstance(refused.value, REFUSAL[db.engine.dialect.name])
    assert db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_label).where(AuditEvent.id == entry.id)
    ).one() == ("domain.created", "alice@example.com")
