"""DNSBL names and answers (RFC 5782): a refusal or a rewritten answer is never a listing."""

from __future__ import annotations

import pytest

from app.core import dnsbl
from app.core.dnsbl import LISTED, NOT_LISTED, REFUSED, domain_query, ip_query, judge


def test_a_domain_is_asked_under_the_list():
    query = domain_query("Example.COM.", "DBL.Spamhaus.org.")
    assert (query.name, query.subject, query.kind, query.list_zone) == (
        "example.com.dbl.spamhaus.org", "example.com", "domain", "dbl.spamhaus.org")


def test_an_ipv4_address_is_asked_reversed():
    assert ip_query("192.0.2.99", "zen.spamhaus.org").name == "99.2.0.192.zen.spamhaus.org"


def test_an_ipv6_address_is_asked_by_reversed_nibbles():
    query = ip_query("2001:DB8::1", "zen.spamhaus.org")
    assert query.name == ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                          ".zen.spamhaus.org")
    assert query.subject == "2001:db8::1"


def test_a_bad_ip_is_refused():
    with pytest.raises(ValueError):
        ip_query("192.0.2", "zen.spamhaus.org")


def test_no_answer_is_not_listed():
    assert judge(domain_query("example.com", "dbl.spamhaus.org"), []).status == NOT_LISTED


@pytest.mark.parametrize(("zone", "answer", "meaning"), [
    ("dbl.spamhaus.org", "127.0.1.2", "poor reputation"),
    ("dbl.spamhaus.org", "127.0.1.4", "phishing"),
    ("dbl.spamhaus.org", "127.0.1.102", "abused legitimate"),
    ("zen.spamhaus.org", "127.0.0.2", "SBL"),
    ("zen.spamhaus.org", "127.0.0.4", "XBL"),
    ("zen.spamhaus.org", "127.0.0.10", "PBL (ISP-maintained)"),
    ("zen.spamhaus.org", "127.0.0.11", "PBL (Spamhaus-maintained)"),
    ("mykey.zen.dq.spamhaus.net", "127.0.0.3", "snowshoe"),
    ("bl.spamcop.net", "127.0.0.2", "SpamCop users"),
    ("rbl.example.net", "127.0.0.2", "see the list's documentation"),
    ("rbl.example.net", "127.1.2.3", "see the list's documentation"),
])
def test_return_codes_are_explained(zone, answer, meaning):
    verdict = judge(domain_query("example.com", zone), [answer])
    assert verdict.status == LISTED
    [reason] = verdict.reasons
    assert reason.startswith(answer) and meaning in reason


@pytest.mark.parametrize(("zone", "answer", "why"), [
    ("zen.spamhaus.org", "127.255.255.252", "typing error"),
    ("zen.spamhaus.org", "127.255.255.254", "public or open resolver"),
    ("dbl.spamhaus.org", "127.255.255.255", "too many queries"),
    ("dbl.spamhaus.org", "127.0.1.255", "IP address was asked"),
    ("rbl.example.net", "127.255.255.1", "error range"),
    ("multi.uribl.com", "127.0.0.1", "RFC 5782"),
    ("rbl.example.net", "127.0.0.1", "never a listing"),
    ("rbl.example.net", "203.0.113.7", "outside 127.0.0.0/8"),
    ("rbl.example.net", "::1", "outside 127.0.0.0/8"),
])
def test_refusals_and_foreign_answers_are_never_listings(zone, answer, why):
    verdict = judge(domain_query("example.com", zone), [answer])
    assert verdict.status == REFUSED
    assert why in verdict.reasons[0]


def test_a_real_code_beside_a_refusal_is_a_listing():
    verdict = judge(ip_query("192.0.2.1", "zen.spamhaus.org"), ["127.0.0.4", "127.255.255.254"])
    assert verdict.status == LISTED and verdict.reasons == (
        "127.0.0.4 (XBL: the host looks infected or hijacked (exploits, bots))",)


def test_a_domain_listing_finding_says_which_list_why_and_where_to_delist():
    query = domain_query("example.com", "dbl.spamhaus.org")
    found = dnsbl.listing_finding("example.com", query, judge(query, ["127.0.1.2"]))
    assert (found.code, found.severity, found.record_host, found.record_type) == (
        "DNSBL_LISTED", "error", "example.com.dbl.spamhaus.org", "A")
    assert "Spamhaus DBL" in found.message and "127.0.1.2" in found.message
    assert "https://check.spamhaus.org/" in found.fix


def test_an_ip_listing_tells_the_customer_it_is_ours_to_clear():
    query = ip_query("192.0.2.1", "b.barracudacentral.org")
    found = dnsbl.listing_finding("example.com", query, judge(query, ["127.0.0.2"]))
    assert "192.0.2.1" in found.message and "example.com" in found.message
    assert found.fix.startswith("Nothing to change in your DNS")


def test_a_refusal_is_info_and_says_it_is_not_a_listing():
    query = domain_query("example.com", "dbl.spamhaus.org")
    found = dnsbl.refused_finding(query, "127.255.255.254 (public resolver)")
    assert (found.code, found.severity) == ("DNSBL_QUERY_REFUSED", "info")
    assert "not a listing" in found.message
