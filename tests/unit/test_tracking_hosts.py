"""Tracking host names, their CNAME, back-off and renewal: the pure rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.core.tracking_hosts import (CNAME_WRONG, RenewalPolicy, TrackingHostNameError,
                                     cname_record, domain_not_verified, is_dns_failure,
                                     judge_cname, retry_delay, tracking_hostname)
from app.core.tracking_problems import RETRY, explain
from app.core.verification import Observation

DOMAIN = "example.com"
PLATFORM = "track.penguinmails.test"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("typed, expected", [
    ("track", "track.example.com"),
    ("  Links ", "links.example.com"),
    ("track.example.com", "track.example.com"),
    ("Track.Example.COM.", "track.example.com"),
    ("eu.links.example.com", "eu.links.example.com"),
    ("bücher", "xn--bcher-kva.example.com"),
])
def test_a_label_or_a_full_name_under_the_domain_is_accepted(typed, expected):
    assert tracking_hostname(typed, DOMAIN) == expected


@pytest.mark.parametrize("typed, code", [
    ("", "tracking_host_required"),
    ("   ", "tracking_host_required"),
    ("example.com", "tracking_host_is_apex"),
    ("track.other.com", "tracking_host_outside_domain"),
    ("track.badexample.com", "tracking_host_outside_domain"),
    ("*.example.com", "tracking_host_wildcard"),
    ("https://track.example.com/", "tracking_host_url_not_domain"),
    ("tr_ack", "tracking_host_not_a_hostname"),
    ("-track", "tracking_host_not_a_hostname"),
])
def test_names_that_cannot_be_a_tracking_host_of_the_domain_are_refused(typed, code):
    with pytest.raises(TrackingHostNameError) as refused:
        tracking_hostname(typed, DOMAIN)
    assert refused.value.code == code and refused.value.message


def test_a_host_outside_the_domain_is_told_what_to_type_instead():
    with pytest.raises(TrackingHostNameError) as refused:
        tracking_hostname("links.other.com", DOMAIN)
    assert refused.value.message == ("links.other.com is not under example.com. Enter a label "
                                     "such as track, or a full name ending in .example.com.")


def test_the_record_to_publish_is_a_cname_to_the_platform_host():
    record = cname_record("track.example.com", PLATFORM + ".")
    assert (record.type, record.host, record.value) == ("CNAME", "track.example.com", PLATFORM)
    assert record.zone_values == (PLATFORM + ".",)


def test_a_cname_straight_to_us_is_right():
    assert judge_cname("track.example.com", PLATFORM,
                       Observation("ok", records=["127.0.0.1"], cname_chain=[PLATFORM])) is None


def test_a_cname_chain_that_reaches_us_is_right():
    chain = ["links.cdn-of-customer.test", PLATFORM.upper() + "."]
    assert judge_cname("track.example.com", PLATFORM,
                       Observation("ok", records=["127.0.0.1"], cname_chain=chain)) is None


def test_a_cname_to_somewhere_else_is_wrong_with_the_fix():
    finding = judge_cname("track.example.com", PLATFORM, Observation(
        "ok", records=["192.0.2.7"], cname_chain=["old-tracker.example.net", "edge.example.net"]))
    assert finding.code == CNAME_WRONG and finding.severity == "error"
    assert finding.message.startswith("track.example.com is an alias of old-tracker.example.net "
                                      "(which leads on to edge.example.net) instead of "
                                      f"{PLATFORM}")
    assert finding.fix == f"Change the CNAME target to: {PLATFORM}"


def test_no_record_at_all_asks_for_the_cname():
    finding = judge_cname("track.example.com", PLATFORM, Observation("nxdomain"))
    assert finding.message == "There is no record at track.example.com yet."
    assert finding.fix == f"Publish a CNAME record at track.example.com with the value: {PLATFORM}"


def test_an_address_record_instead_of_an_alias_mentions_cname_flattening():
    finding = judge_cname("track.example.com", PLATFORM, Observation("ok", records=["192.0.2.1"]))
    assert "not an alias" in finding.message and "flattens" in finding.message
    assert "remove the other records" in finding.fix


def test_a_failed_lookup_is_not_a_wrong_record():
    finding = judge_cname("track.example.com", PLATFORM,
                          Observation("timeout", server="192.0.2.53:53"))
    assert finding.code == "DNS_TIMEOUT" and finding.severity == "warning"
    assert is_dns_failure(finding) and "Nothing to change" in finding.fix


def test_an_unverified_domain_is_a_finding_that_says_why_we_wait():
    finding = domain_not_verified("example.com")
    assert finding.record_host == "example.com" and "verified" in finding.message


def test_the_back_off_follows_the_configured_steps_then_stays_at_the_last():
    steps = [300, 1800, 7200]
    assert [retry_delay(n, steps).total_seconds() for n in (0, 1, 2, 3, 4, 40)] == [
        300, 300, 1800, 7200, 7200, 7200]
    with pytest.raises(ValueError):
        retry_delay(1, [])


def test_a_certificate_is_due_for_renewal_within_the_renewal_window():
    policy = RenewalPolicy(renew_days=30, alert_days=14)
    assert policy.due(None, NOW)
    assert policy.due(NOW + timedelta(days=30), NOW)
    assert not policy.due(NOW + timedelta(days=31), NOW)


def test_a_failed_renewal_keeps_the_old_certificate_serving_until_its_end_nears():
    policy = RenewalPolicy(renew_days=30, alert_days=14)
    assert policy.status_after_failure(NOW + timedelta(days=20), NOW) == "active"
    assert policy.status_after_failure(NOW + timedelta(days=14), NOW) == "expiring"
    assert policy.status_after_failure(NOW + timedelta(seconds=1), NOW) == "expiring"
    assert policy.status_after_failure(NOW, NOW) == "failed"
    assert policy.status_after_failure(None, NOW) == "failed"


def test_ca_errors_are_explained_in_plain_words_with_the_cas_own_detail():
    problem = explain("urn:ietf:params:acme:error:connection", "Connection refused",
                      "track.example.com", PLATFORM)
    assert problem.code == "acme_connection"
    assert problem.message == ("The certificate authority could not connect to "
                               "track.example.com to check that we serve it. It said: "
                               "Connection refused")
    assert f"CNAME to {PLATFORM}" in problem.fix


@pytest.mark.parametrize("kind", ["unavailable", "timeout", "rateLimited", "serverInternal"])
def test_problems_on_the_cas_side_need_nothing_from_the_customer(kind):
    assert explain(kind, "x", "track.example.com", PLATFORM).fix == RETRY


def test_an_unknown_ca_error_still_carries_its_type_and_detail():
    problem = explain("urn:ietf:params:acme:error:badPublicKey", "key too small",
                      "track.example.com", PLATFORM)
    assert problem.code == "acme_badPublicKey"
    assert "badPublicKey" in problem.message and "key too small" in problem.message
