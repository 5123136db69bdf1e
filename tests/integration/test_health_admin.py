"""/healthz for load balancers, and the RQ dashboard for platform admins only."""

from __future__ import annotations

import pytest

from app.jobs.queues import enqueue, get_queue
from app.workspaces.roles import Role
from tests.factories import member
from tests.helpers import login


def test_healthz_is_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok",
                                   "checks": {"database": {"ok": True}, "redis": {"ok": True}}}


def test_healthz_needs_no_sign_in(client):
    assert client.get("/healthz").status_code == 200


def test_healthz_is_503_naming_redis_when_redis_is_unreachable(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"].startswith("ConnectionError")


@pytest.mark.parametrize("path", ["/admin/rq/", "/admin/rq/0/data/queues.json"])
def test_the_rq_dashboard_sends_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", [Role.OWNER, Role.VIEWER])
def test_the_rq_dashboard_does_not_exist_for_workspace_users(client, role):
    login(client, member(role))
    response = client.get("/admin/rq/")
    assert response.status_code == 404
    assert b"Error code <code>not_found</code>" in response.data  # the portal's ordinary 404


def test_platform_admins_see_the_rq_dashboard(client):
    login(client, member(is_platform_admin=True))
    response = client.get("/admin/rq/")
    assert response.status_code == 200
    assert b"RQ" in response.data


def test_the_dashboard_reads_the_apps_queues(client):
    enqueue("tests.jobs_for_tests.record_run", "dns", queue="dns")
    login(client, member(is_platform_admin=True))
    response = client.get("/admin/rq/0/data/queues.json")
    assert response.status_code == 200
    queues = {q["name"]: q["count"] for q in response.get_json()["queues"]}
    assert queues["dns"] == 1


def test_only_platform_admins_can_empty_a_queue_from_the_dashboard(client):
    enqueue("tests.jobs_for_tests.record_run", "dns", queue="dns")
    login(client, member(Role.OWNER))
    assert client.post("/admin/rq/queue/dns/queued/empty").status_code == 404
    assert get_queue("dns").count == 1
