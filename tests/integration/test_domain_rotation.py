"""DKIM rotation: a new selector, promotion only once DNS serves it, a grace period, then
retirement with the private key destroyed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue

from app.adapters.keystore import SecretNotFound
from app.core.clock import utcnow
from app.domains import rotation, service
from app.domains.models import Domain, DomainStatus, KeyState
from app.domains.tasks import (
    advance_key_rotations,
    destroy_private_keys,
    generate_dkim_key,
    rotate_due_keys,
    verify_domain,
)
from app.errors import Conflict, PermissionDenied, ValidationFailed
from app.extensions import db, keystore
from app.uow import commit
from app.workspaces.roles import Role
from tests.onboarding import actor_for, onboard, publish, run_job


@pytest.fixture
def verified(owner, zone_server) -> Domain:
    domain = onboard(owner)
    publish(zone_server, service.expected_records(domain))
    service.request_check(owner, domain)
    commit()
    run_job(verify_domain, domain.id)
    domain = db.session.get(Domain, domain.id)
    assert domain.status == DomainStatus.VERIFIED
    return domain


def keys_by_selector(domain: Domain) -> dict:
    return {k.selector: k for k in db.session.get(Domain, domain.id).keys}


def rotate(owner, domain: Domain):
    key = rotation.start_rotation(owner, domain)
    commit()
    run_job(generate_dkim_key, key.id)
    return key.id


def test_rotation_creates_the_next_selector_and_keeps_signing_with_the_old_key(owner, verified):
    rotate(owner, verified)
    keys = keys_by_selector(verified)
    assert keys["pm1"].state == KeyState.ACTIVE
    assert keys["pm2"].state == KeyState.PENDING and keys["pm2"].public_key


def test_a_new_key_not_yet_in_dns_is_never_promoted(owner, verified):
    rotate(owner, verified)
    assert run_job(advance_key_rotations)["promoted"] == 0
    assert keys_by_selector(verified)["pm1"].state == KeyState.ACTIVE


def test_once_dns_serves_the_new_key_it_signs_and_the_old_one_retires(owner, verified, zone_server):
    rotate(owner, verified)
    publish(zone_server, service.expected_records(db.session.get(Domain, verified.id)))
    assert run_job(advance_key_rotations)["promoted"] == 1
    keys = keys_by_selector(verified)
    assert keys["pm2"].state == KeyState.ACTIVE
    assert keys["pm1"].state == KeyState.RETIRING
    assert keys["pm1"].retire_after - keys["pm1"].retiring_at == timedelta(days=7)


def test_after_the_grace_period_the_old_key_is_retired_and_destroyed(owner, verified, zone_server,
                                                                     redis_client):
    rotate(owner, verified)
    publish(zone_server, service.expected_records(db.session.get(Domain, verified.id)))
    run_job(advance_key_rotations)
    old = keys_by_selector(verified)["pm1"]
    ref = old.private_key_ref
    old.retire_after = utcnow() - timedelta(minutes=1)
    commit()

    assert run_job(advance_key_rotations)["retired"] == 1

    old = keys_by_selector(verified)["pm1"]
    assert old.state == KeyState.RETIRED and old.private_key_ref is None
    job = Queue("keys", connection=redis_client).jobs[-1]
    run_job(destroy_private_keys, *job.args)
    with pytest.raises(SecretNotFound):
        keystore().get(ref)
    records = service.expected_records(db.session.get(Domain, verified.id))
    assert not any(r.host.startswith("pm1._domainkey") for r in records), "safe to remove"


def test_a_second_rotation_while_one_is_under_way_is_refused(owner, verified):
    rotate(owner, verified)
    with pytest.raises(Conflict, match="already under way"):
        rotation.start_rotation(owner, db.session.get(Domain, verified.id))


def test_an_unverified_domain_cannot_rotate(owner):
    domain = onboard(owner)
    with pytest.raises(Conflict) as refused:
        rotation.start_rotation(owner, domain)
    assert refused.value.code == "rotation_needs_active_key"


def test_viewers_cannot_rotate(verified):
    viewer = actor_for(Role.VIEWER, verified.workspace)
    with pytest.raises(PermissionDenied):
        rotation.start_rotation(viewer, verified)


def test_the_cadence_starts_rotations_when_the_key_is_old_enough(owner, verified):
    rotation.set_rotation_cadence(owner, verified, 90)
    commit()
    assert run_job(rotate_due_keys) == 0
    active = keys_by_selector(verified)["pm1"]
    active.activated_at = utcnow() - timedelta(days=91)
    commit()
    assert run_job(rotate_due_keys) == 1
    assert keys_by_selector(verified)["pm2"].state == KeyState.GENERATING


@pytest.mark.parametrize("days", [0, -5, 4000])
def test_a_cadence_out_of_range_is_refused(owner, verified, days):
    with pytest.raises(ValidationFailed):
        rotation.set_rotation_cadence(owner, verified, days)


def test_a_selector_taken_meanwhile_is_a_conflict_not_a_crash(owner, verified, monkeypatch):
    monkeypatch.setattr(rotation, "next_selector", lambda domain: "pm1")  # as if a racer won
    with pytest.raises(Conflict) as refused:
        rotation.start_rotation(owner, db.session.get(Domain, verified.id))
    assert refused.value.code == "key_change_in_progress"
    assert keys_by_selector(verified)["pm1"].state == KeyState.ACTIVE
