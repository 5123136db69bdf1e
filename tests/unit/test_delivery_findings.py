"""Return path, tracking, CNAME conflicts, the domain's MX and per-nameserver answers."""

from __future__ import annotations

import pytest

from app.core.delivery_findings import (
    ServerAnswer,
    cname_conflict_finding,
    cname_findings,
    domain_mx_findings,
    inconsistency_finding,
    is_null_mx,
    lame_finding,
    lame_servers,
    mx_pairs,
    return_path_mx_findings,
    return_path_spf_findings,
    server_failure_findings,
)

HOST = "pm-bounces.example.com"
BOUNCES = "bounces.platform.example"


def test_mx_records_are_read_as_preference_and_exchange():
    assert mx_pairs(["10 MX1.Example.com.", "0 ."]) == [(10, "mx1.example.com"), (0, "")]
    assert is_null_mx(mx_pairs(["0 ."])) and not is_null_mx(mx_pairs(["10 mx.example.com."]))


# --- expected CNAMEs --------------------------------------------------------------------------

def test_a_cname_to_our_host_is_right_in_any_case_and_with_the_dot():
    assert cname_findings("RETURN_PATH_WRONG", HOST, BOUNCES, ["Bounces.Platform.Example."]) == []


def test_a_cname_through_an_alias_reaching_our_host_is_right():
    assert cname_findings("TRACKING_CNAME_WRONG", "t.example.com", "track.platform.example",
                          ["links.example.com", "track.platform.example"]) == []


def test_a_missing_cname_gives_the_record_to_publish():
    [found] = cname_findings("RETURN_PATH_WRONG", HOST, BOUNCES, [])
    assert (found.code, found.severity, found.record_host, found.record_type) == (
        "RETURN_PATH_WRONG", "error", HOST, "CNAME")
    assert found.fix == f"Publish the record {HOST} CNAME {BOUNCES}."


def test_a_cname_elsewhere_shows_where_it_leads():
    [found] = cname_findings("TRACKING_CNAME_WRONG", "t.example.com", "track.platform.example",
                             ["links.example.com", "other.example.net"])
    assert found.severity == "warning"
    assert "links.example.com → other.example.net" in found.message
    assert found.fix == "Change the record to t.example.com CNAME track.platform.example."


# --- return path in MX mode -------------------------------------------------------------------

@pytest.mark.parametrize("records", [
    [f"10 {BOUNCES}."],
    [f"10 {BOUNCES}.", "20 backup.example.com."],
    [f"10 {BOUNCES}.", "10 other.example.com."],  # tied best: resolvers share the load
])
def test_our_host_among_the_most_preferred_mx_accepts_bounces(records):
    assert return_path_mx_findings(HOST, BOUNCES, 10, records) == []


def test_no_mx_at_the_return_path_is_mx_missing():
    [found] = return_path_mx_findings(HOST, BOUNCES, 10, [])
    assert (found.code, found.severity) == ("MX_MISSING", "error")
    assert found.fix == f"Publish the record {HOST} MX 10 {BOUNCES}."


@pytest.mark.parametrize(("records", "words"), [
    (["0 ."], "null MX"),
    (["5 mx.example.com.", f"10 {BOUNCES}."], "only a backup"),
    (["10 mx.example.com."], "is not among them"),
])
def test_bounces_that_go_elsewhere_are_a_wrong_return_path(records, words):
    [found] = return_path_mx_findings(HOST, BOUNCES, 10, records)
    assert found.code == "RETURN_PATH_WRONG" and words in found.message


def test_the_return_path_spf_must_exist_once_and_pass_our_ips():
    value = "v=spf1 include:_spf.platform.example -all"
    assert return_path_spf_findings(HOST, value, [value], {}) == []
    for records, failing, words in (([], {}, "no SPF record"),
                                    ([value, "v=spf1 -all"], {}, "2 SPF records"),
                                    (["v=spf1 -all"], {"192.0.2.1": "fail"},
                                     "192.0.2.1 gets fail")):
        [found] = return_path_spf_findings(HOST, value, records, failing)
        assert found.code == "RETURN_PATH_WRONG" and words in found.message
        assert found.fix == f"Publish exactly one TXT record at {HOST}: {value}"


# --- CNAME beside other data ------------------------------------------------------------------

def test_a_conflict_at_a_cname_we_asked_for_says_to_delete_the_rest():
    found = cname_conflict_finding(HOST, f"{BOUNCES}.", ["MX", "TXT"], cname_expected=True)
    assert (found.code, found.severity, found.record_type) == ("CNAME_CONFLICT", "error", "CNAME")
    assert found.fix == f"Delete the MX/TXT records at {HOST}; keep only the CNAME to {BOUNCES}."


def test_a_cname_at_a_zone_apex_must_go():
    found = cname_conflict_finding("example.com", "elsewhere.example.", ["SOA", "TXT"],
                                   cname_expected=False)
    assert "RFC 1912" in found.fix and found.fix.startswith("Delete the CNAME")


# --- the domain's own MX ----------------------------------------------------------------------

def test_a_domain_with_mx_records_receives_mail():
    assert domain_mx_findings("example.com", ["10 mx.example.com."], has_address=True) == []


@pytest.mark.parametrize(("records", "has_address", "severity", "words"), [
    ([], True, "info", "implicit MX"),
    ([], False, "error", "no MX record and no address"),
    (["0 ."], True, "warning", "null MX"),
])
def test_mail_to_the_domain(records, has_address, severity, words):
    [found] = domain_mx_findings("example.com", records, has_address)
    assert (found.code, found.severity, found.record_type) == ("MX_MISSING", severity, "MX")
    assert words in found.message


# --- per-nameserver answers -------------------------------------------------------------------

A = ServerAnswer("ns1.example.net (192.0.2.53:53)", "ok", ("v=spf1 -all",))
B = ServerAnswer("ns2.example.net (192.0.2.54:53)", "ok", ("v=spf1 -all",))


def test_servers_that_agree_are_fine():
    reordered = ServerAnswer("ns3", "ok", ("b", "a"))
    assert inconsistency_finding("example.com", "TXT", [A, B]) is None
    assert inconsistency_finding("example.com", "TXT",
                                 [ServerAnswer("ns2", "ok", ("a", "b")), reordered]) is None
    assert inconsistency_finding("example.com", "TXT", [ServerAnswer("ns1", "nxdomain"),
                                                        ServerAnswer("ns2", "nodata")]) is None


def test_servers_that_disagree_are_shown_side_by_side():
    other = ServerAnswer("ns2.example.net (192.0.2.54:53)", "ok", ("v=spf1 mx -all",))
    empty = ServerAnswer("ns3.example.net (192.0.2.55:53)", "nodata")
    found = inconsistency_finding("example.com", "TXT", [A, other, empty])
    assert (found.code, found.severity, found.record_host) == (
        "NS_INCONSISTENT", "warning", "example.com")
    assert "ns1.example.net (192.0.2.53:53) serves `v=spf1 -all`" in found.message
    assert "ns2.example.net (192.0.2.54:53) serves `v=spf1 mx -all`" in found.message
    assert "ns3.example.net (192.0.2.55:53) serves nothing" in found.message


def test_failed_servers_do_not_count_as_disagreeing():
    assert inconsistency_finding("example.com", "TXT",
                                 [A, ServerAnswer("ns2", "timeout")]) is None


def test_lame_and_refusing_servers_are_lame_when_another_serves_the_zone():
    lame = ServerAnswer("ns2", "lame", detail="answered without authority for the name")
    refusing = ServerAnswer("ns3", "refused")
    assert lame_servers([A, lame, refusing]) == {
        "ns2": "answered without authority for the name", "ns3": "refused"}
    found = lame_finding("example.com", lame_servers([A, lame]))
    assert (found.code, found.record_type) == ("NS_LAME", "NS") and "ns2" in found.message


def test_all_servers_lame_means_they_are_not_the_authority_we_asked_for():
    """A recursive resolver given as the only --nameserver answers every direct question
    without authority: that says nothing about the domain."""
    assert lame_servers([ServerAnswer("8.8.8.8:53", "lame")]) == {}


def test_a_server_failing_beside_answering_ones_is_a_warning():
    [found] = server_failure_findings("example.com", "TXT", [A, ServerAnswer("ns2", "timeout")])
    assert (found.code, found.severity) == ("DNS_TIMEOUT", "warning") and "ns2" in found.message
    [found] = server_failure_findings("example.com", "TXT", [A, ServerAnswer("ns2", "servfail")])
    assert (found.code, found.severity) == ("DNS_SERVFAIL", "warning")
    assert server_failure_findings("example.com", "TXT", [ServerAnswer("ns1", "timeout")]) == []


def test_a_server_we_cannot_reach_is_not_blamed_on_the_domain():
    """An "error" status is mostly our side, e.g. no IPv6 route to a v6-only nameserver."""
    assert server_failure_findings("example.com", "TXT", [A, ServerAnswer("ns2", "error")]) == []


@pytest.mark.parametrize(("records", "has_address"), [(["0 ."], True), ([], False), ([], True)])
def test_a_domain_that_sends_no_mail_needs_no_mx(records, has_address):
    """The parked-domain setup: v=spf1 -all and a null MX (RFC 7505) or no MX at all."""
    assert domain_mx_findings("example.com", records, has_address, sends_mail=False) == []
