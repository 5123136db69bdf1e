"""Tracking hosts: adding them, their CNAME and CAA checks, failures with back-off and alerts,
the allow-list behind "ask", the portal pages, the API and the certificate export.

Certificates from a real CA are in test_tracking_acme.py; here the CA is either unreachable
or not needed.
"""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from app.adapters.keystore import SecretNotFound
from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.tracking_certs import key_matches, new_certificate_key, parse_chain
from app.domains.models import Domain, DomainStatus
from app.errors import Conflict, PermissionDenied, ValidationFailed
from app.extensions import db, keystore, redis_connection
from app.jobs.queues import get_queue
from app.monitoring.models import Alert
from app.tracking import service
from app.tracking.challenges import HostChallengeAnswers
from app.tracking.models import HostStatus, TrackingHost
from app.tracking.tasks import check_host, issue_certificate, renew_due_certificates
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import DomainFactory, api_token
from tests.helpers import login
from tests.integration.conftest import free_port
from tests.integration.test_jobs import burst
from tests.onboarding import actor_for, run_job
from tests.pebble import CAA_IDENTITY, PLATFORM_HOST, tracking_zone  # noqa: F401
from tests.unit.test_tracking_certs import issue as self_issued_chain

DOMAIN = "example.test"
HOST = f"track.{DOMAIN}"


@pytest.fixture
def domain(owner) -> Domain:
    return DomainFactory(workspace=owner.workspace, fqdn=DOMAIN, status=DomainStatus.VERIFIED)


@pytest.fixture
def unreachable_ca(app, monkeypatch) -> str:
    url = f"https://127.0.0.1:{free_port()}/dir"
    monkeypatch.setitem(app.config, "ACME_DIRECTORY_URL", url)
    return url


def add(owner, domain, name: str = "track") -> TrackingHost:
    host = service.add_host(owner, domain, name)
    commit()
    return host


def publish_cname(zone, target: str = PLATFORM_HOST) -> None:
    zone.set_record(f"{HOST}.", "CNAME", f"{target}.")


def with_certificate(host: TrackingHost, days_left: float) -> str:
    """Give the host a certificate (self-signed here) ending in `days_left` days; its key ref."""
    key = new_certificate_key()
    host.certificate_chain = self_issued_chain(key, [host.hostname])
    host.private_key_ref = keystore().put("test/tracking", key)
    host.certificate_serial = "beef"
    host.not_after = utcnow() + timedelta(days=days_left)
    host.status = HostStatus.ACTIVE
    host.next_attempt_at = None
    commit()
    return host.private_key_ref


def queued_ids(queue: str) -> list[str]:
    return get_queue(queue).job_ids


# --- adding ----------------------------------------------------------------------------------

def test_a_host_is_added_under_its_domain_and_checked_at_once(owner, domain):
    host = add(owner, domain)
    assert (host.hostname, host.status, host.workspace_id) == (HOST, HostStatus.PENDING,
                                                              owner.workspace.id)
    assert host.next_attempt_at > utcnow()  # the sweep's safety net
    [job_id] = queued_ids("dns")
    assert job_id.startswith(service.check_job_prefix(host.id))
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.object_type == "tracking_host")) == "tracking_host.added"


@pytest.mark.parametrize("typed, code", [("links.other.test", "tracking_host_outside_domain"),
                                         (DOMAIN, "tracking_host_is_apex"),
                                         ("", "tracking_host_required")])
def test_a_host_that_is_not_under_the_domain_is_refused_and_nothing_is_stored(owner, domain,
                                                                              typed, code):
    with pytest.raises(ValidationFailed) as refused:
        service.add_host(owner, domain, typed)
    assert refused.value.code == code and refused.value.fields["hostname"]
    assert db.session.scalar(select(func.count()).select_from(TrackingHost)) == 0
    assert queued_ids("dns") == []


def test_a_host_name_belongs_to_one_workspace(owner, domain):
    add(owner, domain)
    with pytest.raises(Conflict) as again:
        service.add_host(owner, domain, HOST)
    assert again.value.code == "tracking_host_exists"
    rival = actor_for()
    rival_domain = DomainFactory(workspace=rival.workspace, fqdn=DOMAIN)
    with pytest.raises(Conflict) as taken:
        service.add_host(rival, rival_domain, "track")
    assert taken.value.code == "tracking_host_taken"


def test_viewers_cannot_add_or_remove_hosts(owner, domain):
    host = add(owner, domain)
    viewer = actor_for(Role.VIEWER, owner.workspace)
    with pytest.raises(PermissionDenied):
        service.add_host(viewer, domain, "links")
    with pytest.raises(PermissionDenied):
        service.remove_host(viewer, host)


# --- the DNS check ---------------------------------------------------------------------------

def test_a_host_whose_cname_reaches_us_moves_on_to_its_certificate_order(owner, domain,
                                                                        tracking_zone):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    assert run_job(check_host, host.id) == {"status": "issuing", "findings": []}
    host = db.session.get(TrackingHost, host.id)
    assert host.status == HostStatus.ISSUING and host.findings == []
    assert queued_ids("default") == [f"tracking-issue-{host.id}"]


def test_a_cname_chain_through_another_alias_reaches_us_too(owner, domain, tracking_zone):
    host = add(owner, domain)
    publish_cname(tracking_zone, "links.cdn.test")
    tracking_zone.set_record("links.cdn.test.", "CNAME", f"{PLATFORM_HOST}.")
    assert run_job(check_host, host.id)["status"] == "issuing"


def test_a_cname_to_somewhere_else_is_refused_with_the_fix(owner, domain, tracking_zone):
    host = add(owner, domain)
    publish_cname(tracking_zone, "old-tracker.test")
    tracking_zone.set_record("old-tracker.test.", "A", "192.0.2.80")
    assert run_job(check_host, host.id) == {"status": "pending",
                                            "findings": ["TRACKING_CNAME_WRONG"]}
    host = db.session.get(TrackingHost, host.id)
    [finding] = host.findings
    assert finding["message"].startswith(f"{HOST} is an alias of old-tracker.test instead of "
                                         f"{PLATFORM_HOST}")
    assert finding["fix"] == f"Change the CNAME target to: {PLATFORM_HOST}"
    assert queued_ids("default") == []  # nothing is asked of the CA
    assert host.attempts == 1 and host.next_attempt_at > utcnow()


def test_a_missing_cname_keeps_the_host_waiting(owner, domain, tracking_zone):
    host = add(owner, domain)
    run_job(check_host, host.id)
    host = db.session.get(TrackingHost, host.id)
    assert host.status == HostStatus.PENDING
    assert host.findings[0]["fix"] == (f"Publish a CNAME record at {HOST} with the value: "
                                       f"{PLATFORM_HOST}")


def test_a_caa_record_that_forbids_our_ca_is_a_finding_with_the_fix(owner, domain,
                                                                    tracking_zone):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    tracking_zone.set_record(f"{DOMAIN}.", "CAA", '0 issue "letsencrypt.org"')
    assert run_job(check_host, host.id)["findings"] == ["TRACKING_CAA_FORBIDS"]
    host = db.session.get(TrackingHost, host.id)
    [finding] = host.findings
    assert finding["record"] == {"host": DOMAIN, "type": "CAA"}
    assert "letsencrypt.org" in finding["message"]
    assert finding["fix"].startswith(f'Add a CAA record at {DOMAIN}: 0 issue "{CAA_IDENTITY}"')
    assert host.status == HostStatus.PENDING and queued_ids("default") == []

    # Publishing the record the fix names lets the order go ahead.
    tracking_zone.set_record(f"{DOMAIN}.", "CAA", ['0 issue "letsencrypt.org"',
                                                   f'0 issue "{CAA_IDENTITY}"'])
    assert run_job(check_host, host.id) == {"status": "issuing", "findings": []}


def test_a_host_of_an_unverified_domain_waits_for_the_verification(owner, tracking_zone):
    domain = DomainFactory(workspace=owner.workspace, fqdn=DOMAIN, status=DomainStatus.VERIFYING)
    host = add(owner, domain)
    publish_cname(tracking_zone)
    assert run_job(check_host, host.id)["findings"] == ["TRACKING_DOMAIN_NOT_VERIFIED"]
    assert db.session.get(TrackingHost, host.id).status == HostStatus.PENDING


def test_a_dns_failure_is_not_mistaken_for_a_wrong_cname(owner, domain, tracking_zone):
    host = add(owner, domain)
    tracking_zone.fail(HOST, "servfail")
    assert run_job(check_host, host.id)["findings"] == ["DNS_SERVFAIL"]
    host = db.session.get(TrackingHost, host.id)
    assert host.findings[0]["fix"] == "Nothing to change yet; we retry."


# --- failures, back-off and alerts -----------------------------------------------------------

def test_a_ca_outage_fails_a_new_host_with_a_clear_status_and_retries_later(
        owner, domain, tracking_zone, unreachable_ca):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    run_job(check_host, host.id)
    assert run_job(issue_certificate, host.id) == {"status": "failed",
                                                   "error": "acme_unavailable"}
    host = db.session.get(TrackingHost, host.id)
    assert host.status == HostStatus.FAILED
    assert host.error_message == (f"We could not reach the certificate authority: could not "
                                  f"connect to {unreachable_ca}.")
    assert host.attempts == 1 and host.next_attempt_at > utcnow()
    # Running the order again (a stray retry) does nothing: the host is no longer issuing.
    assert run_job(issue_certificate, host.id) is None


def test_a_failing_renewal_close_to_the_end_marks_the_host_expiring_and_alerts_once(
        owner, domain, tracking_zone, unreachable_ca):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    key_ref = with_certificate(host, days_left=10)
    for attempt in (1, 2):
        run_job(check_host, host.id)
        run_job(issue_certificate, host.id)
        host = db.session.get(TrackingHost, host.id)
        assert host.status == HostStatus.EXPIRING and host.attempts == attempt
    [alert] = db.session.scalars(select(Alert)).all()
    assert alert.kind == "tracking_certificate_expiring" and alert.domain_id == domain.id
    assert alert.subject == (f"The certificate of {HOST} expires in 9 days and renewal is "
                             "failing")
    assert alert.payload["reason"].startswith("We could not reach the certificate authority")
    assert host.private_key_ref == key_ref and keystore().get(key_ref)
    assert service.served_host(HOST).https  # still serving meanwhile


def test_a_renewal_failing_with_weeks_left_keeps_the_host_active_without_alert(
        owner, domain, tracking_zone, unreachable_ca):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    with_certificate(host, days_left=25)  # within the 30-day renewal window
    run_job(check_host, host.id)
    run_job(issue_certificate, host.id)
    host = db.session.get(TrackingHost, host.id)
    assert host.status == HostStatus.ACTIVE and host.error_code == "acme_unavailable"
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_an_expired_certificate_whose_renewal_fails_is_failed(owner, domain, tracking_zone,
                                                              unreachable_ca):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    with_certificate(host, days_left=-1)
    run_job(check_host, host.id)
    run_job(issue_certificate, host.id)
    host = db.session.get(TrackingHost, host.id)
    assert host.status == HostStatus.FAILED
    assert not service.served_host(HOST).https


def test_an_active_host_not_due_for_renewal_is_only_checked(owner, domain, tracking_zone):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    with_certificate(host, days_left=80)
    assert run_job(check_host, host.id) == {"status": "active", "findings": []}
    assert queued_ids("default") == []


def test_the_sweep_checks_hosts_whose_back_off_is_over_or_that_are_due_once(owner, domain):
    waiting = add(owner, domain, "waiting")
    due = add(owner, domain, "due")
    fine = add(owner, domain, "fine")
    retry = add(owner, domain, "retry")
    with_certificate(due, days_left=20)
    with_certificate(fine, days_left=80)
    retry.next_attempt_at = utcnow() - timedelta(minutes=1)
    commit()
    get_queue("dns").empty()
    assert run_job(renew_due_certificates) == 2
    assert sorted(queued_ids("dns")) == sorted([f"tracking-sweep-{due.id}",
                                                f"tracking-sweep-{retry.id}"])
    assert waiting.id not in {int(i.rsplit("-", 1)[1]) for i in queued_ids("dns")}
    assert run_job(renew_due_certificates) == 0  # still queued from the last sweep


def test_removing_a_host_destroys_its_key_after_the_commit(owner, domain):
    host = add(owner, domain)
    key_ref = with_certificate(host, days_left=80)
    service.remove_host(owner, host)
    assert keystore().get(key_ref)  # nothing happens before the commit
    commit()
    burst("keys")
    with pytest.raises(SecretNotFound):
        keystore().get(key_ref)
    assert db.session.get(TrackingHost, host.id) is None


# --- what the hosts serve: challenges, the allow-list, "ask" -------------------------------

def test_a_challenge_answer_is_served_only_on_its_own_host(client):
    answers = HostChallengeAnswers(HOST)
    answers.publish("token-1", "token-1.thumbprint")
    url = "/.well-known/acme-challenge/token-1"
    response = client.get(url, headers={"Host": f"{HOST}:80"})
    assert response.status_code == 200 and response.data == b"token-1.thumbprint"
    assert response.mimetype == "text/plain"
    assert client.get(url, headers={"Host": "other.example.test"}).status_code == 404
    answers.withdraw("token-1")
    assert client.get(url, headers={"Host": HOST}).status_code == 404


def test_ask_allows_hosts_whose_cname_reaches_us(app, client, owner, domain):
    pending, active = add(owner, domain, "pending"), add(owner, domain, "active")
    with_certificate(active, days_left=80)
    answers = {name: client.get(f"/tracking/ask?domain={name}").status_code for name in (
        pending.hostname, active.hostname, active.hostname.upper() + ".",
        app.config["PLATFORM_TRACKING_HOST"], "unknown.example.test")}
    assert answers == {pending.hostname: 404, active.hostname: 200,
                       active.hostname.upper() + ".": 200,
                       app.config["PLATFORM_TRACKING_HOST"]: 200, "unknown.example.test": 404}
    assert client.get("/tracking/ask").status_code == 400


def test_the_allow_list_is_cached_and_forgotten_when_hosts_change(client, owner, domain):
    host = add(owner, domain)
    with_certificate(host, days_left=80)
    assert client.get(f"/tracking/ask?domain={HOST}").status_code == 200
    assert redis_connection().exists(service.ALLOW_LIST_KEY)
    # A change behind the service's back is not seen until the cache goes...
    db.session.execute(TrackingHost.__table__.update().values(status=HostStatus.PENDING.value))
    commit()
    assert client.get(f"/tracking/ask?domain={HOST}").status_code == 200
    # ...while a change through the service forgets it once committed.
    service.remove_host(owner, db.session.get(TrackingHost, host.id))
    assert redis_connection().exists(service.ALLOW_LIST_KEY)
    commit()
    assert not redis_connection().exists(service.ALLOW_LIST_KEY)
    assert client.get(f"/tracking/ask?domain={HOST}").status_code == 404


# --- the portal pages ------------------------------------------------------------------------

def page_url(owner, domain) -> str:
    return f"/w/{owner.workspace.slug}/tracking/domains/{domain.id}"


def test_the_domain_page_shows_each_host_with_its_cname_status_and_fix(client, owner, domain,
                                                                      tracking_zone):
    host = add(owner, domain)
    run_job(check_host, host.id)
    login(client, owner.user)
    page = client.get(page_url(owner, domain)).get_data(as_text=True)
    assert HOST in page and PLATFORM_HOST in page and "waiting for CNAME" in page
    assert f"Publish a CNAME record at {HOST} with the value: {PLATFORM_HOST}" in page
    assert "Check CNAME" in page
    overview = client.get(f"/w/{owner.workspace.slug}/tracking/").get_data(as_text=True)
    assert HOST in overview and DOMAIN in overview


def test_adding_a_host_on_the_page(client, owner, domain):
    login(client, owner.user)
    response = client.post(page_url(owner, domain), data={"hostname": "links"})
    assert response.status_code == 302 and response.headers["Location"] == page_url(owner, domain)
    assert db.session.scalar(select(TrackingHost.hostname)) == f"links.{DOMAIN}"
    fragment = client.post(page_url(owner, domain), data={"hostname": "track"},
                           headers={"HX-Request": "true", "HX-Target": "tracking-hosts"})
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="tracking-hosts"') and HOST in html


def test_a_host_outside_the_domain_is_refused_on_the_page_next_to_the_field(client, owner,
                                                                           domain):
    login(client, owner.user)
    response = client.post(page_url(owner, domain), data={"hostname": "track.other.test"})
    assert response.status_code == 422
    assert "track.other.test is not under example.test" in response.get_data(as_text=True)
    assert 'value="track.other.test"' in response.get_data(as_text=True)  # nothing typed is lost
    assert db.session.scalar(select(func.count()).select_from(TrackingHost)) == 0


def test_check_and_remove_from_the_page(client, owner, domain):
    host = add(owner, domain)
    login(client, owner.user)
    checked = client.post(f"/w/{owner.workspace.slug}/tracking/hosts/{host.id}/check")
    assert checked.status_code == 302
    location = checked.headers["Location"]
    assert f"job={service.check_job_prefix(host.id)}" in location
    assert 'hx-trigger="every 3s"' in client.get(location).get_data(as_text=True)
    removed = client.post(f"/w/{owner.workspace.slug}/tracking/hosts/{host.id}/delete")
    assert removed.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(TrackingHost)) == 0


def test_viewers_see_the_hosts_but_no_controls(client, owner, domain):
    add(owner, domain)
    viewer = actor_for(Role.VIEWER, owner.workspace)
    login(client, viewer.user)
    page = client.get(page_url(owner, domain)).get_data(as_text=True)
    assert HOST in page and "Add host" not in page and "Remove" not in page
    assert client.post(page_url(owner, domain), data={"hostname": "x"}).status_code == 403


def test_the_page_offers_the_host_the_setup_wizard_named(client, owner, domain):
    domain.tracking_label = "track"
    commit()
    login(client, owner.user)
    assert "The setup wizard asked you to publish" in client.get(
        page_url(owner, domain)).get_data(as_text=True)


# --- the API ---------------------------------------------------------------------------------

@pytest.fixture
def bearer(owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(owner.user, owner.workspace)}"}


def test_the_api_adds_reads_checks_and_removes_a_host(client, domain, bearer):
    created = client.post(f"/api/v1/domains/{domain.id}/tracking-hosts", json={"name": "track"},
                          headers=bearer)
    assert created.status_code == 201
    body = created.get_json()
    assert (body["hostname"], body["status"], body["certificate"], body["error"]) == (
        HOST, "pending", None, None)
    assert body["dns_record"]["type"] == "CNAME" and body["dns_record"]["host"] == HOST
    location = created.headers["Location"]
    assert client.get(location, headers=bearer).get_json()["id"] == body["id"]
    listed = client.get(f"/api/v1/domains/{domain.id}/tracking-hosts", headers=bearer)
    assert [h["hostname"] for h in listed.get_json()] == [HOST]
    checked = client.post(f"{location}/check", headers=bearer)
    assert checked.status_code == 202
    assert checked.get_json()["job_id"].startswith(service.check_job_prefix(body["id"]))
    assert client.delete(location, headers=bearer).status_code == 204
    assert client.get(location, headers=bearer).status_code == 404


def test_the_api_shows_a_failed_order_and_the_certificate(client, owner, domain, bearer,
                                                         tracking_zone, unreachable_ca):
    host = add(owner, domain)
    publish_cname(tracking_zone)
    with_certificate(host, days_left=10)
    run_job(check_host, host.id)
    run_job(issue_certificate, host.id)
    body = client.get(f"/api/v1/tracking-hosts/{host.id}", headers=bearer).get_json()
    assert body["status"] == "expiring"
    assert body["error"]["code"] == "acme_unavailable" and body["error"]["fix"]
    assert body["certificate"]["serial"] == "beef" and body["certificate"]["not_after"]
    assert "PRIVATE" not in str(body) and "private_key" not in str(body)


def test_the_api_refuses_a_host_outside_the_domain(client, domain, bearer):
    response = client.post(f"/api/v1/domains/{domain.id}/tracking-hosts",
                           json={"name": "links.other.test"}, headers=bearer)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "tracking_host_outside_domain" and error["fields"]["hostname"]


def test_the_api_lists_only_the_tokens_hosts(client, owner, domain, bearer):
    add(owner, domain)
    rival = actor_for()
    add(rival, DomainFactory(workspace=rival.workspace, fqdn="rival.test"))
    listed = client.get("/api/v1/tracking-hosts", headers=bearer).get_json()
    assert [h["hostname"] for h in listed] == [HOST]


# --- flask tracking export-certs -------------------------------------------------------------

def test_export_writes_chain_and_key_for_hosts_serving_https_only(app, owner, domain, tmp_path):
    active = add(owner, domain)
    with_certificate(active, days_left=80)
    add(owner, domain, "pending")
    expired = add(owner, domain, "expired")
    with_certificate(expired, days_left=-1)
    target = tmp_path / "certs"
    result = app.test_cli_runner().invoke(args=["tracking", "export-certs", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Wrote 1 certificate to {target}."
    assert [path.name for path in target.iterdir()] == [f"{HOST}.pem"]
    written = target / f"{HOST}.pem"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    pem = written.read_bytes()
    chain = parse_chain(pem)
    key = serialization.load_pem_private_key(
        pem[pem.index(b"-----BEGIN PRIVATE KEY-----"):], password=None)
    assert key_matches(key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), chain[0])
    assert "PRIVATE" not in result.output


def test_export_names_a_host_whose_key_is_gone_and_still_writes_the_others(app, owner, domain,
                                                                           tmp_path):
    good, lost = add(owner, domain, "good"), add(owner, domain, "lost")
    with_certificate(good, days_left=80)
    keystore().destroy(with_certificate(lost, days_left=80))
    result = app.test_cli_runner().invoke(args=["tracking", "export-certs", str(tmp_path)])
    assert result.exit_code == 1
    assert f"lost.{DOMAIN}: not written, its key could not be read from the key store" in \
        result.output
    assert [path.name for path in tmp_path.iterdir()] == [f"good.{DOMAIN}.pem"]
