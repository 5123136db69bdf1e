"""Verification against real DNS servers on loopback (tests/dnsserver.py): what a customer
publishes, what we see through the resolver adapter, and how it is judged."""

from __future__ import annotations

import time

import pytest

from app.adapters.dns import DnsConfig, Resolver
from app.core.dkim import generate_key
from app.core.records import (
    DkimKeyRecord,
    Purpose,
    RecordSettings,
    ReturnPath,
    TrackingHost,
    expected_records,
    relative_host,
)
from app.core.verification import all_found, summarise
from app.domains.checks import SpfLookupFailed, observed_spf, run_checks

DOMAIN = "example.test"
PLATFORM_SPF = "_spf.penguinmails.test"


@pytest.fixture(scope="module")
def key():
    return generate_key()


def records_for(key, **overrides):
    values = {"domain": DOMAIN, "verification_token": "pmv-3f9a1c", "spf_include": PLATFORM_SPF,
              "dkim_keys": (DkimKeyRecord("pm1", key.record_value()),),
              "dmarc_rua": "dmarc@reports.penguinmails.test",
              "return_path": ReturnPath("pm-bounces", cname_target="bounces.penguinmails.test"),
              "tracking": TrackingHost("track", "track.penguinmails.test")}
    return expected_records(RecordSettings(**{**values, **overrides}))


def zone_of(records) -> dict:
    """The records as a customer pastes them from the zone-file download."""
    zone: dict[str, dict[str, object]] = {}
    for record in records:
        value = tuple(record.zone_values) if record.type == "TXT" else record.zone_rdata()
        zone.setdefault(relative_host(record.host, DOMAIN) or "@", {})[record.type] = value
    return zone


def resolver_for(*servers, timeout: float = 0.5, lifetime: float = 1.5) -> Resolver:
    return Resolver(DnsConfig([server.address for server in servers], timeout=timeout,
                              lifetime=lifetime, retries=1))


def by_purpose(checks, purpose: Purpose, rdtype: str = "TXT"):
    [found] = [c for c in checks if c.purpose == purpose and c.type == rdtype]
    return found


@pytest.fixture
def records(key):
    return records_for(key)


@pytest.fixture
def published(dns_server, records):
    """A customer zone with every expected record published as instructed."""
    dns_server.add_zone(DOMAIN, zone_of(records))
    return dns_server


def test_published_records_are_all_found(published, records):
    checks = run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF)

    assert [(c.purpose, c.type, c.status) for c in checks] == [
        (r.purpose, r.type, "found") for r in records]
    assert all((c.agreeing, c.total) == (1, 1) for c in checks)
    assert all_found(checks) and summarise(checks)["found"] == len(records)


def test_nothing_published_is_missing_not_an_error(dns_server, records):
    dns_server.add_zone(DOMAIN)

    checks = run_checks(records, resolver_for(dns_server), spf_include=PLATFORM_SPF)

    assert {c.status for c in checks} == {"missing"}
    assert all(c.fix and c.observed == [] for c in checks)


def test_wrong_values_say_what_we_saw(published, records, key):
    other = generate_key()
    published.set_record(f"_pm-verify.{DOMAIN}", "TXT", "pmv-000000")
    published.set_record(DOMAIN, "TXT", "v=spf1 include:_spf.google.test ~all")
    published.add_zone("google.test", {"_spf": {"TXT": "v=spf1 ip4:192.0.2.0/24 ~all"}})
    published.set_record(f"pm1._domainkey.{DOMAIN}", "TXT", other.record_value())
    published.set_record(f"track.{DOMAIN}", "CNAME", "track.elsewhere.test.")

    checks = run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF)

    assert by_purpose(checks, Purpose.OWNERSHIP).observed == ["pmv-000000"]
    spf = by_purpose(checks, Purpose.SPF)
    assert spf.message == ("We found `v=spf1 include:_spf.google.test ~all`, which does not "
                           f"include {PLATFORM_SPF}.")
    assert spf.fix.endswith(f"v=spf1 include:_spf.google.test include:{PLATFORM_SPF} ~all")
    assert by_purpose(checks, Purpose.DKIM).code == "DKIM_KEY_MISMATCH"
    assert by_purpose(checks, Purpose.TRACKING, "CNAME").observed == ["track.elsewhere.test"]
    assert [c.status for c in checks] == ["wrong", "wrong", "wrong", "found", "found", "wrong"]


def test_dkim_split_into_several_quoted_strings_is_found(published, records, key):
    p = key.public_key_b64
    published.set_record(f"pm1._domainkey.{DOMAIN}", "TXT",
                         f'"p={p[:150]}" "{p[150:300]}" "{p[300:]}; " "k=rsa ;"')

    answer = resolver_for(published).txt(f"pm1._domainkey.{DOMAIN}")
    checks = run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF)

    assert len(answer.txt_strings[0]) == 4
    assert by_purpose(checks, Purpose.DKIM).status == "found"


def test_cname_delegated_dkim_is_followed_to_the_provider(published, records, key):
    published.remove(f"pm1._domainkey.{DOMAIN}")
    published.set_record(f"pm1._domainkey.{DOMAIN}", "CNAME", "pm1.dkim.provider.test.")
    published.add_zone("provider.test", {"pm1.dkim": {"TXT": key.record_value()}})

    dkim = by_purpose(run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF),
                      Purpose.DKIM)

    assert dkim.status == "found" and "pm1.dkim.provider.test" in dkim.message


def test_delegated_domainkey_subzone_is_followed(published, records, key, dns_server_factory):
    child = dns_server_factory(host="127.0.0.2", port=published.address[1])
    published.remove(f"pm1._domainkey.{DOMAIN}")
    published.set_record(f"_domainkey.{DOMAIN}", "NS", f"ns.dk.{DOMAIN}.")
    published.set_record(f"ns.dk.{DOMAIN}", "A", "127.0.0.2")
    child.add_zone(f"_domainkey.{DOMAIN}", {"pm1": {"TXT": key.record_value()}})

    dkim = by_purpose(run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF),
                      Purpose.DKIM)

    assert dkim.status == "found"


def test_one_lame_nameserver_of_three_is_counted_and_named(dns_server_factory, records):
    good, good2, lame = (dns_server_factory() for _ in range(3))
    for server in (good, good2, lame):
        server.add_zone(DOMAIN, zone_of(records))
    lame.fail(DOMAIN, "lame")

    checks = run_checks(records, resolver_for(good, good2, lame), spf_include=PLATFORM_SPF)

    assert {(c.status, c.agreeing, c.total) for c in checks} == {("found", 2, 3)}
    assert all(f"2 of 3 nameservers serve it; {lame.nameserver}: the server is not "
               "authoritative" in c.message for c in checks)


def test_a_nameserver_still_serving_an_old_key_is_a_finding(dns_server_factory, records):
    servers = [dns_server_factory() for _ in range(3)]
    for server in servers:
        server.add_zone(DOMAIN, zone_of(records))
    servers[2].set_record(f"pm1._domainkey.{DOMAIN}", "TXT", generate_key().record_value())

    checks = run_checks(records, resolver_for(*servers), spf_include=PLATFORM_SPF)

    dkim = by_purpose(checks, Purpose.DKIM)
    assert (dkim.status, dkim.agreeing, dkim.total) == ("wrong", 2, 3)
    assert dkim.message.startswith(f"Only 2 of 3 nameservers serve the right record; "
                                   f"{servers[2].nameserver} does not")
    assert not all_found(checks)


def test_a_timeout_is_an_error_never_missing(published, records):
    published.fail(f"_dmarc.{DOMAIN}", "drop")
    resolver = resolver_for(published, timeout=0.2, lifetime=0.6)

    started = time.monotonic()
    checks = run_checks(records, resolver, spf_include=PLATFORM_SPF)

    dmarc = by_purpose(checks, Purpose.DMARC)
    assert (dmarc.status, dmarc.code) == ("error", "DNS_TIMEOUT")
    assert "timed out" in dmarc.message and dmarc.fix == "Nothing to change yet; we retry."
    assert summarise(checks) == {"found": len(records) - 1, "missing": 0, "wrong": 0,
                                 "error": 1, "total": len(records)}
    assert time.monotonic() - started < 1.5  # records are checked side by side


@pytest.mark.parametrize("mode", ["servfail", "refused"])
def test_server_failures_are_errors(published, records, mode):
    published.fail(DOMAIN, mode)

    checks = run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF)

    assert {c.status for c in checks} == {"error"}
    assert {c.code for c in checks} == {f"DNS_{mode.upper()}"}


def test_spf_include_nested_two_levels_is_followed_through_dns(published, records):
    published.set_record(DOMAIN, "TXT", "v=spf1 mx include:_spf.corp.test ~all")
    published.add_zone("corp.test", {"_spf": {"TXT": "v=spf1 include:mail.vendor.test -all"}})
    published.add_zone("vendor.test", {"mail": {"TXT": f"v=spf1 include:{PLATFORM_SPF} -all"}})

    spf = by_purpose(run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF),
                     Purpose.SPF)

    assert spf.status == "found"
    assert f"through _spf.corp.test → mail.vendor.test → {PLATFORM_SPF}" in spf.message


def test_two_spf_records_are_wrong_with_one_merged_fix(published, records):
    published.set_record(DOMAIN, "TXT", [f"v=spf1 include:{PLATFORM_SPF} ~all",
                                         "v=spf1 ip4:192.0.2.1 -all"])

    spf = by_purpose(run_checks(records, resolver_for(published), spf_include=PLATFORM_SPF),
                     Purpose.SPF)

    assert (spf.status, spf.code) == ("wrong", "SPF_MULTIPLE_RECORDS")
    assert spf.fix.endswith(f"v=spf1 include:{PLATFORM_SPF} ip4:192.0.2.1 ~all")


def test_spf_is_judged_by_the_instructions_when_no_include_is_named(published, key):
    records = records_for(key, existing_spf="v=spf1 include:_spf.google.test ~all")
    published.add_zone("google.test", {"_spf": {"TXT": "v=spf1 ip4:192.0.2.0/24 ~all"}})
    published.set_record(DOMAIN, "TXT", f"v=spf1 include:_spf.google.test include:{PLATFORM_SPF} "
                                        "~all")

    assert all_found(run_checks(records, resolver_for(published)))


def test_return_path_in_mx_mode_is_found(dns_server, key):
    records = records_for(key, return_path=ReturnPath("pm-bounces",
                                                      mx_host="mx.penguinmails.test",
                                                      mx_priority=20))
    zone = zone_of(records)
    zone["pm-bounces"]["MX"] = "10 mx.penguinmails.test."
    dns_server.add_zone(DOMAIN, zone)

    checks = run_checks(records, resolver_for(dns_server), spf_include=PLATFORM_SPF)

    mx = by_purpose(checks, Purpose.RETURN_PATH, "MX")
    assert mx.status == "found" and "priority 10 rather than 20" in mx.message
    assert by_purpose(checks, Purpose.RETURN_PATH, "TXT").status == "found"


def test_without_authoritative_nameservers_the_resolver_is_asked(published, records,
                                                                 monkeypatch):
    resolver = resolver_for(published)
    monkeypatch.setattr(resolver, "query_each_authoritative", lambda name, rdtype: [])

    checks = run_checks(records, resolver, spf_include=PLATFORM_SPF)

    assert all_found(checks)
    assert {(c.agreeing, c.total) for c in checks} == {(None, None)}


def test_observed_spf_is_the_published_record(published):
    assert observed_spf(resolver_for(published), DOMAIN) == f"v=spf1 include:{PLATFORM_SPF} ~all"


def test_observed_spf_is_none_without_one_and_combined_when_there_are_several(published):
    resolver = resolver_for(published)
    published.set_record(DOMAIN, "TXT", "google-site-verification=abc")
    assert observed_spf(resolver, DOMAIN) is None

    published.set_record(DOMAIN, "TXT", ["v=spf1 mx ~all", "v=spf1 ip4:192.0.2.1 -all"])
    assert observed_spf(resolver, DOMAIN) == "v=spf1 ip4:192.0.2.1 mx -all"


def test_observed_spf_raises_when_dns_fails_rather_than_saying_none(published):
    published.fail(DOMAIN, "servfail")

    with pytest.raises(SpfLookupFailed) as failure:
        observed_spf(resolver_for(published), DOMAIN)

    assert failure.value.answer.status == "servfail"
