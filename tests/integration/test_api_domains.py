"""The domains API: add, list, read, delete, DNS records (JSON, BIND, CSV), verification, keys."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import dns.rdatatype
import dns.zone
import pytest
from openapi_spec_validator import validate
from rq import Queue
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.core.dkim import dkim_record_value, generate_key
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainStatus, EmailAccount, KeyState
from app.extensions import db
from tests.api_workspace import VIEWER_SECRET, api, owner, tokens, workspace  # noqa: F401
from tests.factories import DomainFactory, EmailAccountFactory, WorkspaceFactory
from tests.integration.test_api import assert_error, bearer

PRIVATE_REF = "local:dkim/secret-reference-never-shown"


def add(api, name: str = "example.com", **fields) -> dict:
    response = api.post("/api/v1/domains", json={"name": name, **fields})
    assert response.status_code == 201, response.data[:500]
    return response.get_json()


def with_published_key(domain_id: int) -> DkimKey:
    """The state the key job leaves behind: a public key, a private key reference."""
    key = db.session.scalars(select(DkimKey).where(DkimKey.domain_id == domain_id)).one()
    key.public_key = generate_key("rsa", 2048).public_key_b64
    key.private_key_ref = PRIVATE_REF
    key.state = KeyState.PENDING
    db.session.flush()
    return key


def domain_actions(domain_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "domain", AuditEvent.object_id == str(domain_id))
        .order_by(AuditEvent.id)))


# --- POST /domains -----------------------------------------------------------------------

def test_adding_a_domain_answers_201_with_what_to_publish(api):
    response = api.post("/api/v1/domains", json={"name": "  Example.COM. "})
    assert response.status_code == 201
    body = response.get_json()
    domain = db.session.get(Domain, body["id"])
    assert response.headers["Location"] == f"/api/v1/domains/{domain.id}"
    assert body["name"] == "example.com" and body["status"] == "pending"
    assert body["dkim_key"] == {"selector": "pm1", "state": "generating"}
    records = {record["purpose"]: record for record in body["dns_records"]}
    assert set(records) == {"ownership", "spf", "dmarc", "return_path"}  # DKIM: after the job
    assert records["ownership"] == {
        "type": "TXT", "host": "_pm-verify.example.com", "value": domain.verification_token,
        "ttl": 3600, "purpose": "ownership", "why": records["ownership"]["why"]}
    assert records["spf"]["value"].startswith("v=spf1 include:")
    assert records["return_path"]["type"] == "CNAME"


def test_adding_a_domain_queues_its_key_job_and_is_audited(api, redis_client):
    body = add(api)
    key = db.session.scalars(select(DkimKey).where(DkimKey.domain_id == body["id"])).one()
    jobs = Queue("keys", connection=redis_client).jobs
    assert [(job.func_name, job.args) for job in jobs] == [
        ("app.domains.tasks.generate_dkim_key", (key.id,))]
    assert domain_actions(body["id"]) == ["domain.added"]


def test_an_international_name_is_stored_as_its_a_label(api):
    assert add(api, "Bücher.Example.")["name"] == "xn--bcher-kva.example"


def test_the_algorithm_can_be_chosen(api):
    body = add(api, algorithm="rsa-4096")
    assert db.session.get(Domain, body["id"]).keys[0].algorithm == "rsa-4096"


def test_a_refused_algorithm_is_a_422_with_its_code(api):
    error = assert_error(api.post("/api/v1/domains", json={"name": "example.com",
                                                           "algorithm": "rsa-1024"}),
                         422, "dkim_algorithm_refused")
    assert "algorithm" in error["fields"]


def test_the_dkim_record_appears_once_the_key_job_has_run(api):
    body = add(api)
    key = with_published_key(body["id"])
    again = api.get(f"/api/v1/domains/{body['id']}").get_json()
    assert again["dkim_key"] == {"selector": "pm1", "state": "pending"}
    dkim = [r for r in again["dns_records"] if r["purpose"] == "dkim"]
    assert dkim == [{"type": "TXT", "host": "pm1._domainkey.example.com",
                     "value": dkim_record_value(key.public_key, "rsa"), "ttl": 3600,
                     "purpose": "dkim", "why": dkim[0]["why"]}]


def test_a_missing_name_is_a_422_naming_the_field(api):
    error = assert_error(api.post("/api/v1/domains", json={}), 422, "validation_error")
    assert error["fields"] == {"name": ["Missing data for required field."]}


def test_an_unknown_field_is_a_422(api):
    error = assert_error(api.post("/api/v1/domains", json={"name": "example.com", "nmae": "x"}),
                         422, "validation_error")
    assert "nmae" in error["fields"]


@pytest.mark.parametrize("name, code", [
    ("", "domain_empty"),
    ("co.uk", "domain_public_suffix"),
    ("192.0.2.1", "domain_ip_address"),
    ("exa mple.com", "domain_not_a_hostname"),
    ("https://example.com/", "domain_url_not_domain"),
    ("a" * 64 + ".com", "domain_label_too_long"),
])
def test_a_name_that_is_not_a_sending_domain_is_a_422_with_the_reason(api, name, code):
    error = assert_error(api.post("/api/v1/domains", json={"name": name}), 422, code)
    assert error["fields"]["name"] == error["message"]
    assert db.session.scalar(select(Domain.id)) is None


@pytest.mark.parametrize("body", [{"name": 42}, {"name": None}, ["example.com"], "example.com"])
def test_a_body_of_the_wrong_shape_is_a_422(api, body):
    assert_error(api.post("/api/v1/domains", json=body), 422, "validation_error")


def test_a_domain_already_in_the_workspace_is_a_409(api):
    add(api)
    error = assert_error(api.post("/api/v1/domains", json={"name": "EXAMPLE.com"}), 409,
                         "domain_exists")
    assert error["fields"] == {"name": "Already added."}


def test_a_domain_verified_by_another_workspace_is_taken_without_saying_by_whom(api):
    DomainFactory(workspace=WorkspaceFactory(name="Secret Rival"), fqdn="example.com",
                  status=DomainStatus.VERIFIED)
    response = api.post("/api/v1/domains", json={"name": "example.com"})
    assert_error(response, 409, "domain_taken")
    assert "Secret Rival" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path, method", [
    ("/api/v1/domains", "post"),
    ("/api/v1/domains/{id}/accounts", "post"),
    ("/api/v1/domains/{id}/accounts/{account}", "patch"),
])
@pytest.mark.parametrize("payload", ['{"name": "example.com"', "{'name': 'x'}", "\xff\xfe"])
def test_malformed_json_is_a_400(api, workspace, path, method, payload):
    account = EmailAccountFactory(domain__workspace=workspace)
    url = path.format(id=account.domain_id, account=account.id)
    response = getattr(api, method)(url, data=payload.encode("latin-1"),
                                    content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_a_viewer_cannot_add_a_domain(api):
    response = api.post("/api/v1/domains", json={"name": "example.com"},
                        headers=bearer(VIEWER_SECRET))
    assert_error(response, 403, "role_read_only")
    assert db.session.scalar(select(Domain.id)) is None


def test_the_new_endpoints_need_a_token(client, workspace):
    domain = DomainFactory(workspace=workspace)
    for method, path in [("get", "/api/v1/domains"), ("post", "/api/v1/domains"),
                         ("get", f"/api/v1/domains/{domain.id}"),
                         ("delete", f"/api/v1/domains/{domain.id}"),
                         ("get", f"/api/v1/domains/{domain.id}/dns-records"),
                         ("post", f"/api/v1/domains/{domain.id}/verify"),
                         ("get", f"/api/v1/domains/{domain.id}/accounts")]:
        assert_error(getattr(client, method)(path), 401, "unauthorized")


# --- GET /domains and /domains/{id} ------------------------------------------------------

def test_the_list_shows_the_workspaces_domains_by_name(api, workspace):
    DomainFactory(workspace=workspace, fqdn="zulu.example")
    DomainFactory(workspace=workspace, fqdn="alpha.example", status=DomainStatus.VERIFIED)
    DomainFactory(fqdn="other-workspace.example")
    response = api.get("/api/v1/domains")
    assert response.status_code == 200
    listed = [(d["name"], d["status"]) for d in response.get_json()]
    assert listed == [("alpha.example", "verified"), ("zulu.example", "pending")]
    assert "dns_records" not in response.get_json()[0]


def test_the_list_can_be_narrowed_to_one_status(api, workspace):
    DomainFactory(workspace=workspace, fqdn="zulu.example")
    DomainFactory(workspace=workspace, fqdn="alpha.example", status=DomainStatus.VERIFIED)
    names = [d["name"] for d in api.get("/api/v1/domains?status=verified").get_json()]
    assert names == ["alpha.example"]
    assert api.get("/api/v1/domains?status=failed").get_json() == []


def test_an_unknown_status_filter_is_a_422(api):
    error = assert_error(api.get("/api/v1/domains?status=gone"), 422, "validation_error")
    assert "status" in error["fields"]


def test_a_viewer_can_read(api, workspace):
    domain = DomainFactory(workspace=workspace)
    viewer = bearer(VIEWER_SECRET)
    assert api.get("/api/v1/domains", headers=viewer).status_code == 200
    for suffix in ("", "/dns-records", "/verification", "/dkim-keys", "/accounts"):
        assert api.get(f"/api/v1/domains/{domain.id}{suffix}", headers=viewer).status_code == 200


@pytest.mark.parametrize("suffix", ["", "/dns-records", "/verification", "/dkim-keys",
                                    "/accounts"])
def test_an_unknown_or_foreign_domain_is_a_404(api, suffix):
    foreign = DomainFactory(workspace=WorkspaceFactory(name="Other Corp"))
    for domain_id in (999999, foreign.id, 2**31):
        response = api.get(f"/api/v1/domains/{domain_id}{suffix}")
        assert_error(response, 404, "not_found")
        assert foreign.fqdn not in response.get_data(as_text=True)


# --- DELETE /domains/{id} ----------------------------------------------------------------

def test_deleting_a_domain_answers_204_and_queues_its_keys_destruction(api, redis_client):
    body = add(api)
    with_published_key(body["id"])
    response = api.delete(f"/api/v1/domains/{body['id']}")
    assert response.status_code == 204 and response.data == b""
    assert_error(api.get(f"/api/v1/domains/{body['id']}"), 404, "not_found")
    jobs = [(job.func_name, job.args) for job in Queue("keys", connection=redis_client).jobs]
    assert ("app.domains.tasks.destroy_private_keys", ([PRIVATE_REF],)) in jobs
    assert domain_actions(body["id"]) == ["domain.added", "domain.deleted"]


def test_deleting_a_domain_removes_its_email_accounts(api, workspace):
    account = EmailAccountFactory(domain__workspace=workspace)
    domain_id, account_id = account.domain_id, account.id
    assert api.delete(f"/api/v1/domains/{domain_id}").status_code == 204
    db.session.expire_all()
    assert db.session.get(EmailAccount, account_id) is None


def test_a_viewer_cannot_delete_a_domain(api, workspace):
    domain = DomainFactory(workspace=workspace)
    assert_error(api.delete(f"/api/v1/domains/{domain.id}", headers=bearer(VIEWER_SECRET)), 403,
                 "role_read_only")
    assert db.session.get(Domain, domain.id) is not None


# --- GET /domains/{id}/dns-records -------------------------------------------------------

@pytest.fixture
def published(api) -> dict:
    """A domain whose key job has run, so the record set includes a split DKIM TXT."""
    body = add(api, "example.com", algorithm="rsa-4096")
    with_published_key(body["id"])
    return api.get(f"/api/v1/domains/{body['id']}").get_json()


def test_dns_records_default_to_json_matching_the_domain(api, published):
    response = api.get(f"/api/v1/domains/{published['id']}/dns-records")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == published["dns_records"]
    assert api.get(f"/api/v1/domains/{published['id']}/dns-records?format=json").get_json() == \
        published["dns_records"]


def test_the_bind_snippet_parses_as_a_zone_with_the_same_records(api, published):
    response = api.get(f"/api/v1/domains/{published['id']}/dns-records?format=bind")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"] == 'attachment; filename="example.com.zone"'
    zone = dns.zone.from_text(response.get_data(as_text=True), origin="example.com.",
                              check_origin=False)
    parsed = set()
    for name, ttl, rdata in zone.iterate_rdatas():
        host = name.derelativize(zone.origin).to_text(omit_final_dot=True)
        if rdata.rdtype == dns.rdatatype.TXT:
            value = b"".join(rdata.strings).decode()
        elif rdata.rdtype == dns.rdatatype.CNAME:
            value = rdata.target.to_text(omit_final_dot=True)
        else:
            value = f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
        parsed.add((dns.rdatatype.to_text(rdata.rdtype), host, value, ttl))
    expected = {(r["type"], r["host"], r["value"], r["ttl"]) for r in published["dns_records"]}
    assert parsed == expected
    dkim = zone.find_rdataset("pm1._domainkey", "TXT")[0]
    assert len(dkim.strings) > 1 and all(len(s) <= 255 for s in dkim.strings)


def test_the_csv_has_one_row_per_record(api, published):
    response = api.get(f"/api/v1/domains/{published['id']}/dns-records?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="example.com.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [{**row, "ttl": int(row["ttl"])} for row in rows] == [
        {key: r[key] for key in ("type", "host", "value", "ttl", "purpose")}
        for r in published["dns_records"]]


@pytest.mark.parametrize("requested", ["xml", "BIND", ""])
def test_an_unknown_format_is_a_400(api, published, requested):
    url = f"/api/v1/domains/{published['id']}/dns-records?format={requested}"
    error = assert_error(api.get(url), 400, "unknown_format")
    assert "json, bind or csv" in error["message"]


# --- verification ------------------------------------------------------------------------

def test_verify_queues_a_check_and_answers_202_with_its_job_id(api, redis_client):
    body = add(api)
    response = api.post(f"/api/v1/domains/{body['id']}/verify")
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    jobs = Queue("dns", connection=redis_client).jobs
    assert [(job.id, job.func_name, job.args) for job in jobs] == [
        (job_id, "app.domains.tasks.verify_domain", (body["id"],))]
    assert api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] == "verifying"
    assert domain_actions(body["id"]) == ["domain.added", "domain.check_requested"]


def test_a_viewer_cannot_start_a_check(api, workspace, redis_client):
    domain = DomainFactory(workspace=workspace)
    assert_error(api.post(f"/api/v1/domains/{domain.id}/verify", headers=bearer(VIEWER_SECRET)),
                 403, "role_read_only")
    assert Queue("dns", connection=redis_client).jobs == []


def test_verification_before_any_check_has_no_records(api):
    body = add(api)
    response = api.get(f"/api/v1/domains/{body['id']}/verification")
    assert response.status_code == 200
    assert response.get_json() == {"status": "pending", "verified_at": None,
                                   "last_checked_at": None, "next_check_at": None,
                                   "checked_at": None, "records": []}


def test_verification_shows_the_latest_checks_results(api, workspace):
    domain = DomainFactory(workspace=workspace, status=DomainStatus.VERIFYING)
    older = [{"purpose": "spf", "status": "missing"}]
    latest = [{"purpose": "ownership", "type": "TXT", "host": f"_pm-verify.{domain.fqdn}",
               "status": "found", "expected": "pm-verify-1", "observed": ["pm-verify-1"]},
              {"purpose": "spf", "type": "TXT", "host": domain.fqdn, "status": "wrong",
               "expected": "v=spf1 include:x ~all", "observed": ["v=spf1 -all"]}]
    db.session.add_all([
        DnsSnapshot(workspace_id=workspace.id, domain_id=domain.id, results=older,
                    checked_at=utcnow() - timedelta(days=30)),
        DnsSnapshot(workspace_id=workspace.id, domain_id=domain.id, results=latest)])
    db.session.flush()
    body = api.get(f"/api/v1/domains/{domain.id}/verification").get_json()
    assert body["status"] == "verifying"
    assert body["records"] == latest
    assert body["checked_at"] == db.session.scalars(
        select(DnsSnapshot.checked_at).order_by(DnsSnapshot.checked_at.desc())).first().isoformat()


# --- DKIM keys ---------------------------------------------------------------------------

def test_dkim_keys_show_the_public_side_only(api):
    body = add(api)
    key = with_published_key(body["id"])
    response = api.get(f"/api/v1/domains/{body['id']}/dkim-keys")
    assert response.status_code == 200
    [listed] = response.get_json()
    assert listed == {"id": key.id, "selector": "pm1", "algorithm": "rsa-2048", "region": None,
                      "state": "pending", "public_key": key.public_key,
                      "created_at": key.created_at.isoformat(), "activated_at": None,
                      "retiring_at": None, "retire_after": None, "retired_at": None}


def test_no_response_ever_contains_a_private_key_reference(api, published, workspace):
    domain_id = published["id"]
    EmailAccountFactory(domain=db.session.get(Domain, domain_id))
    paths = ["/api/v1/domains", f"/api/v1/domains/{domain_id}",
             f"/api/v1/domains/{domain_id}/dns-records",
             f"/api/v1/domains/{domain_id}/dns-records?format=bind",
             f"/api/v1/domains/{domain_id}/dns-records?format=csv",
             f"/api/v1/domains/{domain_id}/verification",
             f"/api/v1/domains/{domain_id}/dkim-keys", f"/api/v1/domains/{domain_id}/accounts",
             "/api/v1/openapi.json"]
    for path in paths:
        text = api.get(path).get_data(as_text=True)
        assert PRIVATE_REF not in text and "private_key" not in text, path
        assert "PRIVATE KEY" not in text, path


# --- the OpenAPI document ----------------------------------------------------------------

def test_the_openapi_document_lists_the_domain_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    expected = {
        "/api/v1/domains": {"get", "post"},
        "/api/v1/domains/{domain_id}": {"get", "delete"},
        "/api/v1/domains/{domain_id}/dns-records": {"get"},
        "/api/v1/domains/{domain_id}/verify": {"post"},
        "/api/v1/domains/{domain_id}/verification": {"get"},
        "/api/v1/domains/{domain_id}/dkim-keys": {"get"},
        "/api/v1/domains/{domain_id}/accounts": {"get", "post"},
        "/api/v1/domains/{domain_id}/accounts/{account_id}": {"get", "patch", "delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method]["summary"], (method, path)
    assert set(paths["/api/v1/domains"]["post"]["responses"]) >= {"201", "409", "422"}
    assert set(paths["/api/v1/domains/{domain_id}/dns-records"]["get"]["responses"]["200"]
               ["content"]) == {"application/json", "text/plain", "text/csv"}
    assert "private_key_ref" not in spec["components"]["schemas"]["DkimKeyOut"]["properties"]
    # Errors are documented as the body we send, not flask-smorest's own error shape.
    default_error = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert default_error["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse")


def test_the_docs_page_lists_the_domain_endpoints(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    for path in ("/api/v1/domains", "/api/v1/domains/{domain_id}/dns-records",
                 "/api/v1/domains/{domain_id}/accounts/{account_id}"):
        assert f"<code>{path}</code>" in page
