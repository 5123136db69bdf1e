"""The validator when DNS misbehaves: timeouts, SERVFAIL, truncated UDP, lame and disagreeing
nameservers, blacklists that refuse or fail, and CNAMEs where they are and are not allowed."""

from __future__ import annotations

import pytest

from app.adapters.dns import DnsConfig, Resolver
from app.core.dkim import generate_key
from app.core.records import DnsRecord, Purpose
from tests.integration.test_validator import (
    GOOD_DMARC,
    GOOD_SPF,
    OUR_IP,
    check,
    codes,
    only,
)

DOMAIN = "example.test"


@pytest.fixture(scope="module")
def key():
    return generate_key("rsa")


def clean_zone(key) -> dict:
    return {
        "@": {"TXT": GOOD_SPF, "MX": "10 mx.example.test."},
        "mx": {"A": "192.0.2.25"},
        "pm1._domainkey": {"TXT": key.record_value()},
        "_dmarc": {"TXT": GOOD_DMARC},
    }


@pytest.fixture
def servers(dns_server_factory, key):
    """The zone's two nameservers, 127.0.0.1 and 127.0.0.2 on one port, serving the same."""
    first = dns_server_factory()
    second = dns_server_factory(host="127.0.0.2", port=first.address[1])
    for server in (first, second):
        server.add_zone(DOMAIN, clean_zone(key))
    return first, second


def resolver_for(*servers) -> Resolver:
    return Resolver(DnsConfig(nameservers=[server.address for server in servers],
                              timeout=0.3, lifetime=1.0, retries=0))


# --- truncated UDP answers: the TCP fallback ------------------------------------------------

@pytest.fixture(scope="module")
def big_key():
    """A 3072-bit key: its record does not fit a 512-byte UDP answer."""
    return generate_key("rsa", 3072)


def test_truncated_udp_answers_are_read_over_tcp_and_judged_right(servers, big_key):
    first, _ = servers
    first.max_udp_size = 512
    first.set_record(f"pm1._domainkey.{DOMAIN}.", "TXT", big_key.record_value())
    assert check(resolver_for(first), big_key).findings == []
    assert (f"pm1._domainkey.{DOMAIN}", "TXT", "tcp") in first.queries


def test_a_wrong_key_is_still_found_when_it_comes_over_tcp(servers, key, big_key):
    first, _ = servers
    first.max_udp_size = 512
    first.set_record(f"pm1._domainkey.{DOMAIN}.", "TXT", big_key.record_value())
    assert codes(check(resolver_for(first), key)) == {"DKIM_KEY_MISMATCH"}
    assert (f"pm1._domainkey.{DOMAIN}", "TXT", "tcp") in first.queries


def test_a_long_spf_record_over_tcp_is_too_long_not_missing(servers, key):
    first, _ = servers
    first.max_udp_size = 512
    ranges = " ".join(f"ip4:198.51.{n}.0/24" for n in range(30))
    first.set_record(f"{DOMAIN}.", "TXT", f"v=spf1 ip4:{OUR_IP} {ranges} -all")
    report = check(resolver_for(first), key)
    assert codes(report) == {"SPF_TOO_LONG"}
    assert (DOMAIN, "TXT", "tcp") in first.queries


# --- timeouts and SERVFAIL ---------------------------------------------------------------------

def test_a_timeout_at_one_name_spoils_only_that_record(servers, key):
    first, _ = servers
    first.fail(f"_dmarc.{DOMAIN}", "drop")
    report = check(resolver_for(first), key)
    assert codes(report) == {"DNS_TIMEOUT"}
    found = only(report, "DNS_TIMEOUT")
    assert (found.record_host, found.record_type) == (f"_dmarc.{DOMAIN}", "TXT")
    assert "not reported as missing" in found.message


def test_servfail_at_the_domain_is_never_a_missing_spf_or_mx(servers, key):
    first, _ = servers
    first.fail(DOMAIN, "servfail")
    report = check(resolver_for(first), key)
    assert codes(report) == {"DNS_SERVFAIL"}
    assert not codes(report) & {"SPF_MISSING", "MX_MISSING", "DMARC_MISSING", "DKIM_MISSING"}


def test_a_refused_query_is_a_dns_failure_not_a_missing_dmarc(servers, key):
    first, _ = servers
    first.fail(f"_dmarc.{DOMAIN}", "refused")
    report = check(resolver_for(first), key)
    assert codes(report) == {"DNS_SERVFAIL"}
    assert "was refused" in only(report, "DNS_SERVFAIL").message


def test_a_failing_mx_lookup_is_not_a_missing_mx(servers, key):
    first, _ = servers
    first.remove(f"{DOMAIN}.", "MX")
    first.fail(f"{DOMAIN}.", None)
    report = check(resolver_for(first), key)
    assert only(report, "MX_MISSING").severity == "error"  # no MX and no address
    first.set_record(f"{DOMAIN}.", "A", "192.0.2.80")
    assert only(check(resolver_for(first), key), "MX_MISSING").severity == "info"


# --- lame and disagreeing nameservers ---------------------------------------------------------

def test_a_lame_nameserver_is_named(servers, key):
    first, second = servers
    second.fail(DOMAIN, "lame")
    report = check(resolver_for(first, second), key)
    assert codes(report) == {"NS_LAME"}
    found = only(report, "NS_LAME")
    assert (found.record_host, found.record_type, found.severity) == (DOMAIN, "NS", "warning")
    assert second.nameserver in found.message and first.nameserver not in found.message


def test_a_nameserver_without_the_zone_is_lame(dns_server_factory, servers, key):
    first, _ = servers
    stranger = dns_server_factory(host="127.0.0.3", port=first.address[1])  # refuses the zone
    report = check(resolver_for(first, stranger), key)
    assert codes(report) == {"NS_LAME"}
    assert stranger.nameserver in only(report, "NS_LAME").message


def test_disagreeing_nameservers_show_what_each_serves(servers, key):
    first, second = servers
    second.set_record(f"_dmarc.{DOMAIN}.", "TXT", "v=DMARC1; p=none")
    report = check(resolver_for(first, second), key)
    assert codes(report) == {"NS_INCONSISTENT"}
    found = only(report, "NS_INCONSISTENT")
    assert found.record_host == f"_dmarc.{DOMAIN}"
    assert "v=DMARC1; p=none" in found.message and GOOD_DMARC in found.message
    assert first.nameserver in found.message and second.nameserver in found.message


def test_a_record_missing_on_one_nameserver_is_a_disagreement(servers, key):
    first, second = servers
    second.remove(f"{DOMAIN}.", "TXT")
    found = only(check(resolver_for(first, second), key), "NS_INCONSISTENT")
    assert "serves nothing" in found.message


def test_a_nameserver_that_times_out_while_the_other_answers_is_a_warning(servers, key):
    first, second = servers
    second.fail(DOMAIN, "drop")
    report = check(resolver_for(first, second), key)
    assert codes(report) == {"DNS_TIMEOUT"}
    assert {found.severity for found in report.findings} == {"warning"}
    assert all(second.nameserver in found.message for found in report.findings)


# --- blacklists that cannot be asked ---------------------------------------------------------

@pytest.mark.parametrize(("setup", "why"), [
    (lambda server: None, "was refused"),  # the list's zone is not served: REFUSED
    (lambda server: (server.add_zone("bl.test", {}), server.fail("bl.test", "drop")),
     "timed out"),
    (lambda server: (server.add_zone("bl.test", {}), server.fail("bl.test", "servfail")),
     "got SERVFAIL"),
    (lambda server: server.add_zone("bl.test", {"example.test": {"A": "127.255.255.255"}}),
     "127.255.255.255"),
    (lambda server: server.add_zone("bl.test", {"example.test": {"A": "127.0.0.1"}}),
     "127.0.0.1"),
    (lambda server: server.add_zone("bl.test", {"example.test": {"A": "203.0.113.9"}}),
     "outside 127.0.0.0/8"),
])
def test_a_list_that_cannot_answer_is_an_info_never_a_listing_or_dns_failure(
        servers, key, setup, why):
    first, _ = servers
    setup(first)
    report = check(resolver_for(first), key, dnsbl_domain_lists=["bl.test"])
    assert codes(report) == {"DNSBL_QUERY_REFUSED"}
    found = only(report, "DNSBL_QUERY_REFUSED")
    assert found.severity == "info" and why in found.message
    assert report.health.score == 100
    assert not any("bl.test" in name for name in report.records)


def test_an_ipv6_sending_ip_is_asked_by_nibbles(servers, key):
    first, _ = servers
    ip = "2001:db8::25"
    nibbles = "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
    first.add_zone("zen.spamhaus.org", {nibbles: {"A": "127.0.0.3"}})
    first.set_record(f"{DOMAIN}.", "TXT", f"v=spf1 ip4:{OUR_IP} ip6:{ip} -all")
    report = check(resolver_for(first), key, platform_ips=[OUR_IP, ip],
                   dnsbl_ip_lists=["zen.spamhaus.org"])
    found = only(report, "DNSBL_LISTED")
    assert found.record_host == f"{nibbles}.zen.spamhaus.org"
    assert "127.0.0.3" in found.message and "snowshoe" in found.message


def test_one_refusal_per_list_not_one_per_query(servers, key):
    first, _ = servers
    first.add_zone("zen.spamhaus.org", {"10.2.0.192": {"A": "127.255.255.254"},
                                        "11.2.0.192": {"A": "127.255.255.254"}})
    first.set_record(f"{DOMAIN}.", "TXT", f"v=spf1 ip4:{OUR_IP} ip4:192.0.2.11 -all")
    report = check(resolver_for(first), key, platform_ips=[OUR_IP, "192.0.2.11"],
                   dnsbl_ip_lists=["zen.spamhaus.org"])
    assert [found.code for found in report.findings] == ["DNSBL_QUERY_REFUSED"]


# --- CNAMEs ------------------------------------------------------------------------------------

def tracking_record(target: str = "track.platform.test") -> DnsRecord:
    return DnsRecord(Purpose.TRACKING, "CNAME", f"track.{DOMAIN}", target, 3600, "",
                     (f"{target}.",))


def test_a_tracking_cname_through_an_alias_of_the_customers_reaches_us(servers, key):
    first, _ = servers
    first.set_record(f"track.{DOMAIN}.", "CNAME", f"links.{DOMAIN}.")
    first.set_record(f"links.{DOMAIN}.", "CNAME", "track.platform.test.")
    assert check(resolver_for(first), key, expected_records=[tracking_record()]).findings == []


def test_a_tracking_cname_loop_is_wrong_not_endless(servers, key):
    first, _ = servers
    first.set_record(f"track.{DOMAIN}.", "CNAME", f"links.{DOMAIN}.")
    first.set_record(f"links.{DOMAIN}.", "CNAME", f"track.{DOMAIN}.")
    found = only(check(resolver_for(first), key, expected_records=[tracking_record()]),
                 "TRACKING_CNAME_WRONG")
    assert f"track.{DOMAIN} CNAME track.platform.test" in found.fix


def test_a_cname_at_the_zone_apex_conflicts_with_its_soa(servers, key):
    first, _ = servers
    first.set_beside_cname(f"{DOMAIN}.", "CNAME", "elsewhere.test.")
    found = only(check(resolver_for(first), key), "CNAME_CONFLICT")
    assert found.record_host == DOMAIN and "SOA" in found.message
    assert "top of a zone" in found.fix


def test_a_dmarc_cname_to_a_vendor_is_fine(servers, key):
    first, _ = servers
    first.add_zone("vendor.test", {"example": {"TXT": GOOD_DMARC}})
    first.remove(f"_dmarc.{DOMAIN}.")
    first.set_record(f"_dmarc.{DOMAIN}.", "CNAME", "example.vendor.test.")
    assert check(resolver_for(first), key).findings == []


def test_a_dkim_record_beside_a_dkim_cname_conflicts(servers, key):
    first, _ = servers
    first.add_zone("esp.test", {"pm1": {"TXT": key.record_value()}})
    first.set_record(f"pm1._domainkey.{DOMAIN}.", "CNAME", "pm1.esp.test.")
    first.set_beside_cname(f"pm1._domainkey.{DOMAIN}.", "TXT", key.record_value())
    found = only(check(resolver_for(first), key), "CNAME_CONFLICT")
    assert found.record_host == f"pm1._domainkey.{DOMAIN}" and "TXT" in found.message
