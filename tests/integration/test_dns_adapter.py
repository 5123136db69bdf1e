"""The resolver adapter against real DNS servers on loopback (tests/dnsserver.py)."""

from __future__ import annotations

import base64
import os
import time

import dns.flags
import dns.message
import dns.query
import pytest

from app.adapters import dns as adapter
from app.adapters.dns import DnsConfig, Nameserver, Resolver, parse_nameservers

CUSTOMER_ZONE = """
@               SOA   ns1 hostmaster 1 3600 600 86400 60
@               NS    ns1
ns1             A     127.0.0.1
@               TXT   "v=spf1 include:_spf.platform.test" " ~all"
_dmarc          TXT   "v=DMARC1; p=none"
pm1._domainkey  CNAME pm1.dkim.platform.test.
www             CNAME web
web             A     192.0.2.10
"""


def resolver_for(*servers, timeout: float = 0.5, lifetime: float = 1.0, retries: int = 1):
    return Resolver(DnsConfig([server.address for server in servers], timeout=timeout,
                              lifetime=lifetime, retries=retries))


def random_dkim_record(bits: int, padding: int = 0) -> str:
    """A DKIM record whose p= is as long as a `bits` RSA key's (the bytes need not be a key)."""
    key = base64.b64encode(os.urandom(bits // 8 + 38)).decode()
    return f"v=DKIM1; k=rsa; n={'x' * padding}; p={key}"


@pytest.fixture
def customer(dns_server):
    dns_server.add_zone("customer.test", CUSTOMER_ZONE)
    dns_server.add_zone("platform.test", {"pm1.dkim": {"TXT": "v=DKIM1; k=rsa; p=MIIBIjAN"}})
    return dns_server


def test_txt_character_strings_are_kept_as_served(customer):
    answer = resolver_for(customer).txt("customer.test")

    assert answer.status == "ok"
    assert answer.txt_strings == [[b"v=spf1 include:_spf.platform.test", b" ~all"]]
    assert answer.txt_values() == ["v=spf1 include:_spf.platform.test ~all"]
    assert answer.records == ['"v=spf1 include:_spf.platform.test" " ~all"']
    assert answer.server == customer.nameserver and answer.ttl == 300


def test_cname_delegated_dkim_record_is_followed_into_another_zone(customer):
    answer = resolver_for(customer).txt("pm1._domainkey.customer.test")

    assert answer.status == "ok"
    assert answer.txt_values() == ["v=DKIM1; k=rsa; p=MIIBIjAN"]
    assert answer.cname_chain == ["pm1.dkim.platform.test"]


def test_cname_inside_the_zone_is_answered_in_one_round_trip(customer):
    answer = resolver_for(customer).query("www.customer.test", "A")

    assert (answer.status, answer.records, answer.cname_chain) == (
        "ok", ["192.0.2.10"], ["web.customer.test"])
    assert customer.queries == [("www.customer.test", "A", "udp")]


def test_cname_loop_is_an_error_not_a_missing_record(customer):
    customer.set_record("a.customer.test", "CNAME", "b.customer.test")
    customer.set_record("b.customer.test", "CNAME", "a.customer.test")

    answer = resolver_for(customer).txt("a.customer.test")

    assert answer.status == "error" and answer.failed
    assert "loop" in answer.detail


def test_missing_name_is_nxdomain_and_missing_type_is_nodata(customer):
    resolver = resolver_for(customer)
    customer.set_record("deep.under.customer.test", "A", "192.0.2.1")

    assert resolver.txt("nothing.customer.test").status == "nxdomain"
    assert resolver.query("customer.test", "MX").status == "nodata"
    assert resolver.query("under.customer.test", "A").status == "nodata"  # empty non-terminal
    assert resolver.query("www.customer.test", "MX").cname_chain == ["web.customer.test"]
    negative = resolver.txt("_dmarc.nothing.customer.test")
    assert not negative.failed and negative.ttl == 60  # the SOA minimum (RFC 2308)


def test_records_published_while_the_server_runs_are_seen(customer):
    resolver = resolver_for(customer)
    customer.set_record("_pm-verify.customer.test", "TXT", "token-123")
    assert resolver.txt("_pm-verify.customer.test").txt_values() == ["token-123"]

    customer.remove("_pm-verify.customer.test")
    assert resolver.txt("_pm-verify.customer.test").status == "nxdomain"


def test_delegated_domainkey_subzone_is_followed(customer, dns_server_factory):
    child = dns_server_factory(host="127.0.0.2", port=customer.address[1])
    customer.remove("pm1._domainkey.customer.test")
    customer.set_record("_domainkey.customer.test", "NS", "ns.dk.customer.test")
    customer.set_record("ns.dk.customer.test", "A", "127.0.0.2")  # glue
    child.add_zone("_domainkey.customer.test", {"pm1": {"TXT": "v=DKIM1; p=CHILD"}})

    answer = resolver_for(customer).txt("pm1._domainkey.customer.test")

    assert answer.txt_values() == ["v=DKIM1; p=CHILD"]
    assert answer.server == f"ns.dk.customer.test (127.0.0.2:{customer.address[1]})"
    assert child.queries == [("pm1._domainkey.customer.test", "TXT", "udp")]


def test_delegation_without_glue_resolves_the_nameserver_name(customer, dns_server_factory):
    child = dns_server_factory(host="127.0.0.2", port=customer.address[1])
    customer.set_record("_domainkey.customer.test", "NS", "ns.platform.test")
    customer.set_record("ns.platform.test", "A", "127.0.0.2")
    child.add_zone("_domainkey.customer.test", {"s2": {"TXT": "v=DKIM1; p=FAR"}})

    assert resolver_for(customer).txt("s2._domainkey.customer.test").txt_values() == [
        "v=DKIM1; p=FAR"]


def test_dropped_queries_time_out_within_the_lifetime(customer):
    customer.fail("_dmarc.customer.test", "drop")
    resolver = resolver_for(customer, timeout=0.1, lifetime=0.35, retries=5)

    started = time.monotonic()
    answer = resolver.txt("_dmarc.customer.test")

    assert time.monotonic() - started < 0.5
    assert answer.status == "timeout" and answer.failed and answer.records == []
    assert len(customer.queries) > 1  # retried


@pytest.mark.parametrize("mode", ["servfail", "refused"])
def test_server_failures_are_reported_as_such_not_as_missing(customer, mode):
    customer.fail("customer.test", mode)

    answer = resolver_for(customer).txt("_dmarc.customer.test")

    assert answer.status == mode and answer.failed


def test_a_failing_nameserver_is_skipped_for_the_next(customer, dns_server_factory):
    broken = dns_server_factory()
    broken.fail(None, "servfail")

    answer = resolver_for(broken, customer).txt("_dmarc.customer.test")

    assert answer.txt_values() == ["v=DMARC1; p=none"]
    assert answer.server == customer.nameserver


def test_big_txt_record_falls_back_to_tcp(customer):
    record = random_dkim_record(4096, padding=600)
    customer.set_record("big._domainkey.customer.test", "TXT", record)

    answer = resolver_for(customer).txt("big._domainkey.customer.test")

    assert answer.txt_values() == [record]
    assert [len(part) for part in answer.txt_strings[0]][0] == 255
    assert customer.queries == [("big._domainkey.customer.test", "TXT", "udp"),
                                ("big._domainkey.customer.test", "TXT", "tcp")]


def test_server_truncates_udp_answers_over_512_bytes_without_edns(customer):
    customer.set_record("big.customer.test", "TXT", random_dkim_record(2048, padding=100))
    query = dns.message.make_query("big.customer.test", "TXT", use_edns=False)

    response = dns.query.udp(query, "127.0.0.1", port=customer.address[1], timeout=0.5)

    assert response.flags & dns.flags.TC and not response.answer


def test_zone_apex_is_found_by_walking_up(customer, dns_server_factory):
    child = dns_server_factory(host="127.0.0.2", port=customer.address[1])
    customer.set_record("_domainkey.customer.test", "NS", "ns.dk.customer.test")
    customer.set_record("ns.dk.customer.test", "A", "127.0.0.2")
    child.add_zone("_domainkey.customer.test")
    resolver = resolver_for(customer)

    assert resolver.zone_apex("customer.test") == "customer.test"
    assert resolver.zone_apex("no.such.name.customer.test") == "customer.test"
    assert resolver.zone_apex("www.customer.test") == "customer.test"
    assert resolver.zone_apex("pm9._domainkey.customer.test") == "_domainkey.customer.test"


def test_pinned_nameservers_are_the_authoritative_ones(dns_server_factory):
    good, differs, lame = (dns_server_factory() for _ in range(3))
    for server, value in ((good, "v=DMARC1; p=reject"), (differs, "v=DMARC1; p=none"),
                          (lame, "v=DMARC1; p=reject")):
        server.add_zone("example.test", {"_dmarc": {"TXT": value}})
    lame.fail("example.test", "lame")
    resolver = resolver_for(good, differs, lame)

    answers = resolver.query_each_authoritative("_dmarc.example.test", "TXT")

    assert [answer.server for answer in answers] == [good.nameserver, differs.nameserver,
                                                     lame.nameserver]
    assert [answer.status for answer in answers] == ["ok", "ok", "lame"]
    assert [answer.txt_values() for answer in answers[:2]] == [["v=DMARC1; p=reject"],
                                                              ["v=DMARC1; p=none"]]
    assert all(query[0] == "_dmarc.example.test" for query in lame.queries)


def test_authoritative_servers_come_from_the_zone_ns_records(dns_server_factory, monkeypatch):
    """Without DNS_NAMESERVERS: SOA walk, NS names, their addresses, each asked on port 53."""
    first = dns_server_factory()
    port = first.address[1]
    servers = [first] + [dns_server_factory(host=f"127.0.0.{n}", port=port) for n in (2, 3)]
    zone = {"@": {"NS": ["ns1", "ns2", "ns3", "ns4"]}, "ns1": {"A": "127.0.0.1"},
            "ns2": {"A": "127.0.0.2"}, "ns3": {"A": "127.0.0.3"},
            "pm1._domainkey": {"TXT": "v=DKIM1; p=KEY"}}
    for server in servers:
        server.add_zone("example.test", zone)
    servers[1].set_record("pm1._domainkey.example.test", "TXT", "v=DKIM1; p=OLD")
    servers[2].fail("example.test", "refused")
    monkeypatch.setattr(adapter, "_system_nameservers", lambda: [Nameserver("127.0.0.1", port)])
    monkeypatch.setattr(adapter, "DNS_PORT", port)
    resolver = Resolver(DnsConfig(timeout=0.5, lifetime=1.0))

    answers = resolver.query_each_authoritative("pm1._domainkey.example.test", "TXT")

    assert [(answer.server, answer.status) for answer in answers] == [
        (f"ns1.example.test (127.0.0.1:{port})", "ok"),
        (f"ns2.example.test (127.0.0.2:{port})", "ok"),
        (f"ns3.example.test (127.0.0.3:{port})", "refused"),
        ("ns4.example.test (no address)", "lame"),
    ]
    assert [answer.txt_values() for answer in answers[:2]] == [["v=DKIM1; p=KEY"],
                                                              ["v=DKIM1; p=OLD"]]
    assert servers[1].queries[-1] == ("pm1._domainkey.example.test", "TXT", "udp")


def test_authoritative_answer_follows_a_cname_out_of_the_zone(customer):
    [answer] = resolver_for(customer).query_each_authoritative(
        "pm1._domainkey.customer.test", "TXT")

    assert answer.txt_values() == ["v=DKIM1; k=rsa; p=MIIBIjAN"]
    assert answer.cname_chain == ["pm1.dkim.platform.test"]


def test_invalid_name_is_an_error_value(customer):
    answer = resolver_for(customer).txt("bad..name.customer.test")

    assert answer.status == "error" and "not a valid domain name" in answer.detail


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5353,10.0.0.1", [("127.0.0.1", 5353), ("10.0.0.1", 53)]),
    (" [::1]:5300 , [2001:db8::1] ", [("::1", 5300), ("2001:db8::1", 53)]),
    ("", []),
])
def test_nameserver_lists_parse(text, expected):
    assert parse_nameservers(text) == expected


@pytest.mark.parametrize(("text", "complaint"), [
    ("127.0.0.1,", "empty nameserver entry"),
    ("ns1.example.com", "is not an IP address"),
    ("127.0.0.1:0", "port must be 1-65535"),
    ("127.0.0.1:99999", "port must be 1-65535"),
    ("127.0.0.1:dns", "port must be 1-65535"),
    ("::1:53", "brackets"),
    ("[::1", "write IPv6 as"),
    ("[::1]x53", "write IPv6 as"),
])
def test_malformed_nameserver_lists_fail_loudly(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_nameservers(text)


def test_empty_nameserver_list_means_the_system_resolver():
    assert DnsConfig(nameservers=parse_nameservers("")).nameservers is None
