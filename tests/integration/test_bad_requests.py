"""Requests a user (or a script) gets wrong get a 4xx that says what is wrong, never a 500."""

from __future__ import annotations

import pytest

from app.workspaces.models import Workspace
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory, member
from tests.helpers import login

REQUIRED = "This field is required."


@pytest.fixture
def workspace() -> Workspace:
    return WorkspaceFactory()


@pytest.fixture
def owner(client, workspace):
    user = member(Role.OWNER, workspace)
    login(client, user)
    return user


# --- missing or malformed form fields: 422 with the problem next to the field ------------

@pytest.mark.parametrize("path, data, message", [
    ("/workspaces/new", {}, REQUIRED),
    ("/workspaces/new", {"name": "x" * 201}, "Field cannot be longer than 200 characters."),
    ("/w/{slug}/settings", {}, REQUIRED),
    ("/w/{slug}/settings", {"name": "   "}, REQUIRED),
    ("/w/{slug}/members/invite", {"role": "member"}, REQUIRED),
    ("/w/{slug}/members/invite", {"email": "not-an-email", "role": "member"},
     "Invalid email address."),
    ("/w/{slug}/members/invite", {"email": "ok@example.com", "role": "superuser"},
     "Not a valid choice."),
    ("/w/{slug}/settings/tokens/", {}, REQUIRED),
    ("/account", {}, REQUIRED),
])
def test_missing_or_bad_fields_are_a_422_with_a_field_error(client, workspace, owner, path, data,
                                                            message):
    response = client.post(path.format(slug=workspace.slug), data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<div class="error">{message}</div>' in html


def test_role_change_without_a_role_is_a_422_that_says_so(client, workspace, owner):
    colleague = member(Role.MEMBER, workspace)
    response = client.post(
        f"/w/{workspace.slug}/members/{colleague.membership_in(workspace.id).id}/role", data={})
    assert response.status_code == 422
    assert "Choose one of the listed roles." in response.get_data(as_text=True)


def test_invite_fragment_shows_the_field_error_in_place(client, workspace, owner):
    response = client.post(f"/w/{workspace.slug}/members/invite", data={"role": "member"},
                           headers={"HX-Request": "true", "HX-Target": "members"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<div id="members">')
    assert f'<div class="error">{REQUIRED}</div>' in html


def test_login_without_fields_is_a_422(client):
    response = client.post("/login", data={})
    assert response.status_code == 422
    assert f'<div class="error">{REQUIRED}</div>' in response.get_data(as_text=True)


def test_entered_values_survive_a_refused_form(client, workspace, owner):
    response = client.post("/workspaces/new", data={"name": "Keep me", "slug": "admin"})
    assert response.status_code == 422
    assert 'value="Keep me"' in response.get_data(as_text=True)


# --- unknown things: 404 -----------------------------------------------------------------

@pytest.mark.parametrize("object_id", ["999999", "2147483648", "99999999999999999999"])
@pytest.mark.parametrize("path, message", [
    ("/w/{slug}/members/{id}/role", "No such member in this workspace."),
    ("/w/{slug}/members/{id}/remove", "No such member in this workspace."),
    ("/w/{slug}/invitations/{id}/revoke", "No such invitation in this workspace."),
    ("/w/{slug}/settings/tokens/{id}/revoke", "No such API token in this workspace."),
])
def test_unknown_ids_are_404(client, workspace, owner, path, message, object_id):
    response = client.post(path.format(slug=workspace.slug, id=object_id), data={"role": "viewer"})
    assert response.status_code == 404
    if len(object_id) < 10:  # out-of-range ids never reach the view: a plain 404 page
        assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/w/no-such-workspace/",
    "/w/no-such-workspace/members",
    "/w/{slug}/members/abc/role",
    "/w/{slug}/members/-1/role",
    "/w/{slug}/nothing-here",
    "/no-such-page",
])
def test_unknown_pages_are_a_404_page(client, workspace, owner, path):
    response = client.post(path.format(slug=workspace.slug)) if "/role" in path else client.get(
        path.format(slug=workspace.slug))
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


# --- wrong role: 403 with the reason -----------------------------------------------------

@pytest.mark.parametrize("role, path, data", [
    (Role.MEMBER, "/w/{slug}/settings", {"name": "New"}),
    (Role.MEMBER, "/w/{slug}/members/invite", {"email": "x@example.com", "role": "viewer"}),
    (Role.MEMBER, "/w/{slug}/audit/", None),
    (Role.VIEWER, "/w/{slug}/members/{owner_membership}/role", {"role": "viewer"}),
    (Role.ADMIN, "/w/{slug}/members/{owner_membership}/remove", {}),
])
def test_wrong_role_is_a_403_that_says_why(client, workspace, role, path, data):
    owner_membership = member(Role.OWNER, workspace).membership_in(workspace.id).id
    login(client, member(role, workspace))
    url = path.format(slug=workspace.slug, owner_membership=owner_membership)
    response = client.get(url) if data is None else client.post(url, data=data)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Only owners and admins" in html or "Only an owner" in html


# --- wrong method: 405 -------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/logout",
    "/w/{slug}/members/invite",
    "/w/{slug}/members/1/role",
    "/w/{slug}/members/1/remove",
    "/w/{slug}/invitations/1/revoke",
    "/w/{slug}/settings/tokens/1/revoke",
])
def test_get_of_a_post_only_route_is_a_405_page(client, workspace, owner, path):
    response = client.get(path.format(slug=workspace.slug))
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "HTTP 405" in response.get_data(as_text=True)
    assert "POST" in response.headers["Allow"]


def test_post_to_a_read_only_page_is_a_405(client, workspace, owner):
    response = client.post(f"/w/{workspace.slug}/members")
    assert response.status_code == 405


# --- odd query strings -------------------------------------------------------------------

@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01", "from=9999-12-31",
                                   "page=99999999999999999999999", "object_id=" + "9" * 80])
def test_odd_audit_queries_never_fail(client, workspace, owner, query):
    assert client.get(f"/w/{workspace.slug}/audit/?{query}").status_code == 200


@pytest.mark.parametrize("method, path, data", [
    ("GET", "/w/{slug}/audit/?actor=a%00b", None),
    ("GET", "/w/%00/", None),
    ("POST", "/workspaces/new", {"name": "a\x00b"}),
    ("POST", "/login", {"email": "a\x00@example.com", "password": "whatever-123"}),
])
def test_a_nul_character_is_refused_with_a_message(client, workspace, owner, method, path, data):
    response = client.open(path.format(slug=workspace.slug), method=method, data=data)
    assert response.status_code == 400
    assert "contains a NUL character" in response.get_data(as_text=True)
