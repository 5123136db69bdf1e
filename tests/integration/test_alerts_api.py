"""Alert channels over the API: the same services as the pages, the token's workspace only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db, keystore
from app.monitoring import alerts
from app.monitoring.models import Alert, AlertChannel, AlertDelivery
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory, api_token, member
from tests.onboarding import actor_for

PUBLIC_HOOK = "https://93.184.215.14/hooks/in"


@pytest.fixture
def token(owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(owner.user, owner.workspace)}"}


def reader_token(owner, role: Role) -> dict[str, str]:
    user = member(role, owner.workspace)
    return {"Authorization": "Bearer " + api_token(user, owner.workspace,
                                                   secret=f"pmd_{role.value}-token")}


def channel_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AlertChannel))


def test_an_email_channel_is_created_listed_read_switched_and_deleted(client, token):
    created = client.post("/api/v1/alert-channels", headers=token, json={
        "kind": "email", "name": "Ops", "addresses": ["ops@example.com", "Oncall@Example.com"]})
    assert created.status_code == 201
    body = created.get_json()
    assert (body["kind"], body["name"], body["target"], body["enabled"], body["secret"]) == (
        "email", "Ops", "ops@example.com, oncall@example.com", True, None)
    location = created.headers["Location"]
    assert location == f"/api/v1/alert-channels/{body['id']}"

    assert [c["id"] for c in client.get("/api/v1/alert-channels",
                                        headers=token).get_json()] == [body["id"]]
    assert client.get(location, headers=token).get_json()["name"] == "Ops"
    patched = client.patch(location, headers=token, json={"enabled": False})
    assert patched.status_code == 200 and patched.get_json()["enabled"] is False
    assert client.delete(location, headers=token).status_code == 204
    assert client.get(location, headers=token).status_code == 404


def test_a_webhook_secret_is_returned_once(client, token):
    created = client.post("/api/v1/alert-channels", headers=token,
                          json={"kind": "webhook", "url": PUBLIC_HOOK})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["name"] == "Webhook 93.184.215.14"
    channel = db.session.get(AlertChannel, body["id"])
    assert keystore().get(channel.secret_ref).decode() == body["secret"]
    read = client.get(created.headers["Location"], headers=token)
    assert "secret" not in read.get_json() and body["secret"] not in read.get_data(as_text=True)

    regenerated = client.post(f"{created.headers['Location']}/secret", headers=token)
    assert regenerated.status_code == 200
    assert regenerated.get_json()["secret"] not in (None, body["secret"])


@pytest.mark.parametrize("payload, field, code", [
    ({"name": "No kind"}, "kind", "validation_error"),
    ({"kind": "sms", "addresses": ["a@example.com"]}, "kind", "validation_error"),
    ({"kind": "email"}, "addresses", "validation_error"),
    ({"kind": "webhook"}, "url", "validation_error"),
    ({"kind": "email", "addresses": ["nope"]}, "addresses", "alert_address_invalid"),
    ({"kind": "webhook", "url": "http://127.0.0.1:6379/"}, "url", "webhook_private_address"),
    ({"kind": "webhook", "url": "ftp://files.example/"}, "url", "webhook_scheme_refused"),
])
def test_bad_channels_are_refused_with_a_code_and_the_field_at_fault(client, token, payload,
                                                                     field, code):
    response = client.post("/api/v1/alert-channels", headers=token, json=payload)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code and field in error["fields"]
    assert channel_count() == 0


def test_send_test_is_accepted_and_its_delivery_is_in_the_log(client, owner, token):
    channel = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    commit()
    sent = client.post(f"/api/v1/alert-channels/{channel.id}/test", headers=token)
    assert sent.status_code == 202
    alert = db.session.get(Alert, sent.get_json()["alert_id"])
    assert alert.kind == "test" and sent.get_json()["event_id"] == alert.event_id
    log = client.get(f"/api/v1/alert-channels/{channel.id}/deliveries?per_page=10",
                     headers=token).get_json()
    assert (log["total"], log["page"], log["pages"]) == (1, 1, 1)
    assert log["deliveries"][0]["status"] == "pending"
    assert log["deliveries"][0]["alert_id"] == alert.id


def test_an_email_channel_has_no_secret_to_regenerate(client, owner, token):
    channel = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    commit()
    response = client.post(f"/api/v1/alert-channels/{channel.id}/secret", headers=token)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "alert_channel_not_webhook"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_read_channels_but_cannot_change_them(client, owner, role):
    channel, _ = alerts.create_webhook_channel(owner, "Pager", PUBLIC_HOOK)
    commit()
    headers = reader_token(owner, role)
    [listed] = client.get("/api/v1/alert-channels", headers=headers).get_json()
    assert listed["target"] == "https://93.184.215.14/…"
    assert client.get(f"/api/v1/alert-channels/{channel.id}/deliveries",
                      headers=headers).status_code == 200
    changes = [("POST", "/api/v1/alert-channels", {"kind": "email", "addresses": ["a@b.co"]}),
               ("PATCH", f"/api/v1/alert-channels/{channel.id}", {"enabled": False}),
               ("DELETE", f"/api/v1/alert-channels/{channel.id}", None),
               ("POST", f"/api/v1/alert-channels/{channel.id}/test", None),
               ("POST", f"/api/v1/alert-channels/{channel.id}/secret", None)]
    for method, path, body in changes:
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 403, (method, path)
        assert response.get_json()["error"]["code"] == "role_admin_required"
    assert channel_count() == 1 and db.session.get(AlertChannel, channel.id).enabled


def test_the_api_lists_only_the_tokens_channels(client, owner, token):
    stranger = actor_for(workspace=WorkspaceFactory(name="Rival"))
    theirs = alerts.create_email_channel(stranger, "Theirs", "rival@example.com")
    ours = client.post("/api/v1/alert-channels", headers=token,
                       json={"kind": "email", "addresses": ["ops@example.com"]}).get_json()
    assert db.session.get(AlertChannel, ours["id"]).workspace_id == owner.workspace.id
    listed = client.get("/api/v1/alert-channels", headers=token)
    assert [c["id"] for c in listed.get_json()] == [ours["id"]]
    assert "rival@example.com" not in listed.get_data(as_text=True)
    for path in (f"/api/v1/alert-channels/{theirs.id}",
                 f"/api/v1/alert-channels/{theirs.id}/deliveries"):
        response = client.get(path, headers=token)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_the_api_lists_only_the_tokens_alerts(client, owner, token):
    stranger = actor_for(workspace=WorkspaceFactory(name="Rival"))
    alerts.raise_alert(stranger.workspace.id, kind="drift", subject="rival.example drifted",
                       payload={})
    ours = alerts.raise_alert(owner.workspace.id, kind="drift", subject="ours drifted",
                              payload={"domain": {"id": 1, "name": "ours.example"}})
    commit()
    listed = client.get("/api/v1/alerts?per_page=5", headers=token)
    body = listed.get_json()
    assert [a["id"] for a in body["alerts"]] == [ours.id] and body["total"] == 1
    assert body["alerts"][0]["payload"]["domain"]["name"] == "ours.example"
    assert "rival" not in listed.get_data(as_text=True)


def test_paging_arguments_are_checked(client, token):
    response = client.get("/api/v1/alerts?per_page=1000", headers=token)
    assert response.status_code == 422
    assert "per_page" in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(AlertDelivery)) == 0
