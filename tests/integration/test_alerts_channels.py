"""The alerts pages: owners and admins manage channels, everyone reads them and the delivery
log; a webhook secret is shown once and is nowhere to be read afterwards.

Tenant isolation of these routes is also covered by the sweeps in test_tenancy.py.
"""

from __future__ import annotations

import logging
import re

import pytest
from markupsafe import escape
from rq import Queue
from sqlalchemy import func, select

from app.adapters.keystore import SecretNotFound
from app.audit.models import AuditEvent
from app.domains.tasks import destroy_private_keys
from app.extensions import db, keystore
from app.monitoring import alerts
from app.monitoring.models import (Alert, AlertChannel, AlertDelivery, ChannelKind,
                                   DeliveryStatus)
from app.monitoring.tasks import deliver_alert
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory, member
from tests.helpers import login
from tests.onboarding import actor_for, run_job

PUBLIC_HOOK = "https://93.184.215.14/hooks/T0001/B0002/sekrit-path"
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{20,}")
POLLS = 'hx-trigger="every 2s"'


@pytest.fixture
def signed_in(client, owner):
    login(client, owner.user)
    return client


def page(owner, path: str = "/") -> str:
    return f"/w/{owner.workspace.slug}/alerts{path}"


def channels_of(workspace_id: int) -> list[AlertChannel]:
    db.session.expire_all()
    return list(db.session.scalars(select(AlertChannel)
                                   .where(AlertChannel.workspace_id == workspace_id)
                                   .order_by(AlertChannel.id)))


def audit_actions(workspace_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action)
                                   .where(AuditEvent.workspace_id == workspace_id,
                                          AuditEvent.object_type == "alert_channel")
                                   .order_by(AuditEvent.id)))


# --- email channels --------------------------------------------------------------------------

def test_an_owner_adds_an_email_channel_for_several_addresses(signed_in, owner):
    response = signed_in.post(page(owner, "/channels/email"), data={
        "name": "Ops", "addresses": "Ops@Example.com, oncall@example.com;\nops@example.com"})
    assert response.status_code == 302
    [channel] = channels_of(owner.workspace.id)
    assert (channel.kind, channel.name, channel.target, channel.enabled) == (
        ChannelKind.EMAIL, "Ops", "ops@example.com, oncall@example.com", True)
    assert channel.secret_ref is None
    html = signed_in.get(page(owner)).get_data(as_text=True)
    assert "Alerts now also go to ops@example.com, oncall@example.com" in html
    assert audit_actions(owner.workspace.id) == ["alert_channel.created"]


def test_a_channel_without_a_name_gets_one(owner):
    channel = alerts.create_email_channel(owner, "  ", "ops@example.com")
    assert channel.name == "Email ops@example.com"


@pytest.mark.parametrize("addresses, message", [
    ("", "Enter at least one email address"),
    ("ops@example.com, not-an-address", "“not-an-address” is not a valid email address"),
    (", ".join(f"a{n}@example.com" for n in range(11)), "at most 10 addresses"),
])
def test_bad_addresses_are_refused_with_a_specific_error_and_the_text_kept(
        signed_in, owner, addresses, message):
    response = signed_in.post(page(owner, "/channels/email"),
                              data={"name": "Ops", "addresses": addresses})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert str(escape(message)) in html
    assert str(escape(addresses)) in html, "what was typed is not lost"
    assert channels_of(owner.workspace.id) == []


# --- webhook channels ------------------------------------------------------------------------

def test_a_webhook_secret_is_shown_once_and_kept_only_in_the_key_store(signed_in, owner, caplog):
    with caplog.at_level(logging.DEBUG):
        response = signed_in.post(page(owner, "/channels/webhook"),
                                  data={"name": "Pager", "url": PUBLIC_HOOK})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    [secret] = SECRET.findall(response.get_data(as_text=True))
    [channel] = channels_of(owner.workspace.id)
    assert keystore().get(channel.secret_ref).decode() == secret
    row = " ".join(str(getattr(channel, column.key)) for column in AlertChannel.__table__.columns)
    assert secret not in row and "whsec_" not in row
    assert secret not in caplog.text
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "alert_channel")).all()
    assert all(secret not in str(event.after) for event in events)
    for later in (page(owner), page(owner, f"/channels/{channel.id}")):
        assert not SECRET.search(signed_in.get(later).get_data(as_text=True))


def test_a_webhook_to_a_private_address_is_refused_on_the_form(signed_in, owner):
    response = signed_in.post(page(owner, "/channels/webhook"),
                              data={"name": "Internal", "url": "http://169.254.169.254/latest"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "169.254.169.254 is a link-local address" in html
    assert "http://169.254.169.254/latest" in html
    assert channels_of(owner.workspace.id) == []


def test_regenerating_shows_a_new_secret_once_and_destroys_the_old_one(signed_in, owner,
                                                                        redis_client):
    channel, old_secret = alerts.create_webhook_channel(owner, "Pager", PUBLIC_HOOK)
    commit()
    old_ref = channel.secret_ref
    response = signed_in.post(page(owner, f"/channels/{channel.id}/secret"))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    [new_secret] = SECRET.findall(response.get_data(as_text=True))
    assert new_secret != old_secret
    [channel] = channels_of(owner.workspace.id)
    assert keystore().get(channel.secret_ref).decode() == new_secret
    [job] = Queue("keys", connection=redis_client).jobs
    assert job.args == ([old_ref],)
    run_job(destroy_private_keys, [old_ref])
    with pytest.raises(SecretNotFound):
        keystore().get(old_ref)
    assert "alert_channel.secret_regenerated" in audit_actions(owner.workspace.id)


def test_an_email_channel_has_no_secret_to_regenerate(signed_in, owner):
    channel = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    commit()
    response = signed_in.post(page(owner, f"/channels/{channel.id}/secret"))
    assert response.status_code == 409
    assert "Only webhook channels have a signing secret" in response.get_data(as_text=True)


def test_the_webhook_url_is_shown_whole_only_to_those_who_manage_channels(client, owner):
    alerts.create_webhook_channel(owner, "Pager", PUBLIC_HOOK)
    commit()
    login(client, owner.user)
    assert PUBLIC_HOOK in client.get(page(owner)).get_data(as_text=True)
    client.post("/logout")
    login(client, member(Role.VIEWER, owner.workspace))
    html = client.get(page(owner)).get_data(as_text=True)
    assert "sekrit-path" not in html and "https://93.184.215.14/…" in html


# --- switching, testing, deleting ------------------------------------------------------------

def test_a_channel_is_switched_off_and_on_and_only_enabled_ones_get_alerts(signed_in, owner):
    ops = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    quiet = alerts.create_email_channel(owner, "Quiet", "quiet@example.com")
    commit()
    assert signed_in.post(page(owner, f"/channels/{quiet.id}/disable")).status_code == 302
    alert = alerts.raise_alert(owner.workspace.id, kind="drift", subject="s", payload={})
    assert [d.channel_id for d in db.session.scalars(
        select(AlertDelivery).where(AlertDelivery.alert_id == alert.id))] == [ops.id]
    assert signed_in.post(page(owner, f"/channels/{quiet.id}/enable")).status_code == 302
    assert [c.enabled for c in channels_of(owner.workspace.id)] == [True, True]
    assert audit_actions(owner.workspace.id)[-2:] == ["alert_channel.disabled",
                                                      "alert_channel.enabled"]


def test_send_test_delivers_through_the_real_path_and_the_log_shows_it(signed_in, owner, outbox):
    channel = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    commit()
    response = signed_in.post(page(owner, f"/channels/{channel.id}/test"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/alerts/channels/{channel.id}")
    [delivery] = db.session.scalars(select(AlertDelivery)).all()
    assert delivery.status == DeliveryStatus.PENDING
    html = signed_in.get(page(owner, f"/channels/{channel.id}")).get_data(as_text=True)
    assert "PenguinMails test alert" in html and POLLS in html, "the log polls while pending"

    run_job(deliver_alert, delivery.id)
    [message] = outbox.messages()
    assert message["To"] == "ops@example.com" and message["Subject"] == "PenguinMails test alert"
    assert "If it reached you" in message.get_body().get_content()
    fragment = signed_in.get(page(owner, f"/channels/{channel.id}"),
                             headers={"HX-Request": "true", "HX-Target": "deliveries"})
    text = fragment.get_data(as_text=True)
    assert "delivered" in text and POLLS not in text and "<html" not in text


def test_deleting_a_channel_removes_its_log_keeps_the_alerts_and_destroys_its_secret(
        signed_in, owner, redis_client):
    channel, _ = alerts.create_webhook_channel(owner, "Pager", PUBLIC_HOOK)
    alert = alerts.send_test(owner, channel)
    commit()
    ref = channel.secret_ref
    assert signed_in.post(page(owner, f"/channels/{channel.id}/delete")).status_code == 302
    assert channels_of(owner.workspace.id) == []
    assert db.session.scalar(select(func.count()).select_from(AlertDelivery)) == 0
    assert db.session.get(Alert, alert.id) is not None
    assert [job.args for job in Queue("keys", connection=redis_client).jobs] == [([ref],)]
    assert audit_actions(owner.workspace.id)[-1] == "alert_channel.deleted"


def test_the_delivery_log_is_paginated(signed_in, owner):
    channel = alerts.create_email_channel(owner, "Ops", "ops@example.com")
    for number in range(27):
        alerts.raise_alert(owner.workspace.id, kind="drift", subject=f"alert number {number}",
                           payload={})
    commit()
    first = signed_in.get(page(owner, f"/channels/{channel.id}")).get_data(as_text=True)
    second = signed_in.get(page(owner, f"/channels/{channel.id}?page=2"),
                           headers={"HX-Request": "true", "HX-Target": "deliveries"})
    assert "alert number 26" in first and "alert number 1<" not in first
    assert "Page 1 of 2" in first
    text = second.get_data(as_text=True)
    assert "alert number 1<" in text and "alert number 0<" in text and "<html" not in text


def test_recent_alerts_list_each_alert_with_its_deliveries(signed_in, owner):
    alerts.create_email_channel(owner, "Ops", "ops@example.com")
    alerts.raise_alert(owner.workspace.id, kind="drift", subject="example.com: 1 new problem",
                       payload={})
    commit()
    fragment = signed_in.get(page(owner), headers={"HX-Request": "true",
                                                   "HX-Target": "recent-alerts"})
    text = fragment.get_data(as_text=True)
    assert "example.com: 1 new problem" in text and "1 pending" in text
    assert "<html" not in text


# --- who may do what -------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_read_but_change_nothing(client, owner, role, redis_client):
    channel, _ = alerts.create_webhook_channel(owner, "Pager", PUBLIC_HOOK)
    commit()
    reader = member(role, owner.workspace)
    login(client, reader)
    html = client.get(page(owner)).get_data(as_text=True)
    assert "Pager" in html and "Add a webhook" not in html and "Send test" not in html
    assert client.get(page(owner, f"/channels/{channel.id}")).status_code == 200
    before = [(c.id, c.name, c.enabled, c.secret_ref) for c in channels_of(owner.workspace.id)]
    for path in ("/channels/email", "/channels/webhook", f"/channels/{channel.id}/enable",
                 f"/channels/{channel.id}/disable", f"/channels/{channel.id}/test",
                 f"/channels/{channel.id}/secret", f"/channels/{channel.id}/delete"):
        response = client.post(page(owner, path), data={"addresses": "x@example.com",
                                                         "url": PUBLIC_HOOK, "name": "Mine"})
        assert response.status_code == 403, path
    assert [(c.id, c.name, c.enabled, c.secret_ref)
            for c in channels_of(owner.workspace.id)] == before
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_an_admin_manages_channels(owner):
    admin = actor_for(Role.ADMIN, owner.workspace)
    channel = alerts.create_email_channel(admin, "Ops", "ops@example.com")
    alerts.set_enabled(admin, channel, False)
    alerts.delete_channel(admin, channel)
    assert channels_of(owner.workspace.id) == []


def test_another_workspaces_channel_is_not_found(signed_in, owner):
    stranger = actor_for(workspace=WorkspaceFactory(name="Rival"))
    theirs = alerts.create_email_channel(stranger, "Theirs", "rival@example.com")
    commit()
    for path in (f"/channels/{theirs.id}", f"/channels/{theirs.id}/test"):
        method = signed_in.get if path.endswith(str(theirs.id)) else signed_in.post
        response = method(page(owner, path))
        assert response.status_code == 404
        assert "rival@example.com" not in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_workspace_has_at_most_twenty_channels(owner):
    for number in range(alerts.MAX_CHANNELS):
        alerts.create_email_channel(owner, f"C{number}", f"c{number}@example.com")
    with pytest.raises(Exception) as refused:
        alerts.create_email_channel(owner, "One more", "more@example.com")
    assert getattr(refused.value, "code", None) == "alert_channel_limit"
