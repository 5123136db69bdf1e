"""Subdomains: added under a domain of the workspace, each with its own key, records and
verification; ownership proven once for the tree; a deleted parent takes its subtree along."""

from __future__ import annotations

import pytest
from rq import Queue
from sqlalchemy import func, select

from app.adapters.keystore import SecretNotFound
from app.audit.models import AuditEvent
from app.core.records import Purpose
from app.domains import service
from app.domains.models import DkimKey, Domain, DomainStatus, KeyState
from app.domains.tasks import destroy_private_keys, generate_dkim_key, verify_domain
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db, keystore
from app.subdomains.service import add_subdomain
from app.uow import commit
from app.workspaces.roles import Role
from tests.factories import DomainFactory, WorkspaceFactory, api_token
from tests.helpers import login
from tests.onboarding import ZONE, actor_for, onboard, publish, run_job


def add_sub(actor, parent: Domain, name: str) -> Domain:
    """Add a subdomain and run its key job, as the worker would after the commit."""
    domain = add_subdomain(actor, parent, name)
    commit()
    domain_id, key_id = domain.id, domain.keys[0].id
    run_job(generate_dkim_key, key_id)
    return db.session.get(Domain, domain_id)


def verify(actor, domain: Domain) -> Domain:
    service.request_check(actor, domain)
    commit()
    run_job(verify_domain, domain.id)
    return db.session.get(Domain, domain.id)


def results_by_purpose(domain: Domain) -> dict[str, dict]:
    return {r["purpose"]: r for r in service.latest_snapshot(domain).results}


# --- adding --------------------------------------------------------------------------------

def test_a_label_is_added_under_its_parent(owner):
    parent = onboard(owner)
    sub = add_subdomain(owner, parent, "  Marketing ")
    assert (sub.fqdn, sub.parent_id, sub.workspace_id) == (
        f"marketing.{ZONE}", parent.id, owner.workspace.id)
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.object_id == str(sub.id))) == "subdomain.added"


def test_a_full_name_is_taken_as_written(owner):
    parent = onboard(owner)
    assert add_subdomain(owner, parent, f"Sales.{ZONE}.").fqdn == f"sales.{ZONE}"


def test_a_nested_name_hangs_under_the_closest_domain_of_the_workspace(owner):
    top = onboard(owner)
    news = add_subdomain(owner, top, "news")
    eu = add_subdomain(owner, top, f"eu.news.{ZONE}")  # picked the top, lands under news
    deeper = add_subdomain(owner, eu, "paris")
    assert eu.parent_id == news.id
    assert deeper.fqdn == f"paris.eu.news.{ZONE}" and deeper.ancestors == [eu, news, top]
    skipped = add_subdomain(owner, top, f"a.b.{ZONE}")  # no b.example.test: under the top
    assert skipped.parent_id == top.id


@pytest.mark.parametrize("name, code", [
    ("other.example.org", "subdomain_outside_parent"),
    (f"bad{ZONE}", "subdomain_outside_parent"),
    (ZONE, "subdomain_is_parent"),
    ("", "subdomain_empty"),
    ("under_score", "domain_not_a_hostname"),
    ("https://marketing.example.test/", "domain_url_not_domain"),
    ("x" * 64, "domain_label_too_long"),
])
def test_names_that_are_not_a_subdomain_of_the_parent_are_refused(owner, name, code):
    parent = onboard(owner)
    with pytest.raises(ValidationFailed) as refused:
        add_subdomain(owner, parent, name)
    assert refused.value.code == code and refused.value.fields["name"]
    assert db.session.scalar(select(func.count()).select_from(Domain)
                             .where(Domain.parent_id == parent.id)) == 0


def test_outside_the_parent_the_message_says_where_a_subdomain_must_end(owner):
    parent = onboard(owner)
    with pytest.raises(ValidationFailed, match=rf"ends in \.{ZONE}"):
        add_subdomain(owner, parent, "eu.news")


def test_a_subdomain_already_in_the_workspace_is_a_conflict(owner):
    parent = onboard(owner)
    add_subdomain(owner, parent, "marketing")
    with pytest.raises(Conflict) as duplicate:
        add_subdomain(owner, parent, f"MARKETING.{ZONE}")
    assert duplicate.value.code == "domain_exists"


def test_another_workspaces_domain_cannot_be_a_parent(owner):
    theirs = DomainFactory(workspace=WorkspaceFactory(), fqdn="theirs.example")
    with pytest.raises(NotFound):
        add_subdomain(owner, theirs, "marketing")


def test_viewers_cannot_add_subdomains(owner):
    parent = onboard(owner)
    viewer = actor_for(Role.VIEWER, owner.workspace)
    with pytest.raises(PermissionDenied):
        add_subdomain(viewer, parent, "marketing")


# --- own key and records -------------------------------------------------------------------

def test_each_subdomain_gets_its_own_dkim_key(owner):
    parent = onboard(owner)
    marketing = add_sub(owner, parent, "marketing")
    sales = add_sub(owner, parent, "sales")
    keys = [d.keys[0] for d in (parent, marketing, sales)]
    assert len({key.id for key in keys}) == 3
    assert len({key.public_key for key in keys}) == 3
    assert len({key.private_key_ref for key in keys}) == 3
    dkim_hosts = [next(r.host for r in service.expected_records(d) if r.purpose == Purpose.DKIM)
                  for d in (parent, marketing, sales)]
    assert dkim_hosts == [f"pm1._domainkey.{ZONE}", f"pm1._domainkey.marketing.{ZONE}",
                          f"pm1._domainkey.sales.{ZONE}"]
    assert all(key.state == KeyState.PENDING for key in keys)


def test_a_subdomain_has_its_own_spf_dmarc_and_return_path_records(owner):
    sub = add_sub(owner, onboard(owner), "marketing")
    hosts = {(r.purpose, r.host) for r in service.expected_records(sub)}
    assert {(Purpose.SPF, f"marketing.{ZONE}"), (Purpose.DMARC, f"_dmarc.marketing.{ZONE}"),
            (Purpose.RETURN_PATH, f"pm-bounces.marketing.{ZONE}")} <= hosts
    dmarc = next(r for r in service.expected_records(sub) if r.purpose == Purpose.DMARC)
    assert "Optional" in dmarc.why and "sp=" in dmarc.why


# --- ownership ------------------------------------------------------------------------------

def test_under_an_unverified_parent_a_subdomain_publishes_its_own_ownership_record(owner):
    sub = add_sub(owner, onboard(owner), "marketing")
    ownership = [r for r in service.expected_records(sub) if r.purpose == Purpose.OWNERSHIP]
    assert [(r.host, r.value) for r in ownership] == [
        (f"_pm-verify.marketing.{ZONE}", sub.verification_token)]


def test_under_a_verified_ancestor_no_ownership_record_is_asked_for(owner):
    top = onboard(owner)
    top.status = DomainStatus.VERIFIED
    middle = add_sub(owner, top, "news")
    leaf = add_sub(owner, middle, "eu")
    for domain in (middle, leaf):
        assert Purpose.OWNERSHIP not in {r.purpose for r in service.expected_records(domain)}


def test_a_subdomain_of_a_verified_parent_verifies_without_an_ownership_record(owner,
                                                                               zone_server):
    parent = onboard(owner)
    publish(zone_server, service.expected_records(parent))
    assert verify(owner, parent).status == DomainStatus.VERIFIED
    sub = add_sub(owner, parent, "marketing")
    publish(zone_server, service.expected_records(sub))
    assert zone_server  # nothing at _pm-verify.marketing: it was never asked for

    sub = verify(owner, sub)

    assert sub.status == DomainStatus.VERIFIED, service.latest_snapshot(sub).results
    assert Purpose.OWNERSHIP not in results_by_purpose(sub)
    assert sub.keys[0].state == KeyState.ACTIVE
    assert parent.keys[0].id != sub.keys[0].id


def test_a_subdomain_of_an_unverified_parent_needs_its_own_ownership_record(owner, zone_server):
    parent = onboard(owner)
    sub = add_sub(owner, parent, "marketing")
    records = service.expected_records(sub)
    publish(zone_server, [r for r in records if r.purpose != Purpose.OWNERSHIP])

    sub = verify(owner, sub)
    assert sub.status == DomainStatus.VERIFYING
    assert results_by_purpose(sub)[Purpose.OWNERSHIP]["status"] == "missing"

    publish(zone_server, [r for r in records if r.purpose == Purpose.OWNERSHIP])
    assert verify(owner, sub).status == DomainStatus.VERIFIED
    assert db.session.get(Domain, parent.id).status == DomainStatus.PENDING


# --- DMARC of a subdomain at verification ---------------------------------------------------

def publish_without_dmarc(server, domain: Domain) -> None:
    publish(server, [r for r in service.expected_records(domain) if r.purpose != Purpose.DMARC])


@pytest.mark.parametrize("org_record", ["v=DMARC1; p=none; sp=quarantine",
                                        "v=DMARC1; p=reject"])
def test_a_protective_organisational_policy_stands_in_for_the_subdomains_own(owner, zone_server,
                                                                            org_record):
    sub = add_sub(owner, onboard(owner), "marketing")
    publish_without_dmarc(zone_server, sub)
    zone_server.set_record(f"_dmarc.{ZONE}.", "TXT", org_record)

    sub = verify(owner, sub)

    dmarc = results_by_purpose(sub)[Purpose.DMARC]
    assert sub.status == DomainStatus.VERIFIED
    assert (dmarc["status"], dmarc["code"]) == ("found", "DMARC_INHERITED")
    tag = "sp=quarantine" if "sp=" in org_record else "p=reject"
    assert f"marketing.{ZONE} has no DMARC record; {ZONE}'s {tag} applies" in dmarc["message"]


def test_an_organisational_policy_of_none_for_subdomains_needs_the_subdomains_own(owner,
                                                                                 zone_server):
    sub = add_sub(owner, onboard(owner), "marketing")
    publish_without_dmarc(zone_server, sub)
    zone_server.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=reject; sp=none")

    sub = verify(owner, sub)

    dmarc = results_by_purpose(sub)[Purpose.DMARC]
    assert sub.status == DomainStatus.VERIFYING and dmarc["status"] == "missing"
    assert f"{ZONE}'s sp=none applies" in dmarc["message"]


def test_without_any_organisational_record_the_subdomain_needs_its_own(owner, zone_server):
    sub = add_sub(owner, onboard(owner), "marketing")
    publish_without_dmarc(zone_server, sub)
    dmarc = results_by_purpose(verify(owner, sub))[Purpose.DMARC]
    assert dmarc["status"] == "missing" and "no DMARC record" in dmarc["message"]


def test_a_failed_organisational_lookup_is_an_error_not_missing(owner, zone_server):
    sub = add_sub(owner, onboard(owner), "marketing")
    publish_without_dmarc(zone_server, sub)
    zone_server.fail(f"_dmarc.{ZONE}", "servfail")
    dmarc = results_by_purpose(verify(owner, sub))[Purpose.DMARC]
    assert dmarc["status"] == "error"


# --- deep trees and deleting ----------------------------------------------------------------

def build_tree(actor) -> list[Domain]:
    """example.test → news → eu → paris (four levels), plus a sibling at each level."""
    chain = [onboard(actor)]
    for label in ("news", "eu", "paris"):
        chain.append(add_sub(actor, chain[-1], label))
        add_sub(actor, chain[-2], f"{label}-sibling")
    return chain


def test_a_four_level_tree_keeps_its_shape(owner):
    top, news, eu, paris = build_tree(owner)
    assert paris.fqdn == f"paris.eu.news.{ZONE}"
    assert [d.id for d in paris.ancestors] == [eu.id, news.id, top.id]
    assert len(top.subtree_ids()) == 6 and len(eu.subtree_ids()) == 2
    assert paris.subtree_ids() == []


def test_deleting_a_parent_deletes_its_subtree_and_destroys_every_key(owner, redis_client):
    top, news, eu, paris = build_tree(owner)
    below = news.subtree_ids()
    refs = list(db.session.scalars(select(DkimKey.private_key_ref).where(
        DkimKey.domain_id.in_([news.id, *below]))))
    top_ref = top.keys[0].private_key_ref
    assert len(refs) == 5

    assert service.delete_domain(owner, news) == 4
    commit()

    remaining = set(db.session.scalars(select(Domain.fqdn).where(
        Domain.workspace_id == owner.workspace.id)))
    assert remaining == {ZONE, f"news-sibling.{ZONE}"}
    assert db.session.scalar(select(func.count()).select_from(DkimKey).where(
        DkimKey.domain_id.in_([news.id, *below]))) == 0
    job = Queue("keys", connection=redis_client).jobs[-1]
    assert sorted(job.args[0]) == sorted(refs)
    run_job(destroy_private_keys, *job.args)
    for ref in refs:
        with pytest.raises(SecretNotFound):
            keystore().get(ref)
    assert keystore().get(top_ref)  # the parent's parent keeps its key
    deleted = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "domain.deleted"))
    assert len(deleted.before["subdomains"]) == 4


def test_the_delete_button_warns_with_the_number_of_subdomains(client, owner):
    top = onboard(owner)
    for label in ("a", "b"):
        add_sub(owner, top, label)
    login(client, owner.user)
    page = client.get(f"/w/{owner.workspace.slug}/domains/{top.id}/setup")
    assert "and its 2 subdomains?" in page.get_data(as_text=True)
    response = client.post(f"/w/{owner.workspace.slug}/domains/{top.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Domain).where(
        Domain.workspace_id == owner.workspace.id)) == 0


# --- the wizard -----------------------------------------------------------------------------

def test_the_wizard_adds_a_subdomain_from_its_parents_page(client, owner):
    parent = onboard(owner)
    login(client, owner.user)
    base = f"/w/{owner.workspace.slug}/domains"
    assert "Add subdomain" in client.get(f"{base}/{parent.id}/setup").get_data(as_text=True)
    form = client.get(f"{base}/{parent.id}/subdomains/new")
    assert form.status_code == 200 and "own DKIM key" in form.get_data(as_text=True)

    response = client.post(f"{base}/{parent.id}/subdomains/new",
                           data={"subdomain": "marketing", "algorithm": "rsa-2048"})

    sub = db.session.scalar(select(Domain).where(Domain.parent_id == parent.id))
    assert sub.fqdn == f"marketing.{ZONE}"
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/domains/{sub.id}/setup")


def test_the_wizard_keeps_a_refused_name_and_says_why(client, owner):
    parent = onboard(owner)
    login(client, owner.user)
    response = client.post(f"/w/{owner.workspace.slug}/domains/{parent.id}/subdomains/new",
                           data={"subdomain": "mail.other.example", "algorithm": "rsa-2048"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not under" in html and 'value="mail.other.example"' in html


# --- the API --------------------------------------------------------------------------------

@pytest.fixture
def api(client, owner):
    secret = api_token(owner.user, owner.workspace, secret="pmd_subdomains")
    headers = {"Authorization": f"Bearer {secret}"}

    def call(method: str, path: str, **kwargs):
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def test_the_api_adds_and_lists_subdomains(api, owner):
    parent = onboard(owner)
    created = api("POST", f"/domains/{parent.id}/subdomains", json={"name": "marketing"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["name"], body["parent_id"], body["tags"], body["group"]) == (
        f"marketing.{ZONE}", parent.id, [], None)
    assert created.headers["Location"].endswith(f"/api/v1/domains/{body['id']}")
    assert {r["purpose"] for r in body["dns_records"]} >= {"ownership", "spf", "dmarc"}
    api("POST", f"/domains/{parent.id}/subdomains", json={"name": f"sales.{ZONE}"})

    listed = api("GET", f"/domains/{parent.id}/subdomains").get_json()
    assert [d["name"] for d in listed] == [f"marketing.{ZONE}", f"sales.{ZONE}"]
    assert api("GET", f"/domains/{body['id']}/subdomains").get_json() == []


def test_the_api_refuses_a_name_outside_the_parent_with_its_code(api, owner):
    parent = onboard(owner)
    response = api("POST", f"/domains/{parent.id}/subdomains", json={"name": "x.example.org"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "subdomain_outside_parent"
    duplicate = api("POST", f"/domains/{parent.id}/subdomains", json={"name": ZONE})
    assert duplicate.get_json()["error"]["code"] == "subdomain_is_parent"


def test_the_api_does_not_add_under_another_workspaces_domain(api):
    theirs = DomainFactory(workspace=WorkspaceFactory(), fqdn="theirs.example")
    response = api("POST", f"/domains/{theirs.id}/subdomains", json={"name": "marketing"})
    assert response.status_code == 404
    assert api("GET", f"/domains/{theirs.id}/subdomains").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Domain).where(
        Domain.parent_id == theirs.id)) == 0


def test_a_name_added_as_a_domain_under_one_of_ours_becomes_its_subdomain(owner):
    parent = service.add_domain(owner, "example.test")
    news = service.add_domain(owner, "news.example.test")
    deep = service.add_domain(owner, "eu.news.example.test")
    unrelated = service.add_domain(owner, "example-other.test")
    assert news.parent_id == parent.id
    assert deep.parent_id == news.id
    assert unrelated.parent_id is None
