"""Shared steps of the domain onboarding tests: an actor, a served zone, a verified domain."""

from __future__ import annotations

import pytest

from app.domains import service
from app.domains.models import Domain
from app.domains.tasks import generate_dkim_key
from app.extensions import db
from app.uow import commit
from app.workspaces.actor import Actor
from app.workspaces.roles import Role
from tests.factories import member

ZONE = "example.test"


def actor_for(role: Role = Role.OWNER, workspace=None) -> Actor:
    user = member(role, workspace)
    membership = user.memberships[0]
    return Actor(user=user, workspace=membership.workspace, role=role, ip="127.0.0.1")


@pytest.fixture
def zone_server(app, dns_server, monkeypatch):
    """The app resolves through one authoritative test server serving example.test."""
    dns_server.add_zone(ZONE, {"@": {"A": "192.0.2.1"}})
    monkeypatch.setitem(app.config, "DNS_NAMESERVERS", dns_server.nameserver)
    monkeypatch.setitem(app.config, "DNS_TIMEOUT", 0.3)
    monkeypatch.setitem(app.config, "DNS_LIFETIME", 1.0)
    return dns_server


@pytest.fixture
def owner() -> Actor:
    return actor_for()


def run_job(job_function, *args):
    """Run a job inline, then drop what the test's session cached: the job wrote it anew."""
    result = job_function(*args)
    db.session.expire_all()
    return result


def onboard(actor: Actor, name: str = ZONE) -> Domain:
    domain = service.add_domain(actor, name)
    commit()
    domain_id, key_id = domain.id, domain.keys[0].id
    run_job(generate_dkim_key, key_id)
    return db.session.get(Domain, domain_id)


def publish(server, records) -> None:
    for record in records:
        if record.type == "TXT":
            server.set_record(record.host + ".", "TXT", tuple(record.zone_values))
        elif record.type == "CNAME":
            server.set_record(record.host + ".", "CNAME", record.value + ".")
        elif record.type == "MX":
            server.set_record(record.host + ".", "MX", " ".join(record.zone_values))
