"""The validator on a subdomain against a real DNS server: which DMARC policy applies to it,
its own record or its organisational domain's sp= (RFC 7489 §6.6.3), said in plain words."""

from __future__ import annotations

import pytest

from app.adapters.dns import DnsConfig, Resolver
from app.domains import service
from app.monitoring.managed import validate_managed
from app.monitoring.validator import validate_domain
from app.subdomains.service import add_subdomain
from tests.onboarding import ZONE, onboard

SUB = f"marketing.{ZONE}"
SPF = "v=spf1 ip4:192.0.2.10 -all"


@pytest.fixture
def zone(dns_server):
    dns_server.add_zone(ZONE, {"@": {"TXT": SPF, "MX": f"10 mx.{ZONE}."},
                               "mx": {"A": "192.0.2.10"},
                               "marketing": {"TXT": SPF, "MX": f"10 mx.{ZONE}."}})
    return dns_server


@pytest.fixture
def resolver(dns_server) -> Resolver:
    return Resolver(DnsConfig(nameservers=[dns_server.address], timeout=0.3, lifetime=0.6,
                              retries=0))


def dmarc_codes(report) -> set[str]:
    return {found.code for found in report.findings if found.code.startswith("DMARC")}


def test_no_own_record_and_org_sp_reject_reports_that_sp_applies(zone, resolver):
    zone.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=none; sp=reject")
    report = validate_domain(SUB, resolver, selectors=[])
    assert dmarc_codes(report) == set()
    assert report.dmarc_policy.words == f"{SUB} has no DMARC record; {ZONE}'s sp=reject applies"
    assert report.to_dict()["dmarc_policy"] == report.dmarc_policy.words


def test_an_own_record_is_the_policy_whatever_the_org_says(zone, resolver):
    zone.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=reject")
    zone.set_record(f"_dmarc.{SUB}.", "TXT", "v=DMARC1; p=none")
    report = validate_domain(SUB, resolver, selectors=[])
    assert (report.dmarc_policy.source, report.dmarc_policy.policy) == (SUB, "none")
    [found] = [f for f in report.findings if f.code == "DMARC_POLICY_NONE"]
    assert found.record_host == f"_dmarc.{SUB}"


def test_an_org_with_p_only_gives_its_p(zone, resolver):
    zone.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=quarantine")
    report = validate_domain(SUB, resolver, selectors=[])
    assert dmarc_codes(report) == set()
    assert (report.dmarc_policy.tag, report.dmarc_policy.policy) == ("p", "quarantine")


def test_sp_weaker_than_p_is_a_finding_on_the_org(zone, resolver):
    zone.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=reject; sp=none")
    org = validate_domain(ZONE, resolver, selectors=[])
    assert dmarc_codes(org) == {"DMARC_SP_WEAKER"}
    sub = validate_domain(SUB, resolver, selectors=[])
    [found] = [f for f in sub.findings if f.code.startswith("DMARC")]
    assert found.code == "DMARC_POLICY_NONE"
    assert found.message.startswith(f"{SUB} has no DMARC record; {ZONE}'s sp=none applies.")


def test_no_record_anywhere_is_missing_at_the_subdomain(zone, resolver):
    report = validate_domain(SUB, resolver, selectors=[])
    [found] = [f for f in report.findings if f.code.startswith("DMARC")]
    assert (found.code, found.record_host) == ("DMARC_MISSING", f"_dmarc.{SUB}")
    assert report.dmarc_policy is None


def test_a_managed_subdomain_is_checked_with_its_own_key_and_return_path(app, owner, zone,
                                                                        resolver):
    zone.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=reject")
    sub = add_subdomain(owner, onboard(owner), "marketing")
    report = validate_managed(sub, resolver, app.config)
    hosts = {found.record_host for found in report.findings}
    assert f"pm1._domainkey.{SUB}" in hosts and f"pm-bounces.{SUB}" in hosts
    assert report.dmarc_policy.words.endswith(f"{ZONE}'s p=reject applies (it has no sp=)")
    assert service.ownership_proven_above(sub) is False
