"""DKIM keys over the API: rotate the RSA key, add an Ed25519 key for dual signing, set the
rotation cadence — and the dual-signed mail that results, verified against real DNS."""

from __future__ import annotations

import base64
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage

import dkim as dkimpy
import dns.message
import dns.query
import dns.rdatatype
import pytest
from openapi_spec_validator import validate
from rq import Queue
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.dkim import parse_dkim_record
from app.domains import service
from app.domains.models import DkimKey, Domain, DomainStatus, KeyState
from app.domains.signing import sign_message
from app.domains.tasks import (advance_key_rotations, generate_dkim_key, rotate_due_keys,
                               verify_domain)
from app.errors import Conflict
from app.extensions import db
from app.workspaces.roles import Role
from tests.conftest import RequestPerAppContext
from tests.factories import DkimKeyFactory, DomainFactory, WorkspaceFactory, api_token, member
from tests.integration.test_api import assert_error, bearer
from tests.onboarding import ZONE, onboard, publish, run_job

OWNER_SECRET = "pmd_dkim-keys-owner"
VIEWER_SECRET = "pmd_dkim-keys-viewer"


@pytest.fixture
def api(app, owner):
    """The owner's token on every request; a viewer's token exists beside it."""
    api_token(owner.user, owner.workspace, OWNER_SECRET)
    api_token(member(Role.VIEWER, owner.workspace), owner.workspace, VIEWER_SECRET)
    client = RequestPerAppContext(app, app.response_class)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {OWNER_SECRET}"
    return client


@pytest.fixture
def signing(owner) -> Domain:
    """A verified domain whose RSA key signs (rows only, no DNS)."""
    return DkimKeyFactory(domain__workspace=owner.workspace).domain


@pytest.fixture
def verified(owner, zone_server) -> Domain:
    """A domain verified for real: its key generated and its records served by DNS."""
    domain = onboard(owner)
    publish(zone_server, service.expected_records(domain))
    run_job(verify_domain, domain.id)
    assert domain.status == DomainStatus.VERIFIED
    return domain


def keys_of(domain_id: int) -> dict[str, DkimKey]:
    db.session.expire_all()  # the requests committed in sessions of their own
    return {key.selector: key for key in db.session.get(Domain, domain_id).keys}


def key_actions(key_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "dkim_key", AuditEvent.object_id == str(key_id))))


def queued_key_jobs(redis_client) -> list[tuple]:
    return [(job.func_name, job.args) for job in Queue("keys", connection=redis_client).jobs]


def add_ed25519(api, domain_id: int) -> dict:
    response = api.post(f"/api/v1/domains/{domain_id}/dkim-keys", json={"algorithm": "ed25519"})
    assert response.status_code == 201, response.data[:500]
    return response.get_json()


def promote_published(zone_server, domain: Domain) -> dict[str, DkimKey]:
    """Publish every record the domain needs now and let the rotation job promote its new key."""
    publish(zone_server, service.expected_records(db.session.get(Domain, domain.id)))
    assert run_job(advance_key_rotations)["promoted"] == 1
    return keys_of(domain.id)


def dual_signing(api, zone_server, domain: Domain) -> dict[str, DkimKey]:
    """Add an Ed25519 key, generate it, publish it and let the rotation job promote it."""
    added = add_ed25519(api, domain.id)
    run_job(generate_dkim_key, added["id"])
    return promote_published(zone_server, domain)


def txt_from(zone_server):
    """A dkimpy `dnsfunc` that asks the test DNS server, like a receiving mail server would."""
    host, port = zone_server.address

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        answer = dns.query.udp(dns.message.make_query(name.decode(), "TXT"), host, port=port,
                               timeout=2)
        return b"".join(b"".join(rdata.strings) for rrset in answer.answer
                        if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset)
    return lookup


# --- POST /domains/{id}/dkim-keys/rotate --------------------------------------------------

def test_rotating_answers_202_with_the_new_key_and_queues_its_generation(api, signing,
                                                                         redis_client):
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate")
    assert response.status_code == 202
    new = keys_of(signing.id)["pm2"]
    assert response.get_json() == {"id": new.id, "selector": "pm2", "algorithm": "rsa-2048",
                                   "state": "generating"}
    assert keys_of(signing.id)["pm1"].state == KeyState.ACTIVE, "the old key keeps signing"
    assert queued_key_jobs(redis_client) == [("app.domains.tasks.generate_dkim_key", (new.id,))]
    assert key_actions(new.id) == ["dkim_key.rotation_started"]


def test_a_rotation_keeps_the_rsa_key_size(api, owner):
    domain = DkimKeyFactory(domain__workspace=owner.workspace, algorithm="rsa-4096").domain
    response = api.post(f"/api/v1/domains/{domain.id}/dkim-keys/rotate")
    assert response.get_json()["algorithm"] == "rsa-4096"


def test_an_unverified_domain_cannot_rotate(api, owner, redis_client):
    domain = onboard(owner)
    redis_client.flushdb()
    assert_error(api.post(f"/api/v1/domains/{domain.id}/dkim-keys/rotate"), 409,
                 "rotation_needs_active_key")
    assert list(keys_of(domain.id)) == ["pm1"]
    assert queued_key_jobs(redis_client) == []


def test_a_second_rotation_while_one_is_under_way_is_a_409(api, signing):
    assert api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate").status_code == 202
    error = assert_error(api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate"), 409,
                         "rotation_in_progress")
    assert "already under way" in error["message"]
    assert list(keys_of(signing.id)) == ["pm1", "pm2"]


def test_a_viewer_cannot_rotate(api, signing, redis_client):
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate",
                        headers=bearer(VIEWER_SECRET))
    assert_error(response, 403, "role_read_only")
    assert list(keys_of(signing.id)) == ["pm1"]
    assert queued_key_jobs(redis_client) == []


def test_an_ed25519_key_waiting_for_dns_does_not_hold_up_a_rotation(api, signing):
    add_ed25519(api, signing.id)
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate")
    assert response.status_code == 202
    assert response.get_json()["selector"] == "pm3"


def test_an_ed25519_key_waiting_for_dns_does_not_hold_up_the_cadence(api, signing):
    add_ed25519(api, signing.id)
    active = keys_of(signing.id)["pm1"]
    active.activated_at = utcnow() - timedelta(days=91)
    db.session.get(Domain, signing.id).dkim_rotation_days = 90
    db.session.flush()
    assert run_job(rotate_due_keys) == 1
    assert keys_of(signing.id)["pm3"].algorithm == "rsa-2048"


# --- POST /domains/{id}/dkim-keys ---------------------------------------------------------

def test_adding_an_ed25519_key_answers_201_and_queues_its_generation(api, signing,
                                                                     redis_client):
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys", json={"algorithm": "ed25519"})
    assert response.status_code == 201
    new = keys_of(signing.id)["pm2"]
    assert response.get_json() == {"id": new.id, "selector": "pm2", "algorithm": "ed25519",
                                   "state": "generating"}
    assert queued_key_jobs(redis_client) == [("app.domains.tasks.generate_dkim_key", (new.id,))]
    assert key_actions(new.id) == ["dkim_key.added"]


def test_the_key_job_makes_an_ed25519_key_with_its_own_dns_record(api, signing):
    added = add_ed25519(api, signing.id)
    assert run_job(generate_dkim_key, added["id"]) == "pm2"
    key = keys_of(signing.id)["pm2"]
    assert key.state == KeyState.PENDING and key.private_key_ref
    assert len(base64.b64decode(key.public_key)) == 32, "RFC 8463: the raw Ed25519 key"
    [record] = [r for r in service.expected_records(key.domain)
                if r.host == f"pm2._domainkey.{signing.fqdn}"]
    published = parse_dkim_record(record.value)
    assert published.key_type == "ed25519" and published.public_key_bytes == \
        base64.b64decode(key.public_key)


@pytest.mark.parametrize("state", [KeyState.GENERATING, KeyState.ACTIVE])
def test_the_domains_current_key_stays_the_rsa_key(api, signing, state):
    DkimKeyFactory(domain=signing, selector="pm2", algorithm="ed25519", state=state,
                   public_key=None)
    body = api.get(f"/api/v1/domains/{signing.id}").get_json()
    assert body["dkim_key"] == {"selector": "pm1", "state": "active"}
    listed = api.get(f"/api/v1/domains/{signing.id}/dkim-keys").get_json()
    assert [(k["selector"], k["algorithm"]) for k in listed] == [("pm1", "rsa-2048"),
                                                                 ("pm2", "ed25519")]


def test_an_ed25519_key_can_join_an_rsa_key_that_is_still_pending(api, owner):
    domain = onboard(owner)
    assert domain.keys[0].state == KeyState.PENDING
    assert add_ed25519(api, domain.id)["selector"] == "pm2"


@pytest.mark.parametrize("rsa_key_state", [None, KeyState.GENERATING, KeyState.RETIRED])
def test_an_ed25519_key_is_refused_without_an_rsa_key_beside_it(api, owner, rsa_key_state):
    domain = DomainFactory(workspace=owner.workspace)
    if rsa_key_state is not None:
        DkimKeyFactory(domain=domain, state=rsa_key_state)
    response = api.post(f"/api/v1/domains/{domain.id}/dkim-keys", json={"algorithm": "ed25519"})
    error = assert_error(response, 409, "ed25519_needs_rsa_key")
    assert "beside an RSA key" in error["message"]
    assert not any(k.algorithm == "ed25519" for k in keys_of(domain.id).values())


@pytest.mark.parametrize("state", [KeyState.GENERATING, KeyState.PENDING, KeyState.ACTIVE])
def test_a_second_live_ed25519_key_is_a_409(api, signing, state):
    DkimKeyFactory(domain=signing, selector="pm2", algorithm="ed25519", state=state,
                   public_key=None)
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys", json={"algorithm": "ed25519"})
    error = assert_error(response, 409, "ed25519_key_exists")
    assert "pm2" in error["message"]
    assert list(keys_of(signing.id)) == ["pm1", "pm2"]


def test_a_retired_ed25519_key_can_be_replaced(api, signing):
    DkimKeyFactory(domain=signing, selector="pm2", algorithm="ed25519", state=KeyState.RETIRED,
                   public_key=None)
    assert add_ed25519(api, signing.id)["selector"] == "pm3"


@pytest.mark.parametrize("algorithm", ["rsa-2048", "rsa-4096"])
def test_rsa_keys_are_replaced_by_rotation_not_added(api, signing, algorithm):
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys", json={"algorithm": algorithm})
    error = assert_error(response, 422, "dkim_use_rotate")
    assert "use rotate to replace the RSA key" in error["message"]
    assert error["fields"] == {"algorithm": "Use rotate to replace the RSA key."}
    assert list(keys_of(signing.id)) == ["pm1"]


@pytest.mark.parametrize("body, code", [
    ({"algorithm": "rsa-1024"}, "dkim_algorithm_refused"),
    ({"algorithm": "ED25519 "}, "dkim_algorithm_refused"),
    ({}, "validation_error"),
    ({"algorithm": 25519}, "validation_error"),
    ({"algorithm": "ed25519", "selector": "mine"}, "validation_error"),
])
def test_a_body_that_names_no_ed25519_key_is_a_422(api, signing, body, code):
    assert_error(api.post(f"/api/v1/domains/{signing.id}/dkim-keys", json=body), 422, code)
    assert list(keys_of(signing.id)) == ["pm1"]


def test_a_viewer_cannot_add_a_key(api, signing, redis_client):
    response = api.post(f"/api/v1/domains/{signing.id}/dkim-keys", json={"algorithm": "ed25519"},
                        headers=bearer(VIEWER_SECRET))
    assert_error(response, 403, "role_read_only")
    assert list(keys_of(signing.id)) == ["pm1"]
    assert queued_key_jobs(redis_client) == []


def test_a_domain_cannot_start_with_an_ed25519_key_alone(api):
    response = api.post("/api/v1/domains", json={"name": "example.com", "algorithm": "ed25519"})
    error = assert_error(response, 422, "dkim_algorithm_refused")
    assert "beside an RSA key" in error["message"] and "rsa-2048" in error["message"]
    assert db.session.scalar(select(Domain.id)) is None


def test_the_first_keys_selector_cannot_take_the_ed25519_keys(api, owner):
    domain = onboard(owner)
    add_ed25519(api, domain.id)
    with pytest.raises(Conflict) as refused:
        service.choose_setup(owner, db.session.get(Domain, domain.id),
                             service.SetupChoices(selector="pm2"))
    assert refused.value.code == "selector_taken" and "selector" in refused.value.fields


# --- dual signing, end to end against the test DNS server ---------------------------------

def test_the_ed25519_key_signs_once_dns_serves_it_beside_the_rsa_key(api, verified,
                                                                     zone_server):
    added = add_ed25519(api, verified.id)
    run_job(generate_dkim_key, added["id"])
    assert run_job(advance_key_rotations)["promoted"] == 0, "not in DNS yet"
    assert keys_of(verified.id)["pm2"].state == KeyState.PENDING

    keys = promote_published(zone_server, verified)
    assert keys["pm1"].state == KeyState.ACTIVE, "an Ed25519 key replaces no RSA key"
    assert keys["pm2"].state == KeyState.ACTIVE and keys["pm2"].activated_at
    assert "dkim_key.activated" in key_actions(keys["pm2"].id)


def test_dual_signed_mail_verifies_both_signatures_against_dns(api, verified, zone_server):
    dual_signing(api, zone_server, verified)
    message = EmailMessage()
    message["From"] = f"news@{ZONE}"
    message["To"] = "reader@example.org"
    message["Subject"] = "Two signatures"
    message.set_content("Signed with RSA and with Ed25519.")

    signed = sign_message(db.session.get(Domain, verified.id), message.as_bytes())

    headers = message_from_bytes(signed).get_all("DKIM-Signature")
    # Each signature is prepended: RSA signed first, so its header is the inner (second) one.
    assert [_tag(header, "a") for header in headers] == ["ed25519-sha256", "rsa-sha256"]
    assert [_tag(header, "s") for header in headers] == ["pm2", "pm1"]
    lookup = txt_from(zone_server)
    assert [verifies(signed, index, lookup) for index in (0, 1)] == [True, True]
    forged = signed.replace(b"Signed with RSA", b"Forged with RSA")
    assert [verifies(forged, index, lookup) for index in (0, 1)] == [False, False]


def verifies(message: bytes, index: int, lookup) -> bool:
    """Whether the index-th DKIM-Signature verifies, as a receiver would check it."""
    try:
        return dkimpy.DKIM(message).verify(idx=index, dnsfunc=lookup)
    except dkimpy.DKIMException:  # e.g. a body hash mismatch
        return False


def _tag(header: str, name: str) -> str:
    tags = dict(part.strip().split("=", 1) for part in "".join(header.split()).split(";") if part)
    return tags[name]


def test_an_ed25519_key_added_before_verification_signs_from_verification_on(api, owner,
                                                                              zone_server):
    domain = onboard(owner)
    added = add_ed25519(api, domain.id)
    run_job(generate_dkim_key, added["id"])
    publish(zone_server, service.expected_records(db.session.get(Domain, domain.id)))
    run_job(verify_domain, domain.id)
    keys = keys_of(domain.id)
    assert keys["pm1"].domain.status == DomainStatus.VERIFIED
    assert (keys["pm1"].state, keys["pm2"].state) == (KeyState.ACTIVE, KeyState.ACTIVE)


def test_a_rotation_replaces_only_the_rsa_key(api, verified, zone_server):
    dual_signing(api, zone_server, verified)
    rotated = api.post(f"/api/v1/domains/{verified.id}/dkim-keys/rotate").get_json()
    assert (rotated["selector"], rotated["algorithm"]) == ("pm3", "rsa-2048")
    run_job(generate_dkim_key, rotated["id"])
    keys = promote_published(zone_server, verified)
    assert {selector: key.state for selector, key in keys.items()} == {
        "pm1": KeyState.RETIRING, "pm2": KeyState.ACTIVE, "pm3": KeyState.ACTIVE}


# --- PATCH /domains/{id} -------------------------------------------------------------------

def test_the_rotation_cadence_can_be_set_and_cleared(api, signing):
    response = api.patch(f"/api/v1/domains/{signing.id}", json={"dkim_rotation_days": 90})
    assert response.status_code == 200
    assert response.get_json()["dkim_rotation_days"] == 90
    assert response.get_json()["dns_records"], "the full domain, as GET shows it"
    assert api.get(f"/api/v1/domains/{signing.id}").get_json()["dkim_rotation_days"] == 90

    cleared = api.patch(f"/api/v1/domains/{signing.id}", json={"dkim_rotation_days": None})
    assert cleared.status_code == 200 and cleared.get_json()["dkim_rotation_days"] is None
    changes = db.session.scalars(select(AuditEvent.after).where(
        AuditEvent.action == "domain.rotation_cadence_changed",
        AuditEvent.object_id == str(signing.id)).order_by(AuditEvent.id)).all()
    assert changes == [{"dkim_rotation_days": 90}, {"dkim_rotation_days": None}]


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_a_cadence_out_of_range_is_a_422(api, signing, days):
    response = api.patch(f"/api/v1/domains/{signing.id}", json={"dkim_rotation_days": days})
    error = assert_error(response, 422, "rotation_cadence_out_of_range")
    assert error["fields"] == {"dkim_rotation_days": "Out of range."}
    assert "3650" in error["message"]
    db.session.expire_all()
    assert db.session.get(Domain, signing.id).dkim_rotation_days is None


@pytest.mark.parametrize("body", [{}, {"dkim_rotation_days": "90"}, {"dkim_rotation_days": 1.5},
                                  {"dkim_rotation_days": True},
                                  {"dkim_rotation_days": 90, "name": "other.example"}])
def test_a_patch_of_the_wrong_shape_is_a_422(api, signing, body):
    assert_error(api.patch(f"/api/v1/domains/{signing.id}", json=body), 422, "validation_error")


def test_a_viewer_cannot_change_the_cadence(api, signing):
    response = api.patch(f"/api/v1/domains/{signing.id}", json={"dkim_rotation_days": 90},
                         headers=bearer(VIEWER_SECRET))
    assert_error(response, 403, "role_read_only")
    db.session.expire_all()
    assert db.session.get(Domain, signing.id).dkim_rotation_days is None


# --- what every new endpoint shares -------------------------------------------------------

NEW_ENDPOINTS = [("post", "/api/v1/domains/{id}/dkim-keys/rotate"),
                 ("post", "/api/v1/domains/{id}/dkim-keys"),
                 ("patch", "/api/v1/domains/{id}")]


@pytest.mark.parametrize("method, path", NEW_ENDPOINTS)
def test_the_new_endpoints_need_a_token(client, signing, method, path):
    response = getattr(client, method)(path.format(id=signing.id), json={})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("method, path", NEW_ENDPOINTS[1:])
def test_malformed_json_is_a_400(api, signing, method, path):
    response = getattr(api, method)(path.format(id=signing.id), data=b'{"algorithm": ',
                                    content_type="application/json")
    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/v1/domains/{id}/dkim-keys/rotate", None),
    ("post", "/api/v1/domains/{id}/dkim-keys", {"algorithm": "ed25519"}),
    ("patch", "/api/v1/domains/{id}", {"dkim_rotation_days": 90}),
])
def test_another_workspaces_domain_is_not_found(api, method, path, body):
    foreign = DkimKeyFactory(domain__workspace=WorkspaceFactory(name="Other Corp")).domain
    response = getattr(api, method)(path.format(id=foreign.id), json=body)
    assert_error(response, 404, "not_found")
    assert list(keys_of(foreign.id)) == ["pm1"]
    assert db.session.get(Domain, foreign.id).dkim_rotation_days is None


def test_new_keys_are_shown_without_their_private_half(api, signing):
    texts = [api.post(f"/api/v1/domains/{signing.id}/dkim-keys",
                      json={"algorithm": "ed25519"}).get_data(as_text=True),
             api.post(f"/api/v1/domains/{signing.id}/dkim-keys/rotate").get_data(as_text=True)]
    assert not any("private" in text or "PRIVATE KEY" in text for text in texts)


def test_the_openapi_document_lists_the_key_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    rotate = paths["/api/v1/domains/{domain_id}/dkim-keys/rotate"]["post"]
    add = paths["/api/v1/domains/{domain_id}/dkim-keys"]["post"]
    patch = paths["/api/v1/domains/{domain_id}"]["patch"]
    assert set(rotate["responses"]) >= {"202", "404", "409"}
    assert set(add["responses"]) >= {"201", "404", "409", "422"}
    assert set(patch["responses"]) >= {"200", "404", "422"}
    assert all(operation["summary"] for operation in (rotate, add, patch))
    schemas = spec["components"]["schemas"]
    assert schemas["DkimKeyIn"]["properties"]["algorithm"]["enum"] == ["ed25519"]
    assert "ed25519" not in schemas["DomainIn"]["properties"]["algorithm"]["enum"]
    cadence = schemas["DomainPatchIn"]["properties"]["dkim_rotation_days"]
    assert (cadence["minimum"], cadence["maximum"]) == (1, 3650)
