"""Onboarding end to end: add a domain, generate its key, publish the records on a real
DNS server on loopback, run the verification job, and sign mail with the key."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import dkim as dkimpy
import dns.message
import dns.query
import dns.rdatatype
import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app.adapters.keystore import SecretNotFound
from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.records import Purpose
from app.domains import service
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainStatus, KeyState
from app.domains.signing import sign_message
from app.domains.tasks import (
    destroy_private_keys,
    generate_dkim_key,
    send_verification_failed_email,
    verify_domain,
)
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db, keystore
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory
from tests.onboarding import ZONE, actor_for, onboard, publish, run_job


def test_adding_a_domain_queues_its_key_job_only_after_commit(owner, redis_client):
    keys_queue = Queue("keys", connection=redis_client)
    domain = service.add_domain(owner, "  Example.TEST. ")
    assert domain.fqdn == "example.test"
    assert keys_queue.count == 0
    commit()
    assert keys_queue.count == 1
    assert keys_queue.jobs[0].func_name == "app.domains.tasks.generate_dkim_key"


@pytest.mark.parametrize("name, code", [
    ("co.uk", "domain_public_suffix"),
    ("192.0.2.1", "domain_ip_address"),
    ("https://example.test/path", "domain_url_not_domain"),
    ("exa mple.test", "domain_not_a_hostname"),
    ("", "domain_empty"),
])
def test_unacceptable_names_are_refused_with_a_code_and_nothing_is_stored(owner, name, code):
    with pytest.raises(ValidationFailed) as refused:
        service.add_domain(owner, name)
    assert refused.value.code == code
    assert db.session.scalar(select(Domain).where(Domain.workspace_id == owner.workspace.id)) is None


def test_a_domain_already_in_the_workspace_is_a_conflict(owner):
    service.add_domain(owner, ZONE)
    with pytest.raises(Conflict, match="already in this workspace"):
        service.add_domain(owner, "EXAMPLE.test")


def test_a_domain_verified_by_another_workspace_is_taken_without_saying_by_whom(owner):
    other = actor_for(workspace=WorkspaceFactory(name="Rival Inc"))
    theirs = service.add_domain(other, ZONE)
    theirs.status = DomainStatus.VERIFIED
    with pytest.raises(Conflict) as taken:
        service.add_domain(owner, ZONE)
    assert taken.value.code == "domain_taken"
    assert "Rival" not in taken.value.message and other.workspace.slug not in taken.value.message


def test_viewers_cannot_add_domains(app):
    with pytest.raises(PermissionDenied):
        service.add_domain(actor_for(Role.VIEWER), ZONE)


def test_another_workspace_gets_not_found_for_a_domain(owner):
    domain = service.add_domain(owner, ZONE)
    stranger = actor_for()
    with pytest.raises(NotFound):
        Domain.get_for(stranger.workspace.id, domain.id)


def test_the_key_job_keeps_the_private_key_in_the_key_store_only(owner):
    domain = onboard(owner)
    key = domain.keys[0]
    assert key.state == KeyState.PENDING
    assert key.private_key_ref.startswith("local:")
    private_pem = keystore().get(key.private_key_ref)
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    row_text = " ".join(str(getattr(key, c.key)) for c in DkimKey.__table__.columns)
    assert "PRIVATE KEY" not in row_text
    assert generate_dkim_key(key.id) is None, "running the job twice changes nothing"


def test_publishing_every_record_verifies_the_domain_and_activates_its_key(owner, zone_server):
    domain = onboard(owner)
    publish(zone_server, service.expected_records(domain))
    service.request_check(owner, domain)
    commit()

    outcome = run_job(verify_domain, domain.id)

    domain = db.session.get(Domain, domain.id)
    assert outcome["status"] == "verified", db.session.scalars(select(DnsSnapshot)).all()[-1].results
    assert domain.status == DomainStatus.VERIFIED and domain.verified_at is not None
    assert domain.keys[0].state == KeyState.ACTIVE
    snapshot = service.latest_snapshot(domain)
    assert {r["status"] for r in snapshot.results} == {"found"}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "domain.verified"))


def test_missing_records_keep_verifying_and_schedule_a_recheck(owner, zone_server, redis_client):
    domain = onboard(owner)
    records = service.expected_records(domain)
    publish(zone_server, [r for r in records if r.purpose != Purpose.DKIM])
    service.request_check(owner, domain)
    commit()

    run_job(verify_domain, domain.id)

    domain = db.session.get(Domain, domain.id)
    assert domain.status == DomainStatus.VERIFYING
    assert domain.next_check_at is not None
    dkim_result = next(r for r in service.latest_snapshot(domain).results
                       if r["purpose"] == Purpose.DKIM)
    assert dkim_result["status"] == "missing"
    assert f"recheck-{domain.id}" in ScheduledJobRegistry("dns", connection=redis_client).get_job_ids()


def test_a_dns_timeout_is_reported_as_an_error_never_as_missing(owner, zone_server):
    domain = onboard(owner)
    zone_server.fail(None, "drop")
    service.request_check(owner, domain)
    commit()

    run_job(verify_domain, domain.id)

    results = service.latest_snapshot(db.session.get(Domain, domain.id)).results
    assert {r["status"] for r in results} == {"error"}


def test_after_the_window_the_domain_fails_and_owners_are_emailed(owner, zone_server, app, redis_client):
    domain = onboard(owner)
    service.request_check(owner, domain)
    commit()
    domain.verification_started_at = utcnow() - timedelta(hours=73)
    commit()

    run_job(verify_domain, domain.id)

    domain = db.session.get(Domain, domain.id)
    assert domain.status == DomainStatus.FAILED and domain.failed_at is not None
    assert Queue("mail", connection=redis_client).count == 1
    sent = send_verification_failed_email(domain.id)
    assert sent == [owner.user.email]


def test_deleting_a_domain_destroys_its_private_keys_after_commit(owner, redis_client):
    domain = onboard(owner)
    ref = domain.keys[0].private_key_ref
    service.delete_domain(owner, domain)
    commit()
    assert db.session.get(Domain, domain.id) is None
    job = Queue("keys", connection=redis_client).jobs[-1]
    assert job.func_name == "app.domains.tasks.destroy_private_keys"
    run_job(destroy_private_keys, *job.args)
    with pytest.raises(SecretNotFound):
        keystore().get(ref)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "domain.deleted"))


def test_signed_mail_verifies_against_the_key_served_by_dns(owner, zone_server):
    domain = onboard(owner)
    publish(zone_server, service.expected_records(domain))
    service.request_check(owner, domain)
    commit()
    run_job(verify_domain, domain.id)
    domain = db.session.get(Domain, domain.id)

    message = EmailMessage()
    message["From"] = f"news@{ZONE}"
    message["To"] = "reader@example.org"
    message["Subject"] = "Hello"
    message.set_content("Signed by PenguinMails.")
    signed = sign_message(domain, message.as_bytes())

    host, port = zone_server.address

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        response = dns.query.udp(query, host, port=port, timeout=2)
        return b"".join(b"".join(rdata.strings) for rrset in response.answer
                        if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset)

    assert dkimpy.verify(signed, dnsfunc=dnsfunc)


def test_a_domain_without_an_active_key_cannot_sign(owner):
    domain = onboard(owner)
    with pytest.raises(Conflict, match="no active DKIM key"):
        sign_message(domain, b"From: a@example.test\r\n\r\nhi\r\n")
