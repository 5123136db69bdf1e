"""DNS health over the API: a domain's stored health, "check now", the dashboard list, and
checking a pasted record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from openapi_spec_validator import validate
from rq import Queue

from app.core.clock import utcnow
from app.core.findings import WARNING
from tests.api_workspace import VIEWER_SECRET, api, owner, tokens, workspace  # noqa: F401
from tests.conftest import RequestPerAppContext
from tests.factories import DomainFactory, WorkspaceFactory
from tests.integration.test_api import assert_error, bearer
from tests.monitoring_factories import checked_domain, health_of, problem, tag


@pytest.fixture
def rival_domain():
    return checked_domain(WorkspaceFactory(name="Rival Corp"), "rival.example", ["SPF_PLUS_ALL"])


def check_jobs(redis_client) -> list:
    return [job for job in Queue("dns", connection=redis_client).jobs
            if job.func_name == "app.monitoring.tasks.check_domain"]


# --- GET /domains/{id}/health --------------------------------------------------------------

def test_a_checked_domain_has_the_json_of_dns_check(api, workspace):
    domain = DomainFactory(workspace=workspace, fqdn="example.com")
    checked_at = utcnow() - timedelta(minutes=3)
    health_of(domain, [problem("DMARC_POLICY_NONE", domain, host="_dmarc.example.com"),
                       problem("SPF_PLUS_ALL", domain)], checked_at=checked_at,
              resolved=[problem("DKIM_MISSING", domain)])
    response = api.get(f"/api/v1/domains/{domain.id}/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "domain": "example.com", "status": "checked", "score": 55, "band": "critical",
        "checked_at": checked_at.isoformat(),
        "findings": [
            {"code": "SPF_PLUS_ALL", "severity": "error",
             "record": {"host": "example.com", "type": "TXT"},
             "message": "SPF_PLUS_ALL seen at example.com.", "fix": "Fix SPF_PLUS_ALL."},
            {"code": "DMARC_POLICY_NONE", "severity": "warning",
             "record": {"host": "_dmarc.example.com", "type": "TXT"},
             "message": "DMARC_POLICY_NONE seen at _dmarc.example.com.",
             "fix": "Fix DMARC_POLICY_NONE."},
        ]}


def test_a_domain_never_checked_says_not_checked(api, workspace):
    domain = DomainFactory(workspace=workspace, fqdn="new.example")
    body = api.get(f"/api/v1/domains/{domain.id}/health").get_json()
    assert body == {"domain": "new.example", "status": "not_checked", "score": None,
                    "band": None, "checked_at": None, "findings": []}


def test_another_workspaces_domain_is_not_found(api, rival_domain, redis_client):
    assert_error(api.get(f"/api/v1/domains/{rival_domain.id}/health"), 404, "not_found")
    assert_error(api.post(f"/api/v1/domains/{rival_domain.id}/health/check"), 404, "not_found")
    assert check_jobs(redis_client) == []


def test_without_a_token_it_is_unauthorized(app, workspace):
    client = RequestPerAppContext(app, app.response_class)
    domain = DomainFactory(workspace=workspace)
    assert_error(client.get(f"/api/v1/domains/{domain.id}/health"), 401, "unauthorized")
    assert_error(client.post("/api/v1/dns/validate-record", json={}), 401, "unauthorized")


# --- POST /domains/{id}/health/check -------------------------------------------------------

def test_check_queues_the_job_and_answers_202(api, workspace, redis_client):
    domain = DomainFactory(workspace=workspace)
    response = api.post(f"/api/v1/domains/{domain.id}/health/check")
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    (job,) = check_jobs(redis_client)
    assert job.id == job_id and job.args == (domain.id,)


def test_viewers_cannot_start_a_check(api, workspace, redis_client):
    domain = DomainFactory(workspace=workspace)
    response = api.post(f"/api/v1/domains/{domain.id}/health/check",
                        headers=bearer(VIEWER_SECRET))
    assert_error(response, 403, "role_read_only")
    assert check_jobs(redis_client) == []


# --- POST /dns/validate-record -------------------------------------------------------------

def test_validate_record_returns_findings(api):
    response = api.post("/api/v1/dns/validate-record",
                        json={"type": "SPF", "host": "example.com", "value": "v=spf1 mx +all"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["findings"] == [{
        "code": "SPF_PLUS_ALL", "severity": "error",
        "record": {"host": "example.com", "type": "TXT"},
        "message": "`v=spf1 mx +all` ends in +all: every server on the internet passes SPF.",
        "fix": "Publish: v=spf1 mx ~all"}]
    assert "next sweep" in body["deferred"]


def test_a_clean_record_has_no_findings(api):
    body = api.post("/api/v1/dns/validate-record", json={
        "type": "dmarc", "host": "_dmarc.example.com", "value": "v=DMARC1; p=reject"}).get_json()
    assert body["findings"] == []


def test_viewers_may_validate_records(api):
    response = api.post("/api/v1/dns/validate-record", headers=bearer(VIEWER_SECRET),
                        json={"type": "dkim", "host": "pm1._domainkey.example.com",
                              "value": "v=DKIM1; p="})
    assert [f["code"] for f in response.get_json()["findings"]] == ["DKIM_REVOKED"]


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"type": "txt", "host": "example.com", "value": "x"}, "unknown_record_type", "type"),
    ({"type": "spf", "host": "example.com", "value": "  "}, "empty_value", "value"),
    ({"type": "spf", "host": "example.com", "value": "v=spf1 " + "a" * 4090},
     "value_too_long", "value"),
    ({"type": "spf", "host": "", "value": "v=spf1 -all"}, "empty_host", "host"),
    ({"type": "spf", "host": "co.uk", "value": "v=spf1 -all"}, "invalid_host", "host"),
    ({"type": "dkim", "host": "example.com", "value": "p="}, "invalid_host", "host"),
])
def test_what_cannot_be_checked_is_a_422_with_a_specific_code(api, body, code, field):
    error = assert_error(api.post("/api/v1/dns/validate-record", json=body), 422, code)
    assert field in error["fields"]


@pytest.mark.parametrize("body", [{}, {"type": "spf", "host": "example.com"},
                                  {"type": "spf", "host": "example.com", "value": 5},
                                  {"type": "spf", "host": None, "value": "v=spf1 -all"}])
def test_missing_or_mistyped_fields_are_named(api, body):
    error = assert_error(api.post("/api/v1/dns/validate-record", json=body), 422,
                         "validation_error")
    assert error["fields"]


def test_a_body_that_is_not_json_is_refused(api):
    response = api.post("/api/v1/dns/validate-record", data="{not json",
                        content_type="application/json")
    assert_error(response, 400, "malformed_json")


# --- GET /health ---------------------------------------------------------------------------

def test_the_list_shows_only_the_tokens_domains(api, workspace, rival_domain):
    checked_domain(workspace, "weak.example", ["DMARC_POLICY_NONE"], previous_score=100)
    unchecked = DomainFactory(workspace=workspace, fqdn="new.example")
    tag(unchecked, "eu")
    body = api.get("/api/v1/health").get_json()
    assert [row["domain"] for row in body["domains"]] == ["weak.example", "new.example"]
    assert body["total"] == 2 and body["page"] == 1 and body["pages"] == 1
    assert body["tallies"] == {"healthy": 1, "warning": 0, "critical": 0, "unchecked": 1}
    weak, new = body["domains"]
    assert weak["score"] == 90 and weak["band"] == "healthy" and weak["change"] == -10
    assert weak["status"] == "checked" and weak["domain_status"] == "pending"
    assert weak["worst_finding"] == {"code": "DMARC_POLICY_NONE", "severity": WARNING,
                                     "title": "DMARC policy is p=none (monitoring only)"}
    assert new["status"] == "not_checked" and new["score"] is None and new["tags"] == ["eu"]


def test_the_list_filters_and_sorts_like_the_dashboard(api, workspace):
    checked_domain(workspace, "a.example", ["SPF_PLUS_ALL"])
    checked_domain(workspace, "b.example", ["DMARC_POLICY_NONE"])
    names = lambda **params: [row["domain"] for row in  # noqa: E731
                              api.get("/api/v1/health", query_string=params).get_json()["domains"]]
    assert names(sort="-domain") == ["b.example", "a.example"]
    assert names(code="spf_plus_all") == ["a.example"]
    assert names(band="healthy", q="b.") == ["b.example"]


def test_the_list_refuses_parameters_that_name_nothing(api):
    error = assert_error(api.get("/api/v1/health", query_string={"band": "purple",
                                                                  "sort": "size"}),
                         422, "validation_error")
    assert set(error["fields"]) == {"band", "sort"}


def test_the_openapi_document_describes_the_health_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    for path in ("/api/v1/domains/{domain_id}/health", "/api/v1/domains/{domain_id}/health/check",
                 "/api/v1/dns/validate-record", "/api/v1/health"):
        assert path in spec["paths"], path
