"""Tracked links and open pixels: recorded by the MTA over the API, answered on tracking hosts,
each click and open becoming one reputation event."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.domains.models import DomainStatus
from app.extensions import db
from app.reputation.models import EventType, ReputationEvent
from app.tracking import service
from app.tracking.models import HostStatus, TrackedLink, TrackedMessage, TrackingHost
from app.tracking.public import PIXEL
from app.uow import commit
from tests.factories import DomainFactory, api_token
from tests.onboarding import actor_for

DOMAIN = "example.test"
HOST = f"track.{DOMAIN}"
SHOP = "https://shop.example.test/spring?utm_source=mail"
BLOG = "https://blog.example.test/post/1"


@pytest.fixture
def domain(owner):
    return DomainFactory(workspace=owner.workspace, fqdn=DOMAIN, status=DomainStatus.VERIFIED)


@pytest.fixture
def bearer(owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(owner.user, owner.workspace)}"}


@pytest.fixture
def platform(app) -> str:
    return app.config["PLATFORM_TRACKING_HOST"]


def tracking_host(domain, status: HostStatus = HostStatus.ACTIVE,
                  hostname: str = HOST) -> TrackingHost:
    host = TrackingHost(workspace_id=domain.workspace_id, domain_id=domain.id, hostname=hostname,
                        status=status)
    db.session.add(host)
    service.invalidate_allow_list_after_commit()
    commit()
    return host


def track(client, bearer, urls, message_id="<m1@mta.penguinmails.test>", **extra):
    return client.post("/api/v1/tracking/messages", headers=bearer,
                       json={"domain": DOMAIN, "message_id": message_id, "urls": urls, **extra})


def visit(client, tracked_url: str, host: str | None = None):
    """Follow a tracked URL as a mail reader would: to its host, with its path."""
    parts = urlsplit(tracked_url)
    return client.get(parts.path, headers={"Host": host or parts.hostname})


def events(event_type: EventType) -> list[ReputationEvent]:
    return list(db.session.scalars(select(ReputationEvent).where(
        ReputationEvent.type == event_type)))


# --- recording a message's links -------------------------------------------------------------

def test_links_use_the_platform_host_while_the_domain_has_no_active_host(client, domain, bearer,
                                                                        platform):
    tracking_host(domain, HostStatus.PENDING)
    response = track(client, bearer, [SHOP, BLOG, SHOP])
    assert response.status_code == 201
    body = response.get_json()
    assert body["host"] == platform and body["message_id"] == "<m1@mta.penguinmails.test>"
    assert [link["url"] for link in body["links"]] == [SHOP, BLOG]  # each URL once
    assert all(link["tracked_url"].startswith(f"https://{platform}/c/") for link in body["links"])
    assert body["open_url"].startswith(f"https://{platform}/o/")
    assert body["open_url"].endswith(".gif")


def test_links_use_the_domains_active_tracking_host(client, domain, bearer):
    tracking_host(domain, HostStatus.ACTIVE)
    body = track(client, bearer, [SHOP]).get_json()
    assert body["host"] == HOST
    assert body["links"][0]["tracked_url"].startswith(f"https://{HOST}/c/")


def test_a_subdomain_without_a_host_of_its_own_uses_its_nearest_ancestors(client, domain,
                                                                           bearer):
    news = DomainFactory(workspace=domain.workspace, parent=domain, fqdn=f"news.{DOMAIN}",
                         status=DomainStatus.VERIFIED)
    eu = DomainFactory(workspace=domain.workspace, parent=news, fqdn=f"eu.news.{DOMAIN}",
                       status=DomainStatus.VERIFIED)
    tracking_host(domain, HostStatus.ACTIVE)
    tracking_host(news, HostStatus.ACTIVE, hostname=f"track.news.{DOMAIN}")
    tracking_host(eu, HostStatus.PENDING, hostname=f"track.eu.news.{DOMAIN}")
    body = client.post("/api/v1/tracking/messages", headers=bearer, json={
        "domain": f"eu.news.{DOMAIN}", "message_id": "<m2@mta>", "urls": [SHOP]}).get_json()
    assert body["host"] == f"track.news.{DOMAIN}"
    clicked = visit(client, body["links"][0]["tracked_url"])
    assert clicked.status_code == 302 and clicked.headers["Location"] == SHOP


def test_asking_again_for_a_message_returns_its_links_and_adds_new_ones(client, domain, bearer):
    first = track(client, bearer, [SHOP]).get_json()
    again = track(client, bearer, [BLOG, SHOP])
    assert again.status_code == 200
    links = {link["url"]: link["tracked_url"] for link in again.get_json()["links"]}
    assert links[SHOP] == first["links"][0]["tracked_url"]
    assert again.get_json()["open_url"] == first["open_url"]
    assert db.session.scalar(select(func.count()).select_from(TrackedMessage)) == 1
    assert db.session.scalar(select(func.count()).select_from(TrackedLink)) == 2


def test_one_bad_url_refuses_the_message_naming_each_bad_index(client, domain, bearer):
    response = track(client, bearer, [SHOP, "javascript:alert(1)", "ftp://files.example.test/a",
                                      "https://a b.example.test/", "", "/relative/path",
                                      "https://example.test:port/", "x" * 3000])
    assert response.status_code == 422
    problems = response.get_json()["error"]["fields"]["urls"]
    assert sorted(problems, key=int) == ["1", "2", "3", "4", "5", "6", "7"]
    assert problems["1"] == "Only absolute http:// and https:// URLs can be tracked."
    assert "percent-encode" in problems["3"] and "2048" in problems["7"]
    assert db.session.scalar(select(func.count()).select_from(TrackedMessage)) == 0


@pytest.mark.parametrize("body, field", [
    ({"domain": "other.test"}, "domain"),
    ({"domain": "not a domain"}, "domain"),
    ({"message_id": ""}, "message_id"),
    ({"message_id": "x" * 300}, "message_id"),
    ({"account": "a\nb@example.test"}, "account"),
])
def test_bad_message_fields_are_refused_with_the_field_named(client, domain, bearer, body, field):
    payload = {"domain": DOMAIN, "message_id": "<m@x>", "urls": [SHOP], **body}
    response = client.post("/api/v1/tracking/messages", headers=bearer, json=payload)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_another_workspaces_domain_is_unknown_to_the_token(client, domain, bearer):
    rival = actor_for()
    DomainFactory(workspace=rival.workspace, fqdn="rival.test")
    response = client.post("/api/v1/tracking/messages", headers=bearer,
                           json={"domain": "rival.test", "message_id": "m", "urls": [SHOP]})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unknown_domain"


# --- clicks and opens ------------------------------------------------------------------------

def test_a_click_redirects_to_its_url_and_is_recorded_once(client, domain, bearer, owner):
    tracking_host(domain)
    tracked = track(client, bearer, [SHOP], account="news@example.test").get_json()
    link = tracked["links"][0]["tracked_url"]
    for _ in range(2):
        response = visit(client, link)
        assert response.status_code == 302 and response.headers["Location"] == SHOP
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    [event] = events(EventType.CLICKED)
    assert (event.workspace_id, event.domain_id, event.account) == (owner.workspace.id, domain.id,
                                                                    "news@example.test")
    assert event.event_id.startswith("click:") and event.ip is None


def test_each_link_of_a_message_counts_its_own_click(client, domain, bearer):
    tracked = track(client, bearer, [SHOP, BLOG]).get_json()
    for link in tracked["links"]:
        assert visit(client, link["tracked_url"]).status_code == 302
    assert len(events(EventType.CLICKED)) == 2


def test_the_open_pixel_is_a_fresh_gif_and_records_one_open(client, domain, bearer):
    tracked = track(client, bearer, [SHOP]).get_json()
    for _ in range(3):
        response = visit(client, tracked["open_url"])
        assert response.status_code == 200 and response.mimetype == "image/gif"
        assert response.data == PIXEL and len(PIXEL) == 43
        assert "no-cache" in response.headers["Cache-Control"]
        assert response.headers["Pragma"] == "no-cache"
    assert len(events(EventType.OPENED)) == 1


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # a changed signature
    lambda token: str(int(token.split(".")[0]) + 1) + "." + token.split(".")[1],  # another id
    lambda token: "not-a-token",
    lambda token: token + ".extra",
    lambda token: "%FF%FE." + token.split(".")[1],  # not UTF-8
    lambda token: "9" * 40 + "." + token.split(".")[1],  # beyond any row id
])
def test_a_tampered_click_token_is_not_found(client, domain, bearer, mangle):
    tracked = track(client, bearer, [SHOP]).get_json()
    path = urlsplit(tracked["links"][0]["tracked_url"]).path
    token = path.rsplit("/", 1)[1]
    response = client.get(f"/c/{mangle(token)}", headers={"Host": tracked["host"]})
    assert response.status_code == 404
    assert events(EventType.CLICKED) == []


def test_an_open_token_does_not_work_as_a_click_token(client, domain, bearer):
    tracked = track(client, bearer, [SHOP]).get_json()
    open_token = urlsplit(tracked["open_url"]).path.removeprefix("/o/").removesuffix(".gif")
    assert client.get(f"/c/{open_token}", headers={"Host": tracked["host"]}).status_code == 404
    click_token = urlsplit(tracked["links"][0]["tracked_url"]).path.removeprefix("/c/")
    assert client.get(f"/o/{click_token}.gif",
                      headers={"Host": tracked["host"]}).status_code == 404


def test_tracking_urls_answer_only_on_hosts_we_serve(client, domain, bearer, platform):
    tracking_host(domain)
    tracked = track(client, bearer, [SHOP]).get_json()
    link = tracked["links"][0]["tracked_url"]
    assert visit(client, link, host="portal.penguinmails.test").status_code == 404
    assert visit(client, link, host="unknown.example.test").status_code == 404
    # The platform's own host answers for every message, as a fallback.
    assert visit(client, link, host=platform).status_code == 302


def test_a_customer_host_serves_only_its_own_messages(client, domain, bearer):
    tracking_host(domain)
    rival = actor_for()
    rival_domain = DomainFactory(workspace=rival.workspace, fqdn="rival.test",
                                 status=DomainStatus.VERIFIED)
    tracking_host(rival_domain, hostname="track.rival.test")
    tracked = track(client, bearer, [SHOP]).get_json()
    assert visit(client, tracked["links"][0]["tracked_url"],
                 host="track.rival.test").status_code == 404
    assert visit(client, tracked["open_url"], host="track.rival.test").status_code == 404


def test_hsts_is_sent_once_the_hosts_certificate_is_active(client, domain, bearer, platform):
    host = tracking_host(domain)
    tracked = track(client, bearer, [SHOP]).get_json()
    link = tracked["links"][0]["tracked_url"]
    assert visit(client, link).headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in visit(client, link, host=platform).headers
    host.status = HostStatus.FAILED  # its certificate ended
    service.invalidate_allow_list_after_commit()
    commit()
    response = visit(client, link)
    assert response.status_code == 302 and "Strict-Transport-Security" not in response.headers


def test_a_removed_host_no_longer_serves_its_links(client, domain, bearer, owner):
    host = tracking_host(domain)
    tracked = track(client, bearer, [SHOP]).get_json()
    service.remove_host(owner, host)
    commit()
    assert visit(client, tracked["links"][0]["tracked_url"]).status_code == 404
