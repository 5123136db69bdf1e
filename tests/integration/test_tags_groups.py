"""Tags and groups: stored in one canonical form, refused with the reason, filterable in the
list page and the API, edited in place on the domain page and in the list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.domains import service, tags
from app.domains.models import Domain, DomainTag
from app.errors import PermissionDenied, ValidationFailed
from app.extensions import db
from app.workspaces.roles import Role
from tests.factories import DomainFactory, WorkspaceFactory, api_token
from tests.helpers import login
from tests.onboarding import actor_for


@pytest.fixture
def domain(owner) -> Domain:
    return DomainFactory(workspace=owner.workspace, fqdn="example.test")


def stored_tags(domain: Domain) -> list[str]:
    return list(db.session.scalars(select(DomainTag.tag).where(DomainTag.domain_id == domain.id)
                                   .order_by(DomainTag.tag)))


# --- the service ----------------------------------------------------------------------------

def test_tags_are_trimmed_lower_cased_and_deduplicated(owner, domain):
    saved = tags.set_tags(owner, domain, ["  Team  A ", "team a", "EU", "cold_outreach-2"])
    assert saved == ["cold_outreach-2", "eu", "team a"] == stored_tags(domain) == domain.tags
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "domain.tags_changed"))
    assert (event.before["tags"], event.after["tags"]) == ([], saved)


def test_a_comma_separated_string_is_a_list_of_tags(owner, domain):
    assert tags.set_tags(owner, domain, "b, a,, ") == ["a", "b"]
    assert tags.set_tags(owner, domain, "") == [] == stored_tags(domain)


@pytest.mark.parametrize("value, code, words", [
    (["ok", "no!"], "tag_invalid", '"no!" may only contain'),
    (["x" * 51], "tag_too_long", "at most 50"),
    ([f"t{n}" for n in range(21)], "too_many_tags", "at most 20"),
    (["ok", "   "], "tag_empty", "cannot be empty"),
])
def test_bad_tags_are_refused_with_the_reason_and_the_old_ones_kept(owner, domain, value, code,
                                                                    words):
    tags.set_tags(owner, domain, ["keep-me"])
    with pytest.raises(ValidationFailed) as refused:
        tags.set_tags(owner, domain, value)
    assert refused.value.code == code and words in refused.value.message
    assert refused.value.fields == {"tags": refused.value.message}
    assert stored_tags(domain) == ["keep-me"]


def test_twenty_tags_of_fifty_characters_are_fine(owner, domain):
    many = [f"{n:02d}" + "x" * 48 for n in range(20)]
    assert tags.set_tags(owner, domain, many) == sorted(many)


def test_a_group_is_trimmed_and_one_spelling_is_kept_per_workspace(owner, domain):
    other = DomainFactory(workspace=owner.workspace, fqdn="other.test")
    assert tags.set_group(owner, domain, "  Sales   EMEA ") == "Sales EMEA"
    assert tags.set_group(owner, other, "sales emea") == "Sales EMEA"
    assert tags.set_group(owner, other, "   ") is None and other.group_name is None
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "domain.group_changed")).all()
    assert len(actions) == 3


def test_a_group_over_64_characters_is_refused_and_the_old_one_kept(owner, domain):
    tags.set_group(owner, domain, "Marketing")
    with pytest.raises(ValidationFailed) as refused:
        tags.set_group(owner, domain, "g" * 65)
    assert refused.value.code == "group_too_long" and "group" in refused.value.fields
    assert domain.group_name == "Marketing"
    assert tags.set_group(owner, domain, "g" * 64) == "g" * 64


def test_viewers_cannot_change_tags_or_groups(owner, domain):
    viewer = actor_for(Role.VIEWER, owner.workspace)
    with pytest.raises(PermissionDenied):
        tags.set_tags(viewer, domain, ["x"])
    with pytest.raises(PermissionDenied):
        tags.set_group(viewer, domain, "x")


def test_the_list_filters_by_tag_group_and_parent(owner, domain):
    sub = DomainFactory(workspace=owner.workspace, fqdn="news.example.test", parent=domain)
    lone = DomainFactory(workspace=owner.workspace, fqdn="lone.test")
    tags.set_tags(owner, domain, ["eu"])
    tags.set_tags(owner, sub, ["EU", "team-a"])
    tags.set_group(owner, lone, "Sales")
    names = lambda **f: [d.fqdn for d in service.list_domains(owner, **f)]  # noqa: E731
    assert names(tag=" Eu ") == ["example.test", "news.example.test"]
    assert names(tag="team-a") == ["news.example.test"]
    assert names(group="SALES") == ["lone.test"]
    assert names(parent=service.TOP_LEVEL) == ["example.test", "lone.test"]
    assert names(parent=domain.id) == ["news.example.test"]
    assert names(parent=domain.id, tag="team-a") == ["news.example.test"]
    assert names(tag="nobody") == []


def test_tags_of_another_workspace_never_match(owner, domain):
    theirs = DomainFactory(workspace=WorkspaceFactory(), fqdn="theirs.test")
    db.session.add(DomainTag(domain_id=theirs.id, tag="eu", workspace_id=theirs.workspace_id))
    assert service.list_domains(owner, tag="eu") == []


# --- the API --------------------------------------------------------------------------------

@pytest.fixture
def api(client, owner):
    headers = {"Authorization": f"Bearer {api_token(owner.user, owner.workspace)}"}

    def call(method: str, path: str, **kwargs):
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def test_patch_sets_tags_and_group_and_returns_them(api, domain):
    response = api("PATCH", f"/domains/{domain.id}", json={"tags": ["Team A", "eu"],
                                                           "group": " Growth "})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["tags"], body["group"], body["parent_id"]) == (["eu", "team a"], "Growth", None)
    cleared = api("PATCH", f"/domains/{domain.id}", json={"group": None, "tags": []}).get_json()
    assert (cleared["tags"], cleared["group"]) == ([], None)


def test_a_refused_field_changes_nothing_at_all(api, owner, domain):
    api("PATCH", f"/domains/{domain.id}", json={"tags": ["keep"], "group": "Keep"})
    response = api("PATCH", f"/domains/{domain.id}",
                   json={"tags": ["fine"], "group": "g" * 65, "dkim_rotation_days": 30})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "group_too_long"
    db.session.expire_all()
    domain = db.session.get(Domain, domain.id)
    assert (domain.tags, domain.group_name, domain.dkim_rotation_days) == (["keep"], "Keep", None)


def test_patch_with_nothing_to_change_is_refused(api, domain):
    response = api("PATCH", f"/domains/{domain.id}", json={})
    assert response.status_code == 422
    assert "dkim_rotation_days, tags or group" in str(response.get_json()["error"]["fields"])
    bad = api("PATCH", f"/domains/{domain.id}", json={"tags": "not-a-list"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {"tags": ["Not a valid list."]}


def test_the_api_list_filters(api, owner, domain):
    sub = DomainFactory(workspace=owner.workspace, fqdn="news.example.test", parent=domain)
    tags.set_tags(owner, sub, ["eu"])
    tags.set_group(owner, domain, "Core")
    ids = lambda query: [d["id"] for d in api("GET", f"/domains?{query}").get_json()]  # noqa: E731
    assert ids("tag=EU") == [sub.id]
    assert ids("group=core") == [domain.id]
    assert ids("parent=none") == [domain.id]
    assert ids(f"parent={domain.id}") == [sub.id]
    listed = api("GET", "/domains?tag=eu").get_json()[0]
    assert (listed["tags"], listed["group"], listed["parent_id"]) == (["eu"], None, domain.id)
    assert api("GET", "/domains?parent=abc").status_code == 422


def test_the_api_parent_filter_does_not_reach_another_workspace(api):
    theirs = DomainFactory(workspace=WorkspaceFactory(), fqdn="theirs.test")
    DomainFactory(workspace=theirs.workspace, fqdn="sub.theirs.test", parent=theirs)
    response = api("GET", f"/domains?parent={theirs.id}")
    assert response.status_code == 404


# --- the web pages --------------------------------------------------------------------------

def labels_url(owner, domain, **query) -> str:
    suffix = f"?edit={query['edit']}" if query else ""
    return f"/w/{owner.workspace.slug}/domains/{domain.id}/labels{suffix}"


def test_edit_swaps_in_an_input_and_save_swaps_the_result_back(client, owner, domain):
    login(client, owner.user)
    target = {"HX-Request": "true", "HX-Target": f"labels-{domain.id}"}
    editing = client.get(labels_url(owner, domain, edit="tags"), headers=target)
    html = editing.get_data(as_text=True)
    assert editing.status_code == 200 and "<html" not in html and 'name="tags"' in html

    saved = client.post(labels_url(owner, domain), data={"tags": "Team A, eu"}, headers=target)
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "<html" not in html
    assert "team a" in html and 'name="tags"' not in html
    assert stored_tags(domain) == ["eu", "team a"]


def test_a_refused_tag_stays_in_the_input_with_the_reason(client, owner, domain):
    login(client, owner.user)
    tags.set_tags(owner, domain, ["keep"])
    target = {"HX-Request": "true", "HX-Target": f"labels-{domain.id}"}
    refused = client.post(labels_url(owner, domain), data={"tags": "fine, bad!"},
                          headers=target)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<html" not in html
    assert 'value="fine, bad!"' in html and "may only contain" in html
    assert stored_tags(domain) == ["keep"]


def test_without_javascript_the_labels_page_saves_and_redirects(client, owner, domain):
    login(client, owner.user)
    page = client.get(labels_url(owner, domain, edit="group"))
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    response = client.post(labels_url(owner, domain), data={"group": "Growth"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Domain, domain.id).group_name == "Growth"


def test_the_domain_list_shows_and_filters_by_tags_and_groups(client, owner, domain):
    other = DomainFactory(workspace=owner.workspace, fqdn="other.test")
    tags.set_tags(owner, domain, ["eu"])
    tags.set_group(owner, other, "Growth")
    login(client, owner.user)
    base = f"/w/{owner.workspace.slug}/domains/"
    everything = client.get(base).get_data(as_text=True)
    assert f'id="labels-{domain.id}"' in everything and f'id="labels-{other.id}"' in everything
    by_tag = client.get(f"{base}?tag=eu").get_data(as_text=True)
    assert "example.test" in by_tag and "other.test" not in by_tag
    by_group = client.get(f"{base}?group=growth").get_data(as_text=True)
    assert "other.test" in by_group and f'id="labels-{domain.id}"' not in by_group
    assert "No domains match" in client.get(f"{base}?tag=nobody").get_data(as_text=True)
