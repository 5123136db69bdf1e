"""Tenant isolation: nothing of one workspace can be seen or changed from another.

The sweep walks `app.url_map`, not a hand-written list, so a new route is covered the
day it is added — or the classification test fails until someone says why it is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import pytest
from sqlalchemy import select

from app.auth.models import ApiToken, User
from app.domains.models import Domain, EmailAccount
from app.extensions import db
from app.monitoring.models import AlertChannel, ChannelKind
from app.tracking.models import TrackingHost
from app.workspaces.models import Membership, Workspace
from app.workspaces.roles import Role
from tests.factories import (DkimKeyFactory, EmailAccountFactory, InvitationFactory,
                             WorkspaceFactory, api_token, member)
from tests.helpers import login, workspace_rows

# Routes outside the sweep, each with the reason it holds no tenant's data.
NOT_TENANT_SCOPED = {
    "static": "public files (CSS, JS)",
    "auth.login": "public: signing in",
    "auth.logout": "public: signing out",
    "auth.accept_invitation": "public: the signed token is the credential "
                              "(tampering is tested in test_workspaces)",
    "health.healthz": "public liveness probe, no data",
    "api_docs.docs": "public API reference",
    "api-docs.openapi_json": "public OpenAPI document",
    "workspaces.home": "redirects to one of the user's own workspaces",
    "workspaces.create": "creates a new workspace owned by the user",
    "auth.account": "the signed-in user's own account",
    "api_account.me": "scoped by the bearer token (test_api_token_sees_only_its_workspace)",
    "api_account.workspaces": "scoped by the bearer token "
                              "(test_api_lists_only_the_users_workspaces)",
    "api_domains.list_domains": "scoped by the bearer token "
                                "(test_api_lists_only_the_tokens_domains)",
    "api_domains.add_domain": "adds to the bearer token's workspace "
                              "(test_api_adds_domains_to_the_tokens_workspace_only)",
    "tracking_public.acme_challenge": "public: ACME HTTP-01 answers, bound to the host asked",
    "tracking_public.click": "public: the signed token names one link (test_tracking_links)",
    "tracking_public.open_pixel": "public: the signed token names one message "
                                  "(test_tracking_links)",
    "tracking_public.ask": "public: says only whether a host name may get a certificate",
    "api_tracking.list_hosts": "scoped by the bearer token (test_tracking_hosts)",
    "api_tracking.track_message": "looks the domain up in the bearer token's workspace "
                                  "(test_tracking_links)",
    "api_alerts.list_channels": "scoped by the bearer token "
                                "(test_alerts_api: test_the_api_lists_only_the_tokens_channels)",
    "api_alerts.create_channel": "adds to the bearer token's workspace "
                                 "(test_alerts_api: test_the_api_lists_only_the_tokens_channels)",
    "api_alerts.list_alerts": "scoped by the bearer token "
                              "(test_alerts_api: test_the_api_lists_only_the_tokens_alerts)",
    "api_health.list_health": "scoped by the bearer token "
                              "(test_health_api: test_the_list_shows_only_the_tokens_domains)",
    "api_health.validate_record": "judges the posted text alone: reads and writes no rows",
    "api_events.ingest_events": "looks domains up in the bearer token's workspace only "
                                "(test_events_api: another workspace's domain is "
                                "unknown_domain)",
}
# API routes that name an object are swept with a bearer token instead
# (test_api_another_workspaces_ids_are_not_found_on_every_api_route).
API_PREFIX = "/api/"
RQ_DASHBOARD = "rq_dashboard."  # platform admins only: test_rq_dashboard_*

# Placeholder values for the dashboard's own URL arguments.
RQ_ARGUMENTS = {"instance_number": 0, "job_id": "no-such-job", "queue_name": "mail",
                "registry_name": "queued", "per_page": 10, "order": "asc", "page": 1,
                "filename": "js/dashboard.js"}

# Enough for any form in the portal to pass validation, so a route cannot hide behind a 422.
FORM = {"name": "taken-over.example", "email": "intruder@example.com", "role": "owner",
        "local_part": "sweep", "display_name": "Taken over", "daily_limit": "100",
        "hostname": "sweep", "subdomain": "sweep", "tags": "sweep", "group": "Sweep",
        "dkim_rotation_days": "90", "addresses": "intruder@example.com",
        "url": "https://93.184.215.14/penguinmails"}
# The same for JSON bodies, by API endpoint and method (webargs refuses unknown fields).
API_BODIES = {
    ("api_email_accounts.create_account", "POST"): {"local_part": "sweep",
                                                    "display_name": "Taken over",
                                                    "daily_limit": 100},
    ("api_email_accounts.update_account", "PATCH"): {"display_name": "Taken over",
                                                     "daily_limit": 100, "status": "paused"},
    ("api_domains.update_domain", "PATCH"): {"dkim_rotation_days": 90},
    ("api_domains.add_dkim_key", "POST"): {"algorithm": "ed25519"},
    ("api_tracking.add_host", "POST"): {"name": "sweep"},
    ("api_alerts.update_channel", "PATCH"): {"enabled": False},
    ("api_subdomains.create_subdomain", "POST"): {"name": "sweep"},
}


@dataclass
class Tenant:
    workspace: Workspace
    owner: User
    colleague: User
    colleague_token: str
    url_values: dict[str, object]


def workspace_objects(workspace: Workspace) -> tuple[User, str, dict[str, object]]:
    """A colleague with an API token and a pending invitation in `workspace`, and the
    value of every URL argument a workspace route may take, pointing at them."""
    colleague = member(Role.MEMBER, workspace)
    invitation = InvitationFactory(workspace=workspace)
    secret = api_token(colleague, workspace, secret=f"pmd_{workspace.slug}-{colleague.id}")
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == colleague.id))
    account = EmailAccountFactory(domain__workspace=workspace)
    key = DkimKeyFactory(domain=account.domain)  # so the domain's key can rotate
    # A request may delete these, and SQLite gives a deleted row's id to the next row: a
    # copy left in this session would then clash with the next domain or account made here.
    db.session.expunge(account)
    db.session.expunge(key)
    db.session.expunge(account.domain)
    tracking_host = TrackingHost(workspace_id=workspace.id, domain_id=account.domain_id,
                                 hostname=f"track.{account.domain.fqdn}")
    db.session.add(tracking_host)
    db.session.flush()
    db.session.expunge(tracking_host)
    # A webhook channel: every channel route applies to it (an email one has no secret).
    channel = AlertChannel(workspace_id=workspace.id, kind=ChannelKind.WEBHOOK,
                           name="Sweep hook", target="https://hooks.example.com/in")
    db.session.add(channel)
    db.session.flush()
    db.session.expunge(channel)
    return colleague, secret, {
        "slug": workspace.slug,
        "membership_id": colleague.membership_in(workspace.id).id,
        "invitation_id": invitation.id,
        "token_id": token_id,
        "domain_id": account.domain_id,
        "account_id": account.id,
        "tracking_host_id": tracking_host.id,
        "channel_id": channel.id,
    }


def make_tenant(name: str) -> Tenant:
    workspace = WorkspaceFactory(name=name)
    owner = member(Role.OWNER, workspace)
    return Tenant(workspace, owner, *workspace_objects(workspace))


@pytest.fixture
def tenant_a() -> Tenant:
    return make_tenant("Alpha Agency")


@pytest.fixture
def tenant_b() -> Tenant:
    return make_tenant("Bravo Confidential")


def tenant_rows(workspace: Workspace) -> dict:
    """workspace_rows() and the workspace's domains and email accounts."""
    rows = workspace_rows(workspace)
    rows["domains"] = sorted(db.session.execute(
        select(Domain.id, Domain.fqdn, Domain.status).where(Domain.workspace_id == workspace.id)))
    rows["email_accounts"] = sorted(db.session.execute(
        select(EmailAccount.id, EmailAccount.local_part, EmailAccount.display_name,
               EmailAccount.daily_limit, EmailAccount.status)
        .where(EmailAccount.workspace_id == workspace.id)))
    rows["alert_channels"] = sorted(db.session.execute(
        select(AlertChannel.id, AlertChannel.name, AlertChannel.target, AlertChannel.enabled,
               AlertChannel.secret_ref).where(AlertChannel.workspace_id == workspace.id)))
    return rows


def swept_rules(app) -> list:
    """Every browser rule that names a workspace or an object: all must be tenant-checked."""
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.arguments and rule.endpoint not in NOT_TENANT_SCOPED
                   and not rule.endpoint.startswith(RQ_DASHBOARD)
                   and not rule.rule.startswith(API_PREFIX)), key=lambda r: r.rule)


def api_rules(app) -> list:
    """Every API rule that names an object: the token's workspace must own it."""
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.arguments and rule.rule.startswith(API_PREFIX)
                   and rule.endpoint not in NOT_TENANT_SCOPED), key=lambda r: r.rule)


def methods_of(rule) -> list[str]:
    return sorted(rule.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"})


def build(rule, values: dict[str, object]) -> str:
    missing = rule.arguments - values.keys()
    if missing:
        pytest.fail(f"{rule.rule} takes {sorted(missing)}: teach workspace_objects() "
                    "which row of tenant B each one names, so the sweep covers it")
    return rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]


# --- the route inventory -----------------------------------------------------------------

def test_every_route_is_workspace_scoped_or_says_why_not(app):
    api_swept = {rule.endpoint for rule in api_rules(app)}
    unexplained = sorted(
        f"{rule.rule} ({rule.endpoint})" for rule in app.url_map.iter_rules()
        if "slug" not in rule.arguments and rule.endpoint not in NOT_TENANT_SCOPED
        and not rule.endpoint.startswith(RQ_DASHBOARD) and rule.endpoint not in api_swept)
    assert unexplained == [], (
        "Put these under /w/<slug>/ (workspace_blueprint) or add them to NOT_TENANT_SCOPED "
        "with the reason they hold no tenant's data")


def test_the_sweep_covers_every_workspace_route(app):
    swept = {rule.endpoint for rule in swept_rules(app)}
    assert swept >= {"workspace.overview", "workspace.members", "workspace.invite",
                     "workspace.change_role", "workspace.remove_member",
                     "workspace.revoke_invitation", "workspace.settings", "tokens.index",
                     "tokens.create", "tokens.revoke", "audit.index", "dkim_keys.index",
                     "dkim_keys.rotate", "dkim_keys.cadence"}


# --- the sweep ---------------------------------------------------------------------------

@pytest.mark.parametrize("platform_admin", [False, True], ids=["owner", "platform-admin-owner"])
def test_another_workspace_is_not_found_on_every_route(app, client, tenant_a, tenant_b,
                                                       platform_admin):
    tenant_a.owner.is_platform_admin = platform_admin
    db.session.flush()
    login(client, tenant_a.owner)
    before = tenant_rows(tenant_b.workspace)
    theirs = tenant_b.url_values
    for rule in swept_rules(app):
        url = build(rule, theirs)
        for method in methods_of(rule):
            response = client.open(url, method=method, data=FORM)
            assert response.status_code == 404, (method, url, response.status_code)
            html = response.get_data(as_text=True)
            assert tenant_b.workspace.name not in html and tenant_b.colleague.email not in html
    assert tenant_rows(tenant_b.workspace) == before


def test_objects_of_another_workspace_are_not_found_under_your_own(app, client, tenant_a,
                                                                   tenant_b):
    login(client, tenant_a.owner)
    before = tenant_rows(tenant_b.workspace)
    mixed = {**tenant_b.url_values, "slug": tenant_a.workspace.slug}
    rules = [rule for rule in swept_rules(app) if rule.arguments - {"slug"}]
    assert rules, "no route takes an object id: this test would prove nothing"
    for rule in rules:
        url = build(rule, mixed)
        for method in methods_of(rule):
            response = client.open(url, method=method, data=FORM)
            assert response.status_code == 404, (method, url, response.status_code)
            assert tenant_b.colleague.email not in response.get_data(as_text=True)
    assert tenant_rows(tenant_b.workspace) == before


def test_the_swept_urls_do_work_for_your_own_workspace(app, client, tenant_a):
    """The control: the sweep's 404s come from the tenant check, not from broken URLs."""
    login(client, tenant_a.owner)
    for rule in swept_rules(app):
        for method in methods_of(rule):
            _, _, ours = workspace_objects(tenant_a.workspace)  # fresh: a POST may remove them
            response = client.open(build(rule, ours), method=method, data={**FORM, "role": "viewer"})
            assert response.status_code in (200, 201, 302), (method, rule.rule, response.status_code)


def test_signed_out_visitors_are_sent_to_sign_in_whether_or_not_a_workspace_exists(
        app, client, tenant_b):
    for values in (tenant_b.url_values, {**tenant_b.url_values, "slug": "no-such-workspace"}):
        for rule in swept_rules(app):
            url = build(rule, values)
            for method in methods_of(rule):
                response = client.open(url, method=method, data=FORM)
                assert response.status_code == 302, (method, url, response.status_code)
                assert response.headers["Location"].startswith("/login?next=")


# --- the RQ dashboard --------------------------------------------------------------------

def rq_rules(app) -> list:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith(RQ_DASHBOARD)]


def test_rq_dashboard_is_not_found_for_anyone_but_platform_admins(app, client, tenant_a):
    login(client, tenant_a.owner)
    rules = rq_rules(app)
    assert rules
    for rule in rules:
        url = build(rule, RQ_ARGUMENTS)
        for method in methods_of(rule):
            # Some URLs first get werkzeug's 308 to their canonical form, before any check.
            response = client.open(url, method=method, follow_redirects=True)
            assert response.status_code == 404, (method, url, response.status_code)


def test_rq_dashboard_asks_signed_out_visitors_to_sign_in(client):
    response = client.get("/admin/rq/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_rq_dashboard_opens_for_a_platform_admin(client):
    admin = member(Role.VIEWER, is_platform_admin=True)
    login(client, admin)
    assert client.get("/admin/rq/").status_code == 200


# --- the API -----------------------------------------------------------------------------

def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_api_token_sees_only_its_workspace(client, tenant_a, tenant_b):
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] == tenant_a.owner.email
    assert body["workspace"]["slug"] == tenant_a.workspace.slug
    assert "Bravo" not in response.get_data(as_text=True)


def test_api_lists_only_the_users_workspaces(client, tenant_a, tenant_b):
    third = WorkspaceFactory(name="Charlie Co")
    db.session.add(Membership(workspace=third, user=tenant_a.owner, role=Role.VIEWER))
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    response = client.get("/api/v1/workspaces", headers=bearer(secret))
    assert response.status_code == 200
    listed = {(w["slug"], w["role"], w["current"]) for w in response.get_json()}
    assert listed == {(tenant_a.workspace.slug, "owner", True), (third.slug, "viewer", False)}


def test_token_of_a_workspace_its_user_does_not_belong_to_is_refused(client, tenant_a, tenant_b):
    secret = api_token(tenant_a.owner, tenant_b.workspace, secret="pmd_forged-for-bravo")
    for path in ("/api/v1/me", "/api/v1/workspaces"):
        response = client.get(path, headers=bearer(secret))
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_token"


def test_token_stops_working_when_its_user_leaves_the_workspace(client, tenant_b):
    secret = tenant_b.colleague_token
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    db.session.delete(tenant_b.colleague.membership_in(tenant_b.workspace.id))
    db.session.flush()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_the_api_sweep_covers_every_api_route_with_an_id(app):
    swept = {rule.endpoint for rule in api_rules(app)}
    assert swept >= {"api_domains.get_domain", "api_domains.delete_domain",
                     "api_domains.dns_records", "api_domains.verify", "api_domains.verification",
                     "api_domains.dkim_keys", "api_domains.update_domain",
                     "api_domains.add_dkim_key", "api_domains.rotate_dkim_key",
                     "api_email_accounts.list_accounts",
                     "api_email_accounts.create_account", "api_email_accounts.get_account",
                     "api_email_accounts.update_account", "api_email_accounts.delete_account"}


def mixes(rule, ours: dict, theirs: dict) -> list[dict]:
    """The rule's arguments with one or more of them naming the other tenant's rows: their
    domain, their account under our domain, and so on."""
    names = sorted(rule.arguments)
    return [{**ours, **{name: theirs[name] for name in chosen}}
            for size in range(1, len(names) + 1) for chosen in combinations(names, size)]


def test_api_another_workspaces_ids_are_not_found_on_every_api_route(app, client, tenant_a,
                                                                     tenant_b):
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    before = tenant_rows(tenant_b.workspace)
    for rule in api_rules(app):
        for values in mixes(rule, tenant_a.url_values, tenant_b.url_values):
            url = build(rule, values)
            for method in methods_of(rule):
                response = client.open(url, method=method,
                                       json=API_BODIES.get((rule.endpoint, method)),
                                       headers=bearer(secret))
                assert response.status_code == 404, (method, url, response.status_code)
                assert response.get_json()["error"]["code"] == "not_found"
                assert tenant_b.workspace.name not in response.get_data(as_text=True)
    assert tenant_rows(tenant_b.workspace) == before


def test_api_swept_urls_do_work_with_your_own_ids(app, client, tenant_a):
    """The control: the API sweep's 404s come from the tenant check, not from broken URLs."""
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    for rule in api_rules(app):
        for method in methods_of(rule):
            _, _, ours = workspace_objects(tenant_a.workspace)  # fresh: a DELETE removes them
            response = client.open(build(rule, ours), method=method,
                                   json=API_BODIES.get((rule.endpoint, method)),
                                   headers=bearer(secret))
            assert response.status_code in (200, 201, 202, 204), (method, rule.rule,
                                                                  response.status_code)


def test_api_lists_only_the_tokens_domains(client, tenant_a, tenant_b):
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    response = client.get("/api/v1/domains", headers=bearer(secret))
    assert response.status_code == 200
    assert [d["id"] for d in response.get_json()] == [tenant_a.url_values["domain_id"]]


def test_api_adds_domains_to_the_tokens_workspace_only(client, tenant_a, tenant_b):
    secret = api_token(tenant_a.owner, tenant_a.workspace, secret="pmd_alpha-owner")
    before = tenant_rows(tenant_b.workspace)
    response = client.post("/api/v1/domains", json={"name": "alpha-new.example"},
                           headers=bearer(secret))
    assert response.status_code == 201
    assert db.session.get(Domain, response.get_json()["id"]).workspace_id == tenant_a.workspace.id
    assert tenant_rows(tenant_b.workspace) == before
