"""GET /api/v1/domains/{id}/tree?depth=N: a domain with its subdomains nested N levels down."""

from __future__ import annotations

import pytest

from app.domains.models import DomainStatus
from app.extensions import db
from app.workspaces.roles import Role
from tests.factories import DomainFactory, WorkspaceFactory, api_token, member
from tests.monitoring_factories import checked_domain, tag
from tests.tree_factories import chain, subdomain, with_subdomains

NODE_FIELDS = {"id", "fqdn", "status", "parent_id", "score", "band", "tags", "group",
               "child_count", "children"}


@pytest.fixture
def workspace():
    return WorkspaceFactory(name="Acme Mail", slug="acme")


@pytest.fixture
def headers(workspace):
    secret = api_token(member(Role.VIEWER, workspace), workspace, secret="pmd_tree-reader")
    return {"Authorization": f"Bearer {secret}"}


def get_tree(client, headers, domain_id, **params):
    return client.get(f"/api/v1/domains/{domain_id}/tree", query_string=params, headers=headers)


def names(node) -> list[str]:
    return [child["fqdn"] for child in node["children"]]


def test_depth_one_is_the_default_and_gives_each_node_its_fields(client, headers, workspace):
    root = checked_domain(workspace, "example.com", ["DMARC_MISSING"])
    root.group_name = "Marketing"
    root.status = DomainStatus.VERIFIED
    tag(root, "newsletters", "eu")
    news, eu = chain(root, "news", "eu")
    subdomain(root, "sales")
    db.session.flush()
    response = get_tree(client, headers, root.id)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == NODE_FIELDS
    assert {key: body[key] for key in ("id", "fqdn", "status", "parent_id", "group", "tags",
                                       "child_count")} == {
        "id": root.id, "fqdn": "example.com", "status": "verified", "parent_id": None,
        "group": "Marketing", "tags": ["eu", "newsletters"], "child_count": 2}
    assert isinstance(body["score"], int) and body["band"] in ("healthy", "warning", "critical")
    assert names(body) == ["news.example.com", "sales.example.com"]
    first = body["children"][0]
    assert set(first) == NODE_FIELDS
    assert first["parent_id"] == root.id and first["child_count"] == 1
    assert first["score"] is None and first["band"] is None  # never checked
    assert first["children"] is None  # below the depth asked for, not "no children"


def test_depth_n_nests_n_levels_of_a_deep_tree(client, headers, workspace):
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    chain(root, "news", "eu", "fr", "paris")
    body = get_tree(client, headers, root.id, depth=3).get_json()
    news = body["children"][0]
    eu = news["children"][0]
    fr = eu["children"][0]
    assert [news["fqdn"], eu["fqdn"], fr["fqdn"]] == ["news.example.com", "eu.news.example.com",
                                                      "fr.eu.news.example.com"]
    assert fr["child_count"] == 1 and fr["children"] is None
    whole = get_tree(client, headers, root.id, depth=10).get_json()
    paris = whole["children"][0]["children"][0]["children"][0]["children"][0]
    assert paris["fqdn"] == "paris.fr.eu.news.example.com"
    assert paris["child_count"] == 0 and paris["children"] == []


def test_a_subdomain_is_a_root_of_its_own_subtree(client, headers, workspace):
    root = DomainFactory(workspace=workspace, fqdn="example.com")
    news, eu = chain(root, "news", "eu")
    body = get_tree(client, headers, news.id).get_json()
    assert body["fqdn"] == "news.example.com" and body["parent_id"] == root.id
    assert names(body) == ["eu.news.example.com"]


@pytest.mark.parametrize("depth", ["0", "11", "-1", "two", "1.5", ""])
def test_a_bad_depth_is_a_422_saying_the_range(client, headers, workspace, depth):
    root, _ = with_subdomains(workspace, "example.com", 1)
    response = client.get(f"/api/v1/domains/{root.id}/tree?depth={depth}", headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "depth" in error["fields"]


def test_the_range_is_said_in_words(client, headers, workspace):
    root, _ = with_subdomains(workspace, "example.com", 1)
    error = get_tree(client, headers, root.id, depth=50).get_json()["error"]
    assert error["fields"]["depth"] == ["The depth is a whole number from 1 to 10."]


def test_a_subtree_too_large_to_answer_is_refused_with_advice(client, headers, workspace,
                                                             monkeypatch):
    monkeypatch.setattr("app.subdomains.tree.MAX_API_NODES", 3)
    root, _ = with_subdomains(workspace, "example.com", 3)
    response = get_tree(client, headers, root.id, depth=2)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "tree_too_large"
    assert "ask for a smaller depth" in error["message"]


def test_another_workspaces_domain_is_not_found(client, headers, workspace):
    theirs, _ = with_subdomains(WorkspaceFactory(name="Bravo"), "bravo.example", 2)
    response = get_tree(client, headers, theirs.id, depth=2)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "bravo" not in response.get_data(as_text=True)


def test_a_token_is_required(client, workspace):
    root, _ = with_subdomains(workspace, "example.com", 1)
    assert get_tree(client, {}, root.id).status_code == 401


def test_the_tree_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/domains/{domain_id}/tree"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"depth"}
    assert {"200", "404", "422"} <= set(operation["responses"])
