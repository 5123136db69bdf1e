"""The JSON API: bearer tokens only, one error shape, an OpenAPI document from the code."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from app.auth.models import ApiToken
from app.core.clock import utcnow
from app.extensions import db
from app.workspaces import service as workspaces
from app.workspaces.actor import Actor
from app.workspaces.roles import Role
from tests.factories import MembershipFactory, WorkspaceFactory, api_token, member
from tests.helpers import login

SECRET = "pmd_api-test-secret-0123456789"


def bearer(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def assert_unauthorized(response, code: str = "unauthorized") -> None:
    assert_error(response, 401, code)
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.fixture
def owner():
    return member(Role.OWNER, name="Olive Owner", email="olive@example.com")


@pytest.fixture
def workspace(owner):
    return owner.memberships[0].workspace


@pytest.fixture
def token(owner, workspace) -> ApiToken:
    api_token(owner, workspace, SECRET)
    return db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))


def test_me_describes_the_tokens_user_workspace_and_token(client, owner, workspace, token):
    response = client.get("/api/v1/me", headers=bearer())
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == owner.id
    assert body["email"] == "olive@example.com"
    assert body["name"] == "Olive Owner"
    assert body["is_platform_admin"] is False
    assert body["workspace"] == {
        "id": workspace.id, "slug": workspace.slug, "name": workspace.name, "role": "owner",
        "current": True, "created_at": workspace.created_at.isoformat()}
    assert body["token"]["id"] == token.id
    assert body["token"]["name"] == "test"
    assert body["token"]["hint"] == SECRET[-4:]


def test_workspaces_lists_every_membership_with_its_role(client, owner, workspace, token):
    other = WorkspaceFactory(name="Zeta Corp")
    MembershipFactory(user=owner, workspace=other, role=Role.VIEWER)
    WorkspaceFactory(name="Not mine")
    response = client.get("/api/v1/workspaces", headers=bearer())
    assert response.status_code == 200
    listed = {ws["slug"]: (ws["role"], ws["current"]) for ws in response.get_json()}
    assert listed == {workspace.slug: ("owner", True), other.slug: ("viewer", False)}


def test_a_request_without_a_token_is_unauthorized(client):
    assert_unauthorized(client.get("/api/v1/me"))


@pytest.mark.parametrize("header", [f"Basic {SECRET}", SECRET, "Bearer", "Bearer   "])
def test_a_header_in_another_scheme_is_unauthorized(client, token, header):
    assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": header}))


def test_the_scheme_name_is_case_insensitive(client, token):
    response = client.get("/api/v1/me", headers={"Authorization": f"bearer {SECRET}"})
    assert response.status_code == 200


def test_an_unknown_token_is_unauthorized(client, token):
    assert_unauthorized(client.get("/api/v1/me", headers=bearer("pmd_unknown")), "invalid_token")


def test_a_revoked_token_is_unauthorized(client, token):
    token.revoked_at = utcnow()
    db.session.flush()
    assert_unauthorized(client.get("/api/v1/workspaces", headers=bearer()), "invalid_token")


def test_a_disabled_users_token_is_unauthorized(client, owner, token):
    owner.is_disabled = True
    db.session.flush()
    assert_unauthorized(client.get("/api/v1/me", headers=bearer()), "invalid_token")


def test_a_token_stops_working_when_its_user_leaves_the_workspace(client, owner, workspace):
    leaver = member(Role.MEMBER, workspace=workspace)
    secret = api_token(leaver, workspace, "pmd_leaver-secret")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    workspaces.remove_member(Actor(user=owner, workspace=workspace, role=Role.OWNER),
                             leaver.membership_in(workspace.id).id)
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert_unauthorized(response, "invalid_token")
    assert "no longer belongs" in response.get_json()["error"]["message"]


def test_a_token_acts_in_its_own_workspace_only(client, owner, token):
    other = WorkspaceFactory()
    MembershipFactory(user=owner, workspace=other, role=Role.VIEWER)
    body = client.get("/api/v1/me", headers=bearer()).get_json()
    assert body["workspace"]["role"] == "owner" and body["workspace"]["id"] != other.id


def test_using_a_token_records_when_it_was_last_used(client, token):
    assert token.last_used_at is None
    before = utcnow()
    client.get("/api/v1/me", headers=bearer())
    db.session.expire_all()
    used = db.session.get(ApiToken, token.id).last_used_at
    assert used is not None and used >= before.replace(microsecond=0)


def test_unknown_api_paths_get_a_json_404(client, token):
    assert_error(client.get("/api/v1/nothing-here", headers=bearer()), 404, "not_found")
    assert_error(client.get("/api/v2/me"), 404, "not_found")


def test_a_wrong_method_gets_a_json_405(client, token):
    response = client.post("/api/v1/me", headers=bearer(), json={})
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_the_openapi_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/me", "/api/v1/workspaces"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "An API token."}
    assert spec["security"] == [{"bearerAuth": []}]


def test_the_openapi_document_needs_no_token(client):
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_docs_page_lists_every_endpoint(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "PenguinMails Domains API" in page
    for path in ("/api/v1/me", "/api/v1/workspaces"):
        assert f"<code>{path}</code>" in page
    assert "Authorization: Bearer" in page


def test_responses_never_contain_a_token_secret_or_its_digest(client, token):
    token_hash = token.token_hash
    responses = [
        client.get("/api/v1/me", headers=bearer()),
        client.get("/api/v1/workspaces", headers=bearer()),
        client.get("/api/v1/me", headers=bearer("pmd_wrong-secret")),
        client.get("/api/v1/openapi.json"),
        client.get("/api/v1/docs"),
    ]
    for response in responses:
        text = response.get_data(as_text=True)
        assert SECRET not in text and "pmd_wrong-secret" not in text
        assert token_hash not in text and "token_hash" not in text


def test_an_api_token_never_signs_in_to_the_web_ui(client, token, workspace):
    home = client.get("/", headers=bearer())
    assert home.status_code == 302 and home.headers["Location"].startswith("/login")
    overview = client.get(f"/w/{workspace.slug}/", headers=bearer())
    assert overview.status_code == 302 and overview.headers["Location"].startswith("/login")


def test_a_session_cookie_never_authenticates_the_api(client, owner, token):
    login(client, owner)
    assert client.get("/").headers["Location"].startswith("/w/")  # signed in to the web UI
    assert_unauthorized(client.get("/api/v1/me"))
    assert_unauthorized(client.get("/api/v1/workspaces"))
