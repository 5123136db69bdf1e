"""Certificates for tracking hosts from a real ACME server: Debian's pebble on loopback.

Pebble resolves the tracking host through the test DNS server (CNAME → platform host →
127.0.0.1) and fetches its HTTP-01 answer from the portal itself, served by a real HTTP server.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app.adapters.keystore import SecretNotFound
from app.core.clock import utcnow
from app.core.tracking_certs import key_matches, parse_chain
from app.domains.models import DomainStatus
from app.extensions import db, keystore
from app.jobs.queues import get_queue
from app.tracking import service
from app.tracking.models import AcmeAccount, HostStatus, TrackingHost
from app.tracking.tasks import check_host, issue_certificate, renew_due_certificates
from app.uow import commit
from tests.factories import DomainFactory, api_token
from tests.helpers import login
from tests.integration.conftest import free_port
from tests.integration.test_jobs import burst
from tests.onboarding import run_job
from tests.pebble import (PLATFORM_HOST, acme_ca, challenge_server,  # noqa: F401
                          pebble, tracking_zone)

DOMAIN = "example.test"
HOST = f"track.{DOMAIN}"


@pytest.fixture
def published(owner, tracking_zone) -> TrackingHost:
    """track.example.test under a verified domain, its CNAME published, added by the owner."""
    domain = DomainFactory(workspace=owner.workspace, fqdn=DOMAIN, status=DomainStatus.VERIFIED)
    tracking_zone.set_record(f"{HOST}.", "CNAME", f"{PLATFORM_HOST}.")
    host = service.add_host(owner, domain, "track")
    commit()
    return host


def issue(host_id: int) -> TrackingHost:
    assert run_job(check_host, host_id)["status"] == "issuing"
    run_job(issue_certificate, host_id)
    return db.session.get(TrackingHost, host_id)


def test_a_certificate_is_issued_for_a_host_whose_cname_reaches_us(acme_ca, published):
    host = issue(published.id)
    assert host.status == HostStatus.ACTIVE
    assert (host.error_code, host.attempts, host.next_attempt_at) == (None, 0, None)
    leaf, *rest = parse_chain(host.certificate_chain)
    # The chain: our leaf, signed by this pebble's intermediate.
    assert rest and rest[0] == acme_ca.intermediate()
    leaf.verify_directly_issued_by(acme_ca.intermediate())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [HOST]
    assert host.certificate_serial == format(leaf.serial_number, "x")
    assert (host.not_before, host.not_after) == (leaf.not_valid_before_utc,
                                                 leaf.not_valid_after_utc)
    assert key_matches(keystore().get(host.private_key_ref), leaf)
    assert db.session.scalar(select(AcmeAccount.uri)).startswith(acme_ca.directory_url[:-4])


def test_the_private_key_lives_only_in_the_key_store(acme_ca, published, client, owner, caplog):
    caplog.set_level(logging.DEBUG)
    host = issue(published.id)
    key_pem = keystore().get(host.private_key_ref)
    key_body = b"".join(key_pem.splitlines()[1:-1]).decode()
    account_key = keystore().get(db.session.scalar(select(AcmeAccount.key_ref)))
    secrets = ("PRIVATE KEY", key_body[:40], b"".join(account_key.splitlines()[1:2]).decode())
    stored = [value for row in db.session.execute(select(TrackingHost.__table__)).all()
              + db.session.execute(select(AcmeAccount.__table__)).all() for value in row]
    secret = api_token(owner.user, owner.workspace)
    login(client, owner.user)
    pages = [client.get(f"/api/v1/tracking-hosts/{host.id}",
                        headers={"Authorization": f"Bearer {secret}"}).get_data(as_text=True),
             client.get(f"/w/{owner.workspace.slug}/tracking/domains/{host.domain_id}")
             .get_data(as_text=True)]
    assert HOST in pages[0] and HOST in pages[1]
    for text in [*map(str, stored), *pages, caplog.text]:
        for fragment in secrets:
            assert fragment not in text
    assert host.private_key_ref not in pages[0] + pages[1]


def test_a_due_certificate_is_renewed_by_the_sweep_and_the_old_key_destroyed(
        app, acme_ca, published, monkeypatch):
    first = issue(published.id)
    old_serial, old_key_ref = first.certificate_serial, first.private_key_ref
    assert run_job(renew_due_certificates) == 0  # nothing is due yet
    # Force it due: renew anything ending within the next ten years.
    monkeypatch.setitem(app.config, "TRACKING_RENEW_DAYS", 3650)
    assert run_job(renew_due_certificates) == 1
    burst("dns", "default")  # the check, then the order it hands over to
    db.session.expire_all()
    renewed = db.session.get(TrackingHost, published.id)
    assert renewed.status == HostStatus.ACTIVE
    assert renewed.certificate_serial != old_serial
    assert renewed.private_key_ref != old_key_ref
    assert key_matches(keystore().get(renewed.private_key_ref),
                       parse_chain(renewed.certificate_chain)[0])
    assert keystore().get(old_key_ref)  # until the key job runs after the commit
    burst("keys")
    with pytest.raises(SecretNotFound):
        keystore().get(old_key_ref)


class _NotFoundServer(BaseHTTPRequestHandler):
    """Some other web server in front of the host: it knows nothing of ACME."""

    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def other_web_server(challenge_server):
    server = HTTPServer(("127.0.0.2", challenge_server), _NotFoundServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answering, code, words", [
    ("nothing", "acme_connection", "could not connect to track.example.test"),
    ("another web server", "acme_unauthorized", "did not get our answer"),
])
def test_a_failed_challenge_is_shown_in_plain_words_and_retried_later(
        request, acme_ca, published, tracking_zone, answering, code, words):
    # The CNAME is right, but the platform name leads to an address where we do not answer.
    tracking_zone.set_record(f"{PLATFORM_HOST}.", "A", "127.0.0.2")
    if answering == "another web server":
        request.getfixturevalue("other_web_server")
    run_job(check_host, published.id)
    outcome = run_job(issue_certificate, published.id)  # a value, not an exception RQ retries
    host = db.session.get(TrackingHost, published.id)
    assert outcome == {"status": "failed", "error": code}
    assert host.status == HostStatus.FAILED
    assert host.error_code == code and words in host.error_message
    assert f"is a CNAME to {PLATFORM_HOST}" in host.error_fix
    assert host.certificate_chain is None and host.private_key_ref is None
    assert host.attempts == 1
    assert timedelta(seconds=290) < host.next_attempt_at - utcnow() <= timedelta(seconds=300)
    # The next try waits for the back-off: the sweep leaves the host alone until then.
    scheduled = ScheduledJobRegistry(queue=get_queue("dns")).get_job_ids()
    assert f"tracking-recheck-{host.id}" in scheduled
    assert run_job(renew_due_certificates) == 0
    run_job(check_host, published.id)
    run_job(issue_certificate, published.id)
    host = db.session.get(TrackingHost, published.id)
    assert host.attempts == 2 and host.status == HostStatus.FAILED
    assert timedelta(seconds=1790) < host.next_attempt_at - utcnow() <= timedelta(seconds=1800)


def test_a_ca_outage_during_renewal_keeps_the_certificate_and_is_retried(
        app, acme_ca, published, monkeypatch):
    before = issue(published.id)
    kept = (before.certificate_chain, before.private_key_ref, before.not_after)
    monkeypatch.setitem(app.config, "TRACKING_RENEW_DAYS", 3650)
    unreachable = f"https://127.0.0.1:{free_port()}/dir"
    monkeypatch.setitem(app.config, "ACME_DIRECTORY_URL", unreachable)
    run_job(check_host, published.id)
    assert run_job(issue_certificate, published.id)["error"] == "acme_unavailable"
    host = db.session.get(TrackingHost, published.id)
    # Years of validity left: it keeps serving, the failed renewal is shown, nothing is lost.
    assert host.status == HostStatus.ACTIVE
    assert host.error_message == f"We could not reach the certificate authority: could not " \
                                 f"connect to {unreachable}."
    assert host.error_fix == "Nothing to change: we retry automatically."
    assert (host.certificate_chain, host.private_key_ref, host.not_after) == kept
    assert keystore().get(host.private_key_ref)
    assert host.next_attempt_at > utcnow()
    assert service.served_host(HOST).https

    # The CA is back and the back-off is over: the next sweep renews.
    monkeypatch.setitem(app.config, "ACME_DIRECTORY_URL", acme_ca.directory_url)
    host.next_attempt_at = utcnow() - timedelta(seconds=1)
    commit()
    assert run_job(renew_due_certificates) == 1
    burst("dns", "default")
    db.session.expire_all()
    host = db.session.get(TrackingHost, published.id)
    assert host.status == HostStatus.ACTIVE and host.error_code is None
    assert host.private_key_ref != kept[1]
