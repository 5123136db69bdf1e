"""Webhook URLs: their shape, and which addresses a delivery may never reach (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest

from app.adapters.dns import Answer
from app.adapters.webhooks import WebhookRefused, parse_url, refusal_reason, vet


@pytest.mark.parametrize("url, code", [
    ("", "webhook_url_missing"),
    ("ftp://hooks.example.com/in", "webhook_scheme_refused"),
    ("file:///etc/passwd", "webhook_scheme_refused"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "webhook_scheme_refused"),
    ("hooks.example.com/in", "webhook_scheme_refused"),
    ("https://user:pass@hooks.example.com/in", "webhook_credentials_in_url"),
    ("https://hooks.example.com:99999/in", "webhook_url_invalid"),
    ("https:///in", "webhook_url_invalid"),
    ("https://hooks.example.com/in#part", "webhook_url_invalid"),
    ("https://hooks.example.com/a b", "webhook_url_invalid"),
    ("https://" + "a" * 2000 + ".example", "webhook_url_too_long"),
])
def test_urls_that_are_not_plain_http_endpoints_are_refused_with_a_code(url, code):
    with pytest.raises(WebhookRefused) as refused:
        parse_url(url)
    assert refused.value.code == code and refused.value.message


def test_a_url_is_split_for_a_pinned_request():
    target = parse_url("HTTPS://Hooks.Example.COM./in?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https", "hooks.example.com", 443, "/in?x=1")
    assert target.host_header == "hooks.example.com"
    assert parse_url("http://[::1]:8080").host_header == "[::1]:8080"
    assert parse_url("http://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "private"), ("100.64.0.1", "not publicly routable"),
    ("192.0.2.10", "private"), ("fd00::1", "private"),
    # IPv4 carried inside IPv6 is judged as the IPv4 it carries.
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"),
])
def test_addresses_inside_our_networks_are_refused(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                                     "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None


class Zone:
    """A resolver answering from a dict: enough for vet() without a DNS server."""

    def __init__(self, records: dict[tuple[str, str], list[str]], failing: bool = False):
        self.records, self.failing = records, failing

    def query(self, name: str, rdtype: str) -> Answer:
        if self.failing:
            return Answer(name, rdtype, "timeout")
        values = self.records.get((name, rdtype))
        return Answer(name, rdtype, "ok" if values else "nodata", records=values or [])


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    zone = Zone({("hooks.example.com", "A"): ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(WebhookRefused, match="resolves to 10.0.0.5") as refused:
        vet("https://hooks.example.com/in", zone, allow_private=False)
    assert refused.value.code == "webhook_private_address"


def test_an_ip_literal_is_judged_without_dns():
    with pytest.raises(WebhookRefused) as refused:
        vet("http://[::1]:9000/", Zone({}), allow_private=False)
    assert refused.value.code == "webhook_private_address"
    assert vet("http://[::1]:9000/", Zone({}), allow_private=True).addresses == ("::1",)


def test_the_vetted_addresses_are_the_ones_a_delivery_connects_to():
    zone = Zone({("hooks.example.com", "A"): ["93.184.215.14"],
                 ("hooks.example.com", "AAAA"): ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    target = vet("https://hooks.example.com/in", zone, allow_private=False)
    assert target.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")


def test_a_name_without_addresses_or_whose_lookup_fails_is_refused_with_its_reason():
    with pytest.raises(WebhookRefused) as missing:
        vet("https://nothing.example/", Zone({}), allow_private=True)
    assert missing.value.code == "webhook_host_unresolvable"
    with pytest.raises(WebhookRefused) as failing:
        vet("https://hooks.example.com/", Zone({}, failing=True), allow_private=True)
    assert failing.value.code == "webhook_host_lookup_failed"
