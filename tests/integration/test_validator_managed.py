"""A domain we manage, checked with what the portal expects of it (app.monitoring.managed)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import selectinload

from app.adapters.dns import DnsConfig, Resolver
from app.core.records import DnsRecord, Purpose
from app.domains import service
from app.domains.models import Domain
from app.extensions import db
from app.monitoring.managed import validate_managed, validation_inputs
from app.monitoring.validator import validate_domain
from app.uow import commit
from tests.integration.test_validator import OUR_IP, codes, only
from tests.onboarding import ZONE, onboard, publish


@pytest.fixture
def platform(app, zone_server, monkeypatch):
    """The platform's names live in platform.test on the test server; lists are served too."""
    settings = {
        "PLATFORM_SPF_INCLUDE": "_spf.platform.test",
        "PLATFORM_BOUNCE_HOST": "bounces.platform.test",
        "PLATFORM_TRACKING_HOST": "track.platform.test",
        "PLATFORM_DMARC_RUA": "dmarc-reports@platform.test",
        "PLATFORM_SENDING_IPS": [OUR_IP],
        "DNSBL_DOMAIN_LISTS": ["dbl.spamhaus.org"],
        "DNSBL_IP_LISTS": ["zen.spamhaus.org"],
    }
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    zone_server.add_zone("platform.test", {
        "_spf": {"TXT": f"v=spf1 ip4:{OUR_IP} -all"},
        "bounces": {"MX": "10 mx"}, "mx": {"A": "192.0.2.26"}, "track": {"A": "192.0.2.27"},
        f"{ZONE}._report._dmarc": {"TXT": "v=DMARC1"},
    })
    zone_server.add_zone("dbl.spamhaus.org", {})
    zone_server.add_zone("zen.spamhaus.org", {})
    return app.config


@pytest.fixture
def resolver(zone_server) -> Resolver:
    return Resolver(DnsConfig(nameservers=[zone_server.address], timeout=0.3, lifetime=1.0,
                              retries=0))


def set_up(owner, **choices) -> Domain:
    domain = onboard(owner)
    service.choose_setup(owner, domain, service.SetupChoices(**{"dmarc_policy": "reject",
                                                                "use_tracking": True,
                                                                **choices}))
    commit()
    return domain


def test_a_domain_published_as_instructed_has_no_findings(owner, platform, zone_server,
                                                          resolver):
    domain = set_up(owner)
    publish(zone_server, service.expected_records(domain))
    report = validate_managed(domain, resolver, platform)
    assert report.findings == []
    assert report.health.score == 100


def test_the_default_setup_warns_only_about_p_none(owner, platform, zone_server, resolver):
    domain = onboard(owner)  # the wizard's defaults: p=none, no tracking host
    publish(zone_server, service.expected_records(domain))
    report = validate_managed(domain, resolver, platform)
    assert codes(report) == {"DMARC_POLICY_NONE"}


def test_inputs_are_plain_values_that_outlive_the_session(owner, platform, zone_server,
                                                          resolver):
    domain = set_up(owner)
    publish(zone_server, service.expected_records(domain))
    inputs = validation_inputs(domain, platform)
    key = domain.keys[0]
    fqdn = domain.fqdn
    assert inputs["selectors"] == ("pm1",)
    assert inputs["expected_dkim_keys"] == {"pm1": base64.b64decode(key.public_key)}
    assert inputs["platform_ips"] == (OUR_IP,)
    assert (inputs["return_path_host"], inputs["dkim_domain"]) == (f"pm-bounces.{ZONE}", ZONE)
    assert {(record.purpose, record.type, record.host, record.value)
            for record in inputs["expected_records"]} == {
        (Purpose.RETURN_PATH, "CNAME", f"pm-bounces.{ZONE}", "bounces.platform.test"),
        (Purpose.TRACKING, "CNAME", f"track.{ZONE}", "track.platform.test")}
    assert (inputs["dnsbl_domain_lists"], inputs["dnsbl_ip_lists"]) == (
        ("dbl.spamhaus.org",), ("zen.spamhaus.org",))
    db.session.expunge_all()  # the sweep releases its session before asking DNS
    assert validate_domain(fqdn, resolver, **inputs).findings == []


def test_reading_the_inputs_sends_no_query_once_keys_are_loaded(owner, platform):
    domain_id = set_up(owner).id
    db.session.expunge_all()
    domain = db.session.scalar(select(Domain).where(Domain.id == domain_id)
                               .options(selectinload(Domain.keys)))
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        validation_inputs(domain, platform)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []


def test_before_the_key_exists_dkim_is_checked_at_the_upcoming_selector(owner, platform):
    domain = service.add_domain(owner, ZONE)  # the key job has not run
    commit()
    inputs = validation_inputs(domain, platform)
    assert (inputs["selectors"], inputs["expected_dkim_keys"]) == (("pm1",), {})


def test_a_wrong_return_path_cname_names_the_record_to_publish(owner, platform, zone_server,
                                                               resolver):
    domain = set_up(owner)
    publish(zone_server, service.expected_records(domain))
    zone_server.set_record(f"pm-bounces.{ZONE}.", "CNAME", "bounces.other-esp.test.")
    found = only(validate_managed(domain, resolver, platform), "RETURN_PATH_WRONG")
    assert (found.record_host, found.record_type) == (f"pm-bounces.{ZONE}", "CNAME")
    assert "bounces.other-esp.test" in found.message
    assert found.fix == f"Change the record to pm-bounces.{ZONE} CNAME bounces.platform.test."


def test_a_missing_tracking_cname_is_found(owner, platform, zone_server, resolver):
    domain = set_up(owner)
    publish(zone_server, [record for record in service.expected_records(domain)
                          if record.purpose != Purpose.TRACKING])
    found = only(validate_managed(domain, resolver, platform), "TRACKING_CNAME_WRONG")
    assert found.fix == f"Publish the record track.{ZONE} CNAME track.platform.test."


def test_an_old_record_beside_the_return_path_cname_conflicts(owner, platform, zone_server,
                                                              resolver):
    domain = set_up(owner)
    publish(zone_server, service.expected_records(domain))
    zone_server.set_beside_cname(f"pm-bounces.{ZONE}.", "MX", "10 old-mx.example.test.")
    report = validate_managed(domain, resolver, platform)
    assert codes(report) == {"CNAME_CONFLICT"}
    assert "Delete the MX records" in only(report, "CNAME_CONFLICT").fix


def test_without_a_return_path_of_ours_the_domains_own_mx_is_judged(owner, platform,
                                                                     zone_server, resolver):
    domain = set_up(owner, use_return_path=False)
    publish(zone_server, service.expected_records(domain))
    inputs = validation_inputs(domain, platform)
    assert inputs["return_path_host"] is None
    assert not any(record.purpose == Purpose.RETURN_PATH for record in inputs["expected_records"])
    report = validate_managed(domain, resolver, platform)
    found = only(report, "MX_MISSING")  # example.test has an A record: the implicit MX
    assert found.severity == "info"


def test_a_listed_sending_ip_is_reported_on_the_domain(owner, platform, zone_server, resolver):
    domain = set_up(owner)
    publish(zone_server, service.expected_records(domain))
    zone_server.set_record("10.2.0.192.zen.spamhaus.org.", "A", "127.0.0.2")
    found = only(validate_managed(domain, resolver, platform), "DNSBL_LISTED")
    assert found.record_host == "10.2.0.192.zen.spamhaus.org"
    assert "SBL" in found.message and "Nothing to change in your DNS" in found.fix


def test_the_return_path_in_mx_mode(platform, zone_server, resolver):
    """The core can ask for an MX return path (for owners who may not CNAME outside)."""
    host = f"pm-bounces.{ZONE}"
    mx = DnsRecord(Purpose.RETURN_PATH, "MX", host, "10 bounces.platform.test", 3600, "",
                   ("10", "bounces.platform.test."))
    spf_value = "v=spf1 include:_spf.platform.test -all"
    txt = DnsRecord(Purpose.RETURN_PATH, "TXT", host, spf_value, 3600, "", (spf_value,))
    zone_server.set_record(f"{ZONE}.", "TXT", f"v=spf1 ip4:{OUR_IP} -all")
    zone_server.set_record(f"_dmarc.{ZONE}.", "TXT", "v=DMARC1; p=reject")
    zone_server.set_record(f"{host}.", "MX", "10 bounces.platform.test.")
    zone_server.set_record(f"{host}.", "TXT", spf_value)

    def check():
        return validate_domain(ZONE, resolver, selectors=(), platform_ips=(OUR_IP,),
                               return_path_host=host, expected_records=(mx, txt))

    assert check().findings == []
    zone_server.set_record(f"{host}.", "MX", ["5 mx.example.test.", "10 bounces.platform.test."])
    found = only(check(), "RETURN_PATH_WRONG")
    assert "only a backup" in found.message and found.fix.endswith("MX 10 bounces.platform.test.")
    zone_server.set_record(f"{host}.", "MX", "10 bounces.platform.test.")
    zone_server.set_record(f"{host}.", "TXT", "v=spf1 -all")
    found = only(check(), "RETURN_PATH_WRONG")
    assert f"{OUR_IP} gets fail" in found.message and spf_value in found.fix
