"""The DNS validator against a real authoritative server on loopback, and `flask dns check`."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.adapters.dns import DnsConfig, Resolver
from app.core.dkim import generate_key
from app.monitoring.validator import validate_domain

OUR_IP = "192.0.2.10"
GOOD_SPF = f"v=spf1 ip4:{OUR_IP} -all"
GOOD_DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"


@pytest.fixture(scope="module")
def key():
    return generate_key("rsa")


@pytest.fixture(scope="module")
def weak_key_b64() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


@pytest.fixture
def zone(dns_server, key):
    """example.test published correctly; tests change one record at a time."""
    dns_server.add_zone("example.test", {
        "@": {"TXT": GOOD_SPF, "MX": "10 mx.example.test."},
        "mx": {"A": OUR_IP},
        "pm1._domainkey": {"TXT": key.record_value()},
        "_dmarc": {"TXT": GOOD_DMARC},
    })
    return dns_server


@pytest.fixture
def resolver(dns_server) -> Resolver:
    return Resolver(DnsConfig(nameservers=[dns_server.address], timeout=0.3, lifetime=0.6,
                              retries=0))


def check(resolver, key, domain="example.test", **options):
    options.setdefault("platform_ips", [OUR_IP])
    options.setdefault("expected_dkim_keys", {"pm1": base64.b64decode(key.public_key_b64)})
    return validate_domain(domain, resolver, **options)


def codes(report) -> set[str]:
    return {found.code for found in report.findings}


def only(report, code):
    [found] = [found for found in report.findings if found.code == code]
    return found


# --- clean ------------------------------------------------------------------------------------

def test_a_clean_domain_has_no_findings_and_scores_100(zone, resolver, key):
    report = check(resolver, key)
    assert report.findings == []
    assert (report.health.score, report.health.band) == (100, "healthy")
    assert report.to_dict()["findings"] == [] and report.to_dict()["score"] == 100


def test_a_clean_record_split_into_strings_is_still_clean(zone, resolver, key):
    zone.set_record("_dmarc.example.test.", "TXT", ("v=DMARC1;  P=reject ;", " rua=mailto:",
                                                    "dmarc@example.test"))
    assert check(resolver, key).findings == []


# --- SPF --------------------------------------------------------------------------------------

def test_spf_plus_all_is_an_error_with_a_corrected_record(zone, resolver, key):
    zone.set_record("example.test.", "TXT", f"v=spf1 ip4:{OUR_IP} +all")
    found = only(check(resolver, key), "SPF_PLUS_ALL")
    assert found.severity == "error" and (found.record_host, found.record_type) == (
        "example.test", "TXT")
    assert "+all" in found.message and found.fix == f"Publish: v=spf1 ip4:{OUR_IP} ~all"
    assert check(resolver, key).health.score <= 69


def test_two_spf_records_are_one_finding_with_the_combined_record(zone, resolver, key):
    zone.set_record("example.test.", "TXT", [GOOD_SPF, "v=spf1 include:other.test ~all"])
    report = check(resolver, key)
    assert codes(report) == {"SPF_MULTIPLE_RECORDS"}
    assert "include:other.test" in only(report, "SPF_MULTIPLE_RECORDS").fix


def test_spf_over_ten_lookups_is_an_error(zone, resolver, key):
    includes = " ".join(f"include:s{n}.example.test" for n in range(11))
    zone.set_record("example.test.", "TXT", f"v=spf1 {includes} ip4:{OUR_IP} -all")
    for n in range(11):
        zone.set_record(f"s{n}.example.test.", "TXT", f"v=spf1 ip4:198.51.100.{n} -all")
    report = check(resolver, key)
    assert "SPF_TOO_MANY_LOOKUPS" in codes(report)
    assert "SPF_PLATFORM_NOT_AUTHORIZED" not in codes(report)  # one verdict, not two


@pytest.mark.parametrize(("record", "code"), [
    (f"v=spf1 ip4:{OUR_IP} ?all", "SPF_NEUTRAL_ALL"),
    (f"v=spf1 ip4:{OUR_IP}", "SPF_NO_ALL"),
    (f"v=spf1 ip4:{OUR_IP} ptr -all", "SPF_PTR"),
    (f"v=spf1 ip4:{OUR_IP} redirect=example.test -all", "SPF_REDIRECT_IGNORED"),
    ("v=spf1 ip4:192.0.2.300 -all", "SPF_SYNTAX"),
    (f"v=spf1 include:nothing.example.test ip4:{OUR_IP} -all", "SPF_INCLUDE_NO_RECORD"),
    (f"v=spf1 include:example.test ip4:{OUR_IP} -all", "SPF_INCLUDE_LOOP"),
    ("v=spf1 a:n1.example.test a:n2.example.test a:n3.example.test -all",
     "SPF_VOID_LOOKUPS"),
    ("v=spf1 ip4:198.51.100.1 -all", "SPF_PLATFORM_NOT_AUTHORIZED"),
])
def test_spf_problems_are_found(zone, resolver, key, record, code):
    zone.set_record("example.test.", "TXT", record)
    found = only(check(resolver, key), code)
    assert found.record_host == "example.test" and found.message and found.fix


def test_an_spf_record_over_512_bytes_is_too_long(zone, resolver, key):
    ranges = " ".join(f"ip4:198.51.{n}.0/24" for n in range(30))
    zone.set_record("example.test.", "TXT", f"v=spf1 ip4:{OUR_IP} {ranges} -all")
    assert codes(check(resolver, key)) == {"SPF_TOO_LONG"}


def test_platform_not_authorized_suggests_our_include(zone, resolver, key):
    zone.set_record("example.test.", "TXT", "v=spf1 ip4:198.51.100.1 -all")
    found = only(check(resolver, key, platform_spf_include="spf.platform.test"),
                 "SPF_PLATFORM_NOT_AUTHORIZED")
    assert found.fix == "Publish: v=spf1 ip4:198.51.100.1 include:spf.platform.test -all"


def test_no_spf_record_is_missing(zone, resolver, key):
    zone.remove("example.test.", "TXT")
    found = only(check(resolver, key, platform_spf_include="spf.platform.test"), "SPF_MISSING")
    assert "v=spf1 include:spf.platform.test ~all" in found.fix


# --- DKIM -------------------------------------------------------------------------------------

def test_a_1024_bit_dkim_key_is_weak(zone, resolver, key, weak_key_b64):
    zone.set_record("pm1._domainkey.example.test.", "TXT", f"v=DKIM1; k=rsa; p={weak_key_b64}")
    report = check(resolver, key, expected_dkim_keys=None)
    assert codes(report) == {"DKIM_KEY_WEAK"}
    assert only(report, "DKIM_KEY_WEAK").record_host == "pm1._domainkey.example.test"


def test_a_revoked_dkim_key_is_an_error(zone, resolver, key):
    zone.set_record("pm1._domainkey.example.test.", "TXT", "v=DKIM1; k=rsa; p=")
    assert codes(check(resolver, key)) == {"DKIM_REVOKED"}


def test_a_missing_dkim_key_is_reported_with_the_record_to_publish(zone, resolver, key):
    zone.remove("pm1._domainkey.example.test.")
    found = only(check(resolver, key), "DKIM_MISSING")
    assert key.public_key_b64 in found.fix


def test_another_key_than_ours_is_a_mismatch(zone, resolver, key):
    other = generate_key("rsa")
    zone.set_record("pm1._domainkey.example.test.", "TXT", other.record_value())
    assert codes(check(resolver, key)) == {"DKIM_KEY_MISMATCH"}


def test_dkim_is_checked_at_every_given_selector(zone, resolver, key):
    report = check(resolver, key, selectors=["pm1", "s2"])
    assert only(report, "DKIM_MISSING").record_host == "s2._domainkey.example.test"


# --- DMARC ------------------------------------------------------------------------------------

def test_dmarc_p_none_warns(zone, resolver, key):
    zone.set_record("_dmarc.example.test.", "TXT", "v=DMARC1; p=none")
    found = only(check(resolver, key), "DMARC_POLICY_NONE")
    assert found.severity == "warning" and "p=quarantine" in found.fix


def test_a_subdomain_without_dmarc_falls_back_to_the_organisational_record(zone, resolver, key):
    zone.set_record("_dmarc.example.test.", "TXT", "v=DMARC1; p=none")
    zone.set_record("mail.example.test.", "TXT", GOOD_SPF)
    report = check(resolver, key, domain="mail.example.test", selectors=[])
    found = only(report, "DMARC_POLICY_NONE")
    assert found.record_host == "_dmarc.example.test"
    assert "DMARC_MISSING" not in codes(report)


def test_a_subdomain_under_an_org_without_dmarc_is_missing_dmarc(zone, resolver, key):
    zone.remove("_dmarc.example.test.")
    zone.set_record("mail.example.test.", "TXT", GOOD_SPF)
    report = check(resolver, key, domain="mail.example.test", selectors=[])
    assert only(report, "DMARC_MISSING").record_host == "_dmarc.mail.example.test"


def test_an_external_report_address_needs_its_authorisation_record(zone, resolver, key):
    zone.set_record("_dmarc.example.test.", "TXT", "v=DMARC1; p=reject; "
                                                   "rua=mailto:reports@reporter.test")
    zone.add_zone("reporter.test", {"@": {"TXT": "v=spf1 -all"}})
    found = only(check(resolver, key), "DMARC_RUA_UNAUTHORIZED")
    assert "example.test._report._dmarc.reporter.test" in found.message

    zone.set_record("example.test._report._dmarc.reporter.test.", "TXT", "v=DMARC1")
    assert check(resolver, key).findings == []


# --- DNS failures -----------------------------------------------------------------------------

def test_a_timeout_is_reported_as_a_timeout_not_a_missing_record(zone, resolver, key):
    zone.fail("example.test", "drop")
    report = check(resolver, key)
    assert codes(report) == {"DNS_TIMEOUT"}
    assert {(found.record_host, found.record_type) for found in report.findings} == {
        ("example.test", "TXT"), ("example.test", "MX"), ("pm1._domainkey.example.test", "TXT"),
        ("_dmarc.example.test", "TXT")}


def test_servfail_is_reported_as_servfail_not_missing_dmarc(zone, resolver, key):
    zone.fail("_dmarc.example.test", "servfail")
    report = check(resolver, key)
    assert codes(report) == {"DNS_SERVFAIL"}
    assert only(report, "DNS_SERVFAIL").record_host == "_dmarc.example.test"


def test_a_failing_include_is_a_dns_finding_not_a_missing_include(zone, resolver, key):
    zone.set_record("example.test.", "TXT", f"v=spf1 include:spf.example.test ip4:{OUR_IP} -all")
    zone.set_record("spf.example.test.", "TXT", "v=spf1 -all")
    zone.fail("spf.example.test", "servfail")
    report = check(resolver, key)
    assert codes(report) == {"DNS_SERVFAIL"}
    assert only(report, "DNS_SERVFAIL").record_host == "spf.example.test"


# --- flask dns check --------------------------------------------------------------------------

@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["dns", "check", *args])

    return invoke


def test_cli_clean_domain_exits_0_with_json(cli, zone):
    result = cli("example.test", "--nameserver", zone.nameserver, "--selector", "pm1", "--json")
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)
    assert (entry["domain"], entry["score"], entry["findings"]) == ("example.test", 100, [])


def test_cli_error_finding_exits_1_and_prints_the_fix(cli, zone):
    zone.set_record("example.test.", "TXT", "v=spf1 +all")
    result = cli("Example.TEST.", "--nameserver", zone.nameserver)
    assert result.exit_code == 1, result.output
    assert "example.test  score" in result.stdout
    assert "SPF_PLUS_ALL  example.test TXT" in result.stdout
    assert "fix: Publish: v=spf1 ~all" in result.stdout


def test_cli_json_findings_have_the_issue_shape(cli, zone):
    zone.set_record("_dmarc.example.test.", "TXT", "v=DMARC1; p=none")
    result = cli("example.test", "--nameserver", zone.nameserver, "--json")
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)
    [found] = entry["findings"]
    assert set(found) == {"code", "severity", "record", "message", "fix"}
    assert found["record"] == {"host": "_dmarc.example.test", "type": "TXT"}


def test_cli_reads_domains_from_a_file_and_reports_bad_names(cli, zone, tmp_path):
    listing = tmp_path / "domains.txt"
    listing.write_text("# ours\nexample.test\n\nnot a domain\n")
    result = cli("--file", str(listing), "--nameserver", zone.nameserver, "--json")
    assert result.exit_code == 2, result.output
    entries = json.loads(result.stdout)
    assert entries[0]["domain"] == "example.test" and entries[0]["score"] == 100
    assert entries[1]["domain"] == "not a domain" and entries[1]["error"]["code"]


@pytest.mark.parametrize("args", [
    ("example.test", "--nameserver", "dns.example.test"),
    ("--file", "/nonexistent/domains.txt"),
    (),
])
def test_cli_bad_usage_exits_2(cli, args):
    assert cli(*args).exit_code == 2
