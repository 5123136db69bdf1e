"""Workspaces: creating and renaming them, members, invitations and roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import User
from app.core.clock import utcnow
from app.extensions import db
from app.monitoring.models import AlertChannel, ChannelKind
from app.tracking.models import TrackingHost
from app.uow import commit, rollback
from app.workspaces import service
from app.workspaces.actor import Actor
from app.workspaces.models import Invitation, Membership, Workspace
from app.workspaces.roles import Role
from tests.factories import (PASSWORD, EmailAccountFactory, InvitationFactory, WorkspaceFactory,
                             member)
from tests.helpers import login, workspace_rows

FRAGMENT = {"HX-Request": "true", "HX-Target": "members"}
ADMINS_ONLY = "Only owners and admins of this workspace can do this."
OWNERS_ONLY = "Only an owner can change or remove another owner."


@pytest.fixture
def workspace() -> Workspace:
    return WorkspaceFactory()


def signed_in(client, role: Role, workspace: Workspace) -> User:
    user = member(role, workspace)
    login(client, user)
    return user


def membership_of(user: User, workspace: Workspace) -> Membership | None:
    db.session.expire_all()
    return user.membership_in(workspace.id)


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def mail_jobs(redis_client) -> list:
    return Queue("mail", connection=redis_client).jobs


def invitation_link(invitation: Invitation) -> str:
    return f"/invitations/{service.invitation_token(invitation)}"


def post_role(client, workspace: Workspace, user: User, role: str, **kwargs):
    membership = membership_of(user, workspace)
    return client.post(f"/w/{workspace.slug}/members/{membership.id}/role", data={"role": role},
                       **kwargs)


def post_remove(client, workspace: Workspace, user: User):
    return client.post(f"/w/{workspace.slug}/members/{membership_of(user, workspace).id}/remove")


# --- creating a workspace ----------------------------------------------------------------

def test_new_workspace_gets_a_slug_derived_from_its_name(client):
    user = member()
    login(client, user)
    response = client.post("/workspaces/new", data={"name": "Acme Mail Ops!"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/w/acme-mail-ops/"
    workspace = Workspace.by_slug("acme-mail-ops")
    assert workspace.name == "Acme Mail Ops!"
    assert membership_of(user, workspace).role == Role.OWNER


def test_derived_slug_that_is_taken_gets_a_number(client):
    WorkspaceFactory(slug="acme")
    login(client, member())
    response = client.post("/workspaces/new", data={"name": "ACME"})
    assert response.headers["Location"] == "/w/acme-2/"


def test_derived_slug_never_lands_on_a_reserved_word(client):
    login(client, member())
    response = client.post("/workspaces/new", data={"name": "Admin"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/w/admin-2/"


def test_explicit_slug_is_used_lower_cased(client):
    login(client, member())
    response = client.post("/workspaces/new", data={"name": "Acme", "slug": "Acme-EU"})
    assert response.headers["Location"] == "/w/acme-eu/"


@pytest.mark.parametrize("slug, status, message", [
    ("not a slug!", 422, "Use 1-63 lower-case letters, digits and hyphens"),
    ("-leading-hyphen", 422, "Use 1-63 lower-case letters, digits and hyphens"),
    ("x" * 64, 422, "Field cannot be longer than 63 characters"),
    ("admin", 422, "is reserved; choose another"),
    ("api", 422, "is reserved; choose another"),
    ("taken", 409, "Already taken"),
])
def test_bad_explicit_slug_is_refused_and_nothing_is_stored(client, slug, status, message):
    WorkspaceFactory(slug="taken")
    login(client, member())
    workspaces_before, events_before = count(Workspace), count(AuditEvent)
    response = client.post("/workspaces/new", data={"name": "Acme", "slug": slug})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert count(Workspace) == workspaces_before
    assert count(AuditEvent) == events_before


def test_creating_a_workspace_without_a_name_is_a_field_error(client):
    login(client, member())
    response = client.post("/workspaces/new", data={"name": "  "})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)


# --- renaming ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owner_and_admin_can_rename(client, workspace, role):
    signed_in(client, role, workspace)
    response = client.post(f"/w/{workspace.slug}/settings", data={"name": "Renamed"})
    assert response.status_code == 302
    db.session.refresh(workspace)
    assert workspace.name == "Renamed"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_rename(client, workspace, role):
    name = workspace.name
    signed_in(client, role, workspace)
    response = client.post(f"/w/{workspace.slug}/settings", data={"name": "Renamed"})
    assert response.status_code == 403
    assert ADMINS_ONLY in response.get_data(as_text=True)
    db.session.refresh(workspace)
    assert workspace.name == name


# --- members page: one URL, two renderings -----------------------------------------------

def test_members_page_is_a_full_page(client, workspace):
    signed_in(client, Role.VIEWER, workspace)
    response = client.get(f"/w/{workspace.slug}/members")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith("<!doctype html>")
    assert '<div id="members">' in html


def test_members_page_targeted_by_htmx_is_only_the_fragment(client, workspace):
    signed_in(client, Role.VIEWER, workspace)
    response = client.get(f"/w/{workspace.slug}/members", headers=FRAGMENT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="members">')
    assert "<html" not in html


def test_boosted_navigation_gets_the_full_members_page(client, workspace):
    signed_in(client, Role.VIEWER, workspace)
    response = client.get(f"/w/{workspace.slug}/members",
                          headers={**FRAGMENT, "HX-Boosted": "true"})
    assert response.get_data(as_text=True).lstrip().startswith("<!doctype html>")


def test_members_page_varies_on_the_htmx_target(client, workspace):
    signed_in(client, Role.VIEWER, workspace)
    response = client.get(f"/w/{workspace.slug}/members")
    assert "HX-Target" in response.headers["Vary"]


def test_members_page_lists_everyone_in_the_workspace_only(client, workspace):
    colleague = member(Role.MEMBER, workspace)
    stranger = member(Role.OWNER)
    signed_in(client, Role.VIEWER, workspace)
    html = client.get(f"/w/{workspace.slug}/members").get_data(as_text=True)
    assert colleague.email in html
    assert stranger.email not in html


# --- invitations -------------------------------------------------------------------------

def test_invite_creates_a_pending_invitation_an_audit_entry_and_one_mail_job(
        client, workspace, redis_client):
    admin = signed_in(client, Role.ADMIN, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "New.Person@Example.com", "role": "member"})
    assert response.status_code == 302
    invitation = db.session.scalar(select(Invitation).where(Invitation.workspace_id == workspace.id))
    assert invitation.email == "new.person@example.com"
    assert invitation.role == Role.MEMBER
    assert invitation.state == "pending"
    assert invitation.invited_by_id == admin.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.created"))
    assert event.object_id == str(invitation.id)
    jobs = mail_jobs(redis_client)
    assert len(jobs) == 1
    assert jobs[0].func_name == "app.workspaces.tasks.send_invitation_email"
    assert jobs[0].args == (invitation.id,)


def test_invite_through_htmx_answers_with_the_members_fragment(client, workspace):
    signed_in(client, Role.OWNER, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "new@example.com", "role": "viewer"}, headers=FRAGMENT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="members">')
    assert "Invitation sent to new@example.com." in html


def test_invitation_email_is_enqueued_only_after_commit(ctx, workspace, redis_client):
    owner = member(Role.OWNER, workspace)
    service.invite(Actor(owner, workspace, Role.OWNER), "new@example.com", Role.MEMBER)
    assert mail_jobs(redis_client) == []
    commit()
    assert len(mail_jobs(redis_client)) == 1


def test_rolled_back_invitation_sends_no_email(ctx, workspace, redis_client):
    owner = member(Role.OWNER, workspace)
    service.invite(Actor(owner, workspace, Role.OWNER), "new@example.com", Role.MEMBER)
    rollback()
    commit()
    assert mail_jobs(redis_client) == []


def test_second_invite_to_the_same_email_is_a_conflict(client, workspace, redis_client):
    signed_in(client, Role.OWNER, workspace)
    InvitationFactory(workspace=workspace, email="again@example.com")
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "again@example.com", "role": "member"})
    assert response.status_code == 409
    assert "Already invited." in response.get_data(as_text=True)
    assert count(Invitation, Invitation.workspace_id == workspace.id) == 1
    assert mail_jobs(redis_client) == []


def test_inviting_someone_who_is_already_a_member_is_a_conflict(client, workspace, redis_client):
    colleague = member(Role.VIEWER, workspace)
    signed_in(client, Role.OWNER, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": colleague.email.upper(), "role": "member"})
    assert response.status_code == 409
    assert "Already a member." in response.get_data(as_text=True)
    assert count(Invitation) == 0
    assert mail_jobs(redis_client) == []


def test_an_expired_or_revoked_invitation_does_not_block_a_new_one(client, workspace):
    signed_in(client, Role.OWNER, workspace)
    InvitationFactory(workspace=workspace, email="back@example.com",
                      expires_at=utcnow() - timedelta(minutes=1))
    InvitationFactory(workspace=workspace, email="back@example.com", revoked_at=utcnow())
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "back@example.com", "role": "member"})
    assert response.status_code == 302


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_invite(client, workspace, role, redis_client):
    signed_in(client, role, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "new@example.com", "role": "viewer"})
    assert response.status_code == 403
    assert ADMINS_ONLY in response.get_data(as_text=True)
    assert count(Invitation) == 0
    assert mail_jobs(redis_client) == []


def test_admin_cannot_invite_an_owner(client, workspace, redis_client):
    signed_in(client, Role.ADMIN, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 403
    assert "Your role cannot invite someone as owner." in response.get_data(as_text=True)
    assert count(Invitation) == 0
    assert mail_jobs(redis_client) == []


def test_owner_can_invite_an_owner(client, workspace):
    signed_in(client, Role.OWNER, workspace)
    response = client.post(f"/w/{workspace.slug}/members/invite",
                           data={"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 302
    assert db.session.scalar(select(Invitation.role)) == Role.OWNER


@pytest.mark.parametrize("role, closed, status, state, message", [
    (Role.ADMIN, {}, 302, "revoked", None),
    (Role.ADMIN, {"revoked_at": utcnow()}, 409, "revoked", "This invitation is already revoked."),
    (Role.MEMBER, {}, 403, "pending", ADMINS_ONLY),
])
def test_revoking_an_invitation(client, workspace, role, closed, status, state, message):
    invitation = InvitationFactory(workspace=workspace, **closed)
    signed_in(client, role, workspace)
    response = client.post(f"/w/{workspace.slug}/invitations/{invitation.id}/revoke")
    assert response.status_code == status
    if message:
        assert message in response.get_data(as_text=True)
    db.session.refresh(invitation)
    assert invitation.state == state


# --- accepting an invitation -------------------------------------------------------------

def test_invitation_link_shows_the_sign_up_form(client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    response = client.get(invitation_link(invitation))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Join {workspace.name}" in html
    assert "Create account and join" in html


def test_signing_up_through_an_invitation_creates_account_membership_and_session(
        client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com", role=Role.ADMIN)
    response = client.post(invitation_link(invitation), data={
        "name": "New Person", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/w/{workspace.slug}/"
    user = User.by_email("invitee@example.com")
    assert user.name == "New Person"
    assert membership_of(user, workspace).role == Role.ADMIN
    db.session.refresh(invitation)
    assert invitation.state == "accepted"
    assert client.get(f"/w/{workspace.slug}/").status_code == 200


def test_sign_up_without_a_password_is_a_field_error(client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    response = client.post(invitation_link(invitation), data={"name": "New Person"})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)
    assert User.by_email("invitee@example.com") is None


def test_sign_up_with_a_short_password_is_refused(client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    response = client.post(invitation_link(invitation), data={
        "name": "New Person", "password": "short", "confirm": "short"})
    assert response.status_code == 422
    assert "Field must be between 10 and 1024 characters long." in response.get_data(as_text=True)
    assert User.by_email("invitee@example.com") is None


def test_tampered_invitation_link_is_not_found(client, workspace):
    link = invitation_link(InvitationFactory(workspace=workspace, email="invitee@example.com"))
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    for tampered in (forged, "/invitations/nonsense"):
        response = client.get(tampered)
        assert response.status_code == 404
        assert "This invitation link is not valid." in response.get_data(as_text=True)


def test_link_of_another_invitation_with_a_changed_email_is_not_found(client, workspace, app):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    link = invitation_link(invitation)
    invitation.email = "someone-else@example.com"
    db.session.flush()
    response = client.get(link)
    assert response.status_code == 404
    assert "This invitation link is not valid." in response.get_data(as_text=True)


@pytest.mark.parametrize("state, fields", [
    ("expired", {"expires_at": utcnow() - timedelta(seconds=1)}),
    ("revoked", {"revoked_at": utcnow()}),
    ("accepted", {"accepted_at": utcnow()}),
])
def test_closed_invitation_link_says_why_it_cannot_be_used(client, workspace, state, fields):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    for name, value in fields.items():
        setattr(invitation, name, value)
    db.session.flush()
    for method in (client.get, client.post):
        response = method(invitation_link(invitation),
                          data={"name": "X", "password": PASSWORD, "confirm": PASSWORD})
        assert response.status_code == 404
        assert (f"This invitation is {state}. Ask for a new invitation."
                in response.get_data(as_text=True))
    assert User.by_email("invitee@example.com") is None


def test_existing_user_must_sign_in_before_accepting(client, workspace):
    existing = member(Role.OWNER, email="invitee@example.com")
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    link = invitation_link(invitation)
    page = client.get(link)
    assert "You already have an account." in page.get_data(as_text=True)
    response = client.post(link, data={"name": "X", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert membership_of(existing, workspace) is None


def test_signed_in_invitee_accepts_with_one_click(client, workspace):
    invitee = member(Role.OWNER, email="invitee@example.com")
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com",
                                   role=Role.VIEWER)
    login(client, invitee)
    response = client.post(invitation_link(invitation))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/w/{workspace.slug}/"
    assert membership_of(invitee, workspace).role == Role.VIEWER


def test_signed_in_wrong_user_cannot_accept(client, workspace):
    invitation = InvitationFactory(workspace=workspace, email="invitee@example.com")
    intruder = member(Role.OWNER)
    login(client, intruder)
    response = client.post(invitation_link(invitation))
    assert response.status_code == 403
    assert (f"This invitation is for invitee@example.com; you are signed in as {intruder.email}."
            in response.get_data(as_text=True))
    assert membership_of(intruder, workspace) is None
    db.session.refresh(invitation)
    assert invitation.state == "pending"


# --- roles and removal -------------------------------------------------------------------

def test_owner_can_change_a_role(client, workspace):
    colleague = member(Role.MEMBER, workspace)
    signed_in(client, Role.OWNER, workspace)
    assert post_role(client, workspace, colleague, "admin").status_code == 302
    assert membership_of(colleague, workspace).role == Role.ADMIN


def test_owner_can_make_another_owner_and_then_step_down(client, workspace):
    colleague = member(Role.ADMIN, workspace)
    owner = signed_in(client, Role.OWNER, workspace)
    assert post_role(client, workspace, colleague, "owner").status_code == 302
    assert post_role(client, workspace, owner, "admin").status_code == 302
    assert membership_of(colleague, workspace).role == Role.OWNER
    assert membership_of(owner, workspace).role == Role.ADMIN


def test_role_change_through_htmx_answers_with_the_members_fragment(client, workspace):
    colleague = member(Role.MEMBER, workspace)
    signed_in(client, Role.OWNER, workspace)
    response = post_role(client, workspace, colleague, "viewer", headers=FRAGMENT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="members">')
    assert f"{colleague.email} is now viewer." in html


@pytest.mark.parametrize("actor, target, new_role, message", [
    (Role.ADMIN, Role.OWNER, "viewer", OWNERS_ONLY),
    (Role.ADMIN, Role.MEMBER, "owner", "Your role cannot grant the owner role."),
    (Role.MEMBER, Role.VIEWER, "member", ADMINS_ONLY),
    (Role.MEMBER, Role.MEMBER, "admin", ADMINS_ONLY),
])
def test_refused_role_change_says_why_and_changes_nothing(client, workspace, actor, target,
                                                          new_role, message):
    colleague = member(target, workspace)
    member(Role.OWNER, workspace)
    signed_in(client, actor, workspace)
    response = post_role(client, workspace, colleague, new_role)
    assert response.status_code == 403
    assert message in response.get_data(as_text=True)
    assert membership_of(colleague, workspace).role == target


@pytest.mark.parametrize("actor, target, message", [
    (Role.ADMIN, Role.OWNER, OWNERS_ONLY),
    (Role.MEMBER, Role.VIEWER, ADMINS_ONLY),
])
def test_refused_removal_says_why_and_removes_nobody(client, workspace, actor, target, message):
    colleague = member(target, workspace)
    member(Role.OWNER, workspace)
    signed_in(client, actor, workspace)
    response = post_remove(client, workspace, colleague)
    assert response.status_code == 403
    assert message in response.get_data(as_text=True)
    assert membership_of(colleague, workspace) is not None


def test_last_owner_cannot_be_demoted(client, workspace):
    owner = signed_in(client, Role.OWNER, workspace)
    response = post_role(client, workspace, owner, "admin", headers=FRAGMENT)
    assert response.status_code == 409
    assert "at least one owner" in response.get_data(as_text=True)
    assert membership_of(owner, workspace).role == Role.OWNER


def test_last_owner_cannot_leave(client, workspace):
    owner = signed_in(client, Role.OWNER, workspace)
    response = post_remove(client, workspace, owner)
    assert response.status_code == 409
    assert "at least one owner" in response.get_data(as_text=True)
    assert membership_of(owner, workspace) is not None


def test_admin_can_remove_a_member(client, workspace):
    colleague = member(Role.MEMBER, workspace)
    signed_in(client, Role.ADMIN, workspace)
    assert post_remove(client, workspace, colleague).status_code == 302
    assert membership_of(colleague, workspace) is None
    assert db.session.get(User, colleague.id) is not None


def test_member_can_leave_a_workspace(client, workspace):
    member(Role.OWNER, workspace)
    leaver = signed_in(client, Role.MEMBER, workspace)
    response = post_remove(client, workspace, leaver)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert membership_of(leaver, workspace) is None
    assert client.get(f"/w/{workspace.slug}/").status_code == 404


# --- viewers look but never change -------------------------------------------------------

# A viewer's own API tokens are theirs to manage: a token acts with its user's role, so a
# viewer's token can only read (test_viewer_may_create_a_token_that_can_only_read).
VIEWERS_OWN_BUSINESS = {"tokens.create", "tokens.revoke"}
# Judges only the posted text and stores nothing (see test_viewers_may_use_the_box).
CHANGES_NOTHING = {"monitoring.validate"}


def test_viewer_gets_403_from_every_change_and_nothing_changes(client, app, workspace, redis_client):
    owner = member(Role.OWNER, workspace)
    invitation = InvitationFactory(workspace=workspace)
    viewer = signed_in(client, Role.VIEWER, workspace)
    account = EmailAccountFactory(domain__workspace=workspace)
    channel = AlertChannel(workspace_id=workspace.id, kind=ChannelKind.WEBHOOK, name="Hook",
                           target="https://hooks.example.com/in")
    host = TrackingHost(workspace_id=workspace.id, domain_id=account.domain_id,
                        hostname=f"track.{account.domain.fqdn}")
    db.session.add_all([channel, host])
    db.session.flush()
    ids = {"membership_id": membership_of(owner, workspace).id, "invitation_id": invitation.id,
           "domain_id": account.domain_id, "account_id": account.id, "channel_id": channel.id,
           "tracking_host_id": host.id}
    rules = [rule for rule in app.url_map.iter_rules()
             if "slug" in rule.arguments and "POST" in rule.methods
             and rule.endpoint not in VIEWERS_OWN_BUSINESS | CHANGES_NOTHING]
    assert {rule.endpoint for rule in rules} >= {
        "workspace.invite", "workspace.change_role", "workspace.remove_member",
        "workspace.revoke_invitation", "workspace.settings"}
    before = workspace_rows(workspace)
    for rule in rules:
        url = rule.build({"slug": workspace.slug, **ids}, append_unknown=False)[1]
        response = client.post(url, data={"name": "Hijacked", "email": "x@example.com",
                                          "role": "owner"})
        assert response.status_code == 403, (rule.endpoint, response.status_code)
    assert workspace_rows(workspace) == before
    assert membership_of(viewer, workspace).role == Role.VIEWER
    assert mail_jobs(redis_client) == []


def test_viewer_may_create_a_token_that_can_only_read(client, workspace):
    viewer = signed_in(client, Role.VIEWER, workspace)
    response = client.post(f"/w/{workspace.slug}/settings/tokens/", data={"name": "Dashboard"})
    assert response.status_code == 201
    secret = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True))[1]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert (me["email"], me["workspace"]["role"]) == (viewer.email, "viewer")
