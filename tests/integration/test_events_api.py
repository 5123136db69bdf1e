"""POST /api/v1/events: row-by-row validation, partial acceptance, idempotent replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.extensions import db
from app.reputation import ingest
from app.reputation.models import ReputationEvent
from app.workspaces.roles import Role
from tests.factories import DomainFactory, WorkspaceFactory, api_token, member


@pytest.fixture
def sender():
    """A member's token and a domain with a subdomain in its workspace."""
    workspace = WorkspaceFactory()
    domain = DomainFactory(workspace=workspace, fqdn="example.com")
    DomainFactory(workspace=workspace, fqdn="news.example.com", parent=domain)
    secret = api_token(member(Role.MEMBER, workspace), workspace, secret="pmd_mta")
    return workspace, domain, {"Authorization": f"Bearer {secret}"}


def at(**ago) -> str:
    return (utcnow() - timedelta(**ago)).isoformat()


def stored(workspace) -> list[tuple]:
    db.session.expire_all()
    return sorted(db.session.execute(
        select(ReputationEvent.event_id, ReputationEvent.domain_id, ReputationEvent.type,
               ReputationEvent.ip, ReputationEvent.region, ReputationEvent.account,
               ReputationEvent.bounce_class)
        .where(ReputationEvent.workspace_id == workspace.id)).all())


def post(client, headers, events):
    return client.post("/api/v1/events", json={"events": events}, headers=headers)


def test_good_rows_are_stored_and_bad_ones_reported_by_index(client, sender):
    workspace, domain, headers = sender
    foreign = DomainFactory(fqdn="theirs.example")  # another workspace's domain
    events = [
        {"id": "a1", "domain": "example.com", "type": "delivered", "at": at(minutes=5),
         "ip": "2001:DB8::0:1", "region": "EU-West", "account": "News@Example.com"},
        {"id": "a2", "domain": "news.example.com", "type": "bounced", "bounce_class": "hard",
         "at": "2020-01-01T00:00:00Z"},
        {"id": "a3", "domain": foreign.fqdn, "type": "delivered", "at": at(minutes=1)},
        {"id": "a4", "domain": "example.com", "type": "opened?", "at": at(minutes=1)},
        {"id": "a5", "domain": "example.com", "type": "delivered", "at": at(minutes=1),
         "ip": "300.1.1.1"},
        {"id": "a6", "domain": "example.com", "type": "delivered"},
        {"id": "a7", "domain": "example.com", "type": "delivered",
         "at": (utcnow() + timedelta(hours=1)).isoformat()},
        {"id": "a8", "domain": "example.com", "type": "delivered", "at": "2026-05-01T12:00:00"},
        {"id": "a9", "domain": "example.com", "type": "delivered", "bounce_class": "hard",
         "at": at(minutes=1)},
        {"id": "a10", "domain": "example.com", "type": "bounced", "bounce_class": "squishy",
         "at": at(minutes=1)},
        "not an object",
        {"domain": "example.com", "type": "delivered", "at": at(minutes=1)},
        {"id": "a13", "domain": "example.com", "type": "delivered", "at": at(minutes=1),
         "colour": "blue"},
        {"id": "a14", "domain": "NEWS.example.com.", "type": "complained", "at": at(hours=2)},
    ]
    response = post(client, headers, events)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["received"], body["accepted"], body["duplicates"]) == (14, 2, 0)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "too_old"), (2, "unknown_domain"), (3, "bad_type"), (4, "bad_ip"), (5, "missing_at"),
        (6, "at_in_future"), (7, "bad_at"), (8, "bounce_class_not_a_bounce"),
        (9, "bad_bounce_class"), (10, "not_an_object"), (11, "missing_id"),
        (12, "unknown_field")]
    assert all(r["message"] for r in body["rejected"])
    subdomain_id = db.session.scalar(select(ReputationEvent.domain_id)
                                     .where(ReputationEvent.event_id == "a14"))
    assert stored(workspace) == [
        ("a1", domain.id, "delivered", "2001:db8::1", "eu-west", "news@example.com", None),
        ("a14", subdomain_id, "complained", None, None, None, None)]
    assert subdomain_id != domain.id
    assert stored(foreign.workspace) == []


def test_a_replayed_batch_stores_nothing_twice_and_counts_the_duplicates(client, sender):
    workspace, _, headers = sender
    events = [{"id": f"r{n}", "domain": "example.com", "type": "delivered", "at": at(minutes=n)}
              for n in range(50)]
    first = post(client, headers, events).get_json()
    assert (first["accepted"], first["duplicates"]) == (50, 0)
    replay = post(client, headers, events + [
        {"id": "r-new", "domain": "example.com", "type": "deferred", "at": at(minutes=1)}])
    assert (replay.get_json()["accepted"], replay.get_json()["duplicates"]) == (1, 50)
    assert len(stored(workspace)) == 51


def test_the_same_id_twice_in_one_batch_is_stored_once(client, sender):
    workspace, _, headers = sender
    row = {"id": "twice", "domain": "example.com", "type": "delivered", "at": at(minutes=1)}
    body = post(client, headers, [row, row]).get_json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert len(stored(workspace)) == 1


def test_event_ids_are_per_workspace(client, sender):
    _, _, headers = sender
    other_ws = WorkspaceFactory()
    DomainFactory(workspace=other_ws, fqdn="example.com")
    other = {"Authorization": "Bearer " + api_token(member(workspace=other_ws), other_ws,
                                                    secret="pmd_other")}
    row = {"id": "shared-id", "domain": "example.com", "type": "delivered", "at": at(minutes=1)}
    assert post(client, headers, [row]).get_json()["accepted"] == 1
    assert post(client, other, [row]).get_json()["accepted"] == 1


def test_a_batch_over_the_limit_is_refused_whole(client, sender, monkeypatch):
    workspace, _, headers = sender
    monkeypatch.setattr(ingest, "MAX_BATCH", 3)
    events = [{"id": f"o{n}", "domain": "example.com", "type": "delivered", "at": at(minutes=1)}
              for n in range(4)]
    response = post(client, headers, events)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "batch_too_large"
    assert stored(workspace) == []


def test_a_full_batch_of_ten_thousand_is_taken(client, sender):
    workspace, _, headers = sender
    events = [{"id": f"f{n}", "domain": "example.com", "type": "delivered", "at": at(seconds=n)}
              for n in range(ingest.MAX_BATCH)]
    assert post(client, headers, events).get_json()["accepted"] == ingest.MAX_BATCH
    assert post(client, headers, events + events[:1]).status_code == 413


@pytest.mark.parametrize("data,status,code", [
    ("{not json", 400, "malformed_json"),
    ("", 400, "malformed_json"),
    ('[{"id": "x"}]', 422, "events_not_a_list"),
    ('{"events": {"id": "x"}}', 422, "events_not_a_list"),
    ('{"event": []}', 422, "events_not_a_list"),
    ('{"events": [], "extra": 1}', 422, "unknown_field"),
])
def test_a_body_that_is_not_a_batch_is_refused(client, sender, data, status, code):
    _, _, headers = sender
    response = client.post("/api/v1/events", data=data, headers=headers,
                           content_type="application/json")
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_an_empty_batch_is_fine(client, sender):
    _, _, headers = sender
    assert post(client, headers, []).get_json() == {"received": 0, "accepted": 0,
                                                    "duplicates": 0, "rejected": []}


def test_viewers_and_strangers_cannot_send_events(client, sender):
    workspace, _, _ = sender
    viewer = api_token(member(Role.VIEWER, workspace), workspace, secret="pmd_viewer")
    row = [{"id": "v", "domain": "example.com", "type": "delivered", "at": at(minutes=1)}]
    response = post(client, {"Authorization": f"Bearer {viewer}"}, row)
    assert response.status_code == 403
    assert post(client, {}, row).status_code == 401
    assert stored(workspace) == []


def test_domain_lookup_is_one_query_whatever_the_batch(client, sender, app):
    workspace, _, headers = sender
    names = [DomainFactory(workspace=workspace).fqdn for _ in range(30)]
    from sqlalchemy import event as sa_event
    seen = []

    def count(conn, cursor, statement, *args):
        if "FROM domains" in statement:
            seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        body = post(client, headers, [{"id": f"q{n}", "domain": name, "type": "delivered",
                                       "at": at(minutes=1)} for n, name in enumerate(names)])
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    assert body.get_json()["accepted"] == 30
    assert len([s for s in seen if "fqdn IN" in s]) == 1
    assert db.session.scalar(select(func.count()).select_from(ReputationEvent)
                             .where(ReputationEvent.workspace_id == workspace.id)) == 30
