"""Every finding code planted in a real zone and found: one domain per problem, plus clean ones.

Two authoritative servers on loopback (127.0.0.1 and 127.0.0.2, one port) serve the same
zones, as a domain's nameservers do; a few domains make the second one lame or disagree.
`PLANTED` is the table domain → expected codes; `test_every_finding_code_is_planted` fails
when a code of `FINDING_KINDS` has no domain that plants it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.adapters.dns import DnsConfig, Resolver
from app.core import records as core_records
from app.core.dkim import generate_key
from app.core.findings import FINDING_KINDS
from app.monitoring.validator import validate_domain
from tests.dnsserver import DnsTestServer
from tests.integration.test_validator import GOOD_SPF, OUR_IP

LISTED_IP = "198.51.100.66"
PLATFORM_INCLUDE = "_spf.platform.test"
BOUNCE_HOST = "bounces.platform.test"
TRACKING_HOST = "track.platform.test"
DOMAIN_LIST, IP_LIST = "dbl.spamhaus.org", "zen.spamhaus.org"

KEY = generate_key("rsa")
OTHER_KEY = generate_key("rsa")
OUR_KEY = base64.b64decode(KEY.public_key_b64)


def _weak_key_b64() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


class World:
    """Both nameservers; `set` and `add_zone` change both, so they agree unless told not to."""

    def __init__(self, primary: DnsTestServer, secondary: DnsTestServer) -> None:
        self.primary, self.secondary = primary, secondary

    def add_zone(self, origin: str, records: dict) -> None:
        for server in (self.primary, self.secondary):
            server.add_zone(origin, records)

    def set(self, name: str, rdtype: str, values: object) -> None:
        for server in (self.primary, self.secondary):
            server.set_record(name, rdtype, values)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        for server in (self.primary, self.secondary):
            server.remove(name, rdtype)

    def fail(self, name: str, mode: str) -> None:
        for server in (self.primary, self.secondary):
            server.fail(name, mode)


@dataclass(frozen=True)
class Planted:
    expected: frozenset[str]
    plant: Callable[[World, str], None]
    options: dict = field(default_factory=dict)


PLANTED: dict[str, Planted] = {}


def planted(domain: str, *expected: str, **options):
    def register(plant: Callable[[World, str], None]):
        PLANTED[domain] = Planted(frozenset(expected), plant, options)
        return plant
    return register


def clean_zone(domain: str) -> dict:
    return {
        "@": {"TXT": GOOD_SPF, "MX": f"10 mx.{domain}.", "A": "192.0.2.80"},
        "mx": {"A": "192.0.2.25"},
        "pm1._domainkey": {"TXT": KEY.record_value()},
        "_dmarc": {"TXT": f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"},
    }


def managed(domain: str, *, mx_mode: bool = False, tracking: bool = True) -> dict:
    """The platform inputs `validation_inputs` gives for a domain we send for."""
    return_path = (core_records.ReturnPath("pm-bounces", mx_host=BOUNCE_HOST) if mx_mode else
                   core_records.ReturnPath("pm-bounces", cname_target=BOUNCE_HOST))
    settings = core_records.RecordSettings(
        domain=domain, verification_token="pm-verify-test", spf_include=PLATFORM_INCLUDE,
        return_path=return_path,
        tracking=core_records.TrackingHost("track", TRACKING_HOST) if tracking else None)
    delivery = tuple(record for record in core_records.expected_records(settings)
                     if record.purpose in ("return_path", "tracking"))
    return {"platform_spf_include": PLATFORM_INCLUDE, "return_path_host": f"pm-bounces.{domain}",
            "dkim_domain": domain, "expected_records": delivery}


def publish_delivery(world: World, domain: str, options: dict) -> None:
    for record in options["expected_records"]:
        value = (tuple(record.zone_values) if record.type == "TXT"
                 else " ".join(record.zone_values))
        world.set(record.host + ".", record.type, value)


def spf(record: str):
    return lambda world, domain: world.set(f"{domain}.", "TXT", record.format(d=domain))


def dkim(record: str):
    return lambda world, domain: world.set(f"pm1._domainkey.{domain}.", "TXT", record)


def dmarc(record: str):
    return lambda world, domain: world.set(f"_dmarc.{domain}.", "TXT", record.format(d=domain))


def nothing(world: World, domain: str) -> None:
    """The clean zone as it is."""


# --- clean ------------------------------------------------------------------------------------

planted("clean.test")(nothing)
planted("clean-unmanaged.test", platform_ips=(), expected_dkim_keys=None,
        dnsbl_domain_lists=(), dnsbl_ip_lists=())(nothing)
planted("clean-split-records.test")(lambda world, domain: (
    world.set(f"_dmarc.{domain}.", "TXT", ("v=DMARC1;  P=reject ;", " rua=mailto:",
                                             f"dmarc@{domain}")),
    world.set(f"{domain}.", "TXT", ("v=spf1 ip4:", f"{OUR_IP} ", "-all"))))
CLEAN_DELIVERY = managed("clean-delivery.test")
planted("clean-delivery.test", **CLEAN_DELIVERY)(
    lambda world, domain: publish_delivery(world, domain, CLEAN_DELIVERY))
CLEAN_MX_MODE = managed("clean-mxmode.test", mx_mode=True)
planted("clean-mxmode.test", **CLEAN_MX_MODE)(
    lambda world, domain: publish_delivery(world, domain, CLEAN_MX_MODE))
# M3AAWG's parked domain: sends nothing (v=spf1 -all), takes nothing (RFC 7505 null MX).
planted("clean-parked.test", selectors=(), platform_ips=(), expected_dkim_keys=None)(
    lambda world, domain: (world.set(f"{domain}.", "TXT", "v=spf1 -all"),
                           world.set(f"{domain}.", "MX", "0 ."),
                           world.remove(f"pm1._domainkey.{domain}.")))
# RFC 5321 §5.1 implicit MX: an info note, not a warning.
planted("clean-implicit-mx.test", "MX_MISSING")(
    lambda world, domain: world.remove(f"{domain}.", "MX"))

# --- SPF --------------------------------------------------------------------------------------

planted("spf-missing.test", "SPF_MISSING")(lambda world, domain: world.remove(f"{domain}.", "TXT"))
planted("spf-multiple.test", "SPF_MULTIPLE_RECORDS")(
    lambda world, domain: world.set(f"{domain}.", "TXT", [GOOD_SPF, "v=spf1 mx ~all"]))
planted("spf-syntax.test", "SPF_SYNTAX")(spf("v=spf1 ip4:192.0.2.300 -all"))
planted("spf-void.test", "SPF_VOID_LOOKUPS")(
    spf("v=spf1 a:n1.{d} a:n2.{d} a:n3.{d} ip4:" + OUR_IP + " -all"))
planted("spf-loop.test", "SPF_INCLUDE_LOOP")(spf("v=spf1 include:{d} ip4:" + OUR_IP + " -all"))
planted("spf-include-none.test", "SPF_INCLUDE_NO_RECORD")(
    spf("v=spf1 include:nothing.{d} ip4:" + OUR_IP + " -all"))
planted("spf-plus-all.test", "SPF_PLUS_ALL")(spf(f"v=spf1 ip4:{OUR_IP} +all"))
planted("spf-neutral-all.test", "SPF_NEUTRAL_ALL")(spf(f"v=spf1 ip4:{OUR_IP} ?all"))
planted("spf-no-all.test", "SPF_NO_ALL")(spf(f"v=spf1 ip4:{OUR_IP}"))
planted("spf-ptr.test", "SPF_PTR")(spf(f"v=spf1 ip4:{OUR_IP} ptr -all"))
planted("spf-redirect.test", "SPF_REDIRECT_IGNORED")(
    spf(f"v=spf1 ip4:{OUR_IP} redirect=clean.test -all"))
planted("spf-too-long.test", "SPF_TOO_LONG")(
    spf(f"v=spf1 ip4:{OUR_IP} " + " ".join(f"ip4:198.51.{n}.0/24" for n in range(30)) + " -all"))
planted("spf-not-ours.test", "SPF_PLATFORM_NOT_AUTHORIZED")(spf("v=spf1 ip4:198.51.100.1 -all"))


@planted("spf-lookups.test", "SPF_TOO_MANY_LOOKUPS")
def _eleven_includes(world: World, domain: str) -> None:
    world.set(f"{domain}.", "TXT", " ".join(["v=spf1", *(f"include:s{n}.{domain}"
                                                         for n in range(11)), "-all"]))
    for n in range(11):
        world.set(f"s{n}.{domain}.", "TXT", f"v=spf1 ip4:198.51.100.{n} -all")


# --- DKIM -------------------------------------------------------------------------------------

planted("dkim-missing.test", "DKIM_MISSING")(
    lambda world, domain: world.remove(f"pm1._domainkey.{domain}."))
planted("dkim-multiple.test", "DKIM_MULTIPLE_RECORDS")(
    lambda world, domain: world.set(f"pm1._domainkey.{domain}.", "TXT",
                                    [KEY.record_value(), OTHER_KEY.record_value()]))
planted("dkim-syntax.test", "DKIM_SYNTAX")(dkim("v=DKIM1; p=abc$"))
planted("dkim-invalid.test", "DKIM_KEY_INVALID", expected_dkim_keys=None)(
    dkim("v=DKIM1; k=rsa; p=AAAAAAAA"))
planted("dkim-weak.test", "DKIM_KEY_WEAK", expected_dkim_keys=None)(
    dkim(f"v=DKIM1; k=rsa; p={_weak_key_b64()}"))
planted("dkim-revoked.test", "DKIM_REVOKED")(dkim("v=DKIM1; k=rsa; p="))
planted("dkim-testing.test", "DKIM_TESTING")(dkim(f"v=DKIM1; t=y; p={KEY.public_key_b64}"))
planted("dkim-mismatch.test", "DKIM_KEY_MISMATCH")(dkim(OTHER_KEY.record_value()))
planted("dkim-sha1.test", "DKIM_SHA1_ONLY")(dkim(f"v=DKIM1; h=sha1; p={KEY.public_key_b64}"))

# --- DMARC ------------------------------------------------------------------------------------

planted("dmarc-missing.test", "DMARC_MISSING")(
    lambda world, domain: world.remove(f"_dmarc.{domain}."))
planted("dmarc-multiple.test", "DMARC_MULTIPLE_RECORDS")(
    lambda world, domain: world.set(f"_dmarc.{domain}.", "TXT",
                                    ["v=DMARC1; p=reject", "v=DMARC1; p=none"]))
planted("dmarc-syntax.test", "DMARC_SYNTAX")(dmarc("v=DMARC1; p=rejects"))
planted("dmarc-none.test", "DMARC_POLICY_NONE")(dmarc("v=DMARC1; p=none"))
planted("dmarc-pct.test", "DMARC_PCT_PARTIAL")(dmarc("v=DMARC1; p=reject; pct=50"))
planted("dmarc-sp.test", "DMARC_SP_WEAKER")(dmarc("v=DMARC1; p=reject; sp=none"))
planted("dmarc-rua-invalid.test", "DMARC_RUA_INVALID")(
    dmarc("v=DMARC1; p=reject; rua=https://{d}/dmarc"))
planted("dmarc-rua-unauthorized.test", "DMARC_RUA_UNAUTHORIZED")(
    dmarc("v=DMARC1; p=reject; rua=mailto:dmarc@reports.test"))
planted("dmarc-not-aligned.test", "DMARC_NOT_ALIGNED", return_path_host=BOUNCE_HOST,
        dkim_domain="platform.test")(dmarc("v=DMARC1; p=reject; adkim=s; aspf=s"))

# --- return path, tracking, MX ---------------------------------------------------------------

planted("mx-missing.test", "MX_MISSING")(
    lambda world, domain: (world.remove(f"{domain}.", "MX"), world.remove(f"{domain}.", "A")))
planted("mx-null.test", "MX_MISSING")(  # sends mail, but refuses all replies and bounces
    lambda world, domain: world.set(f"{domain}.", "MX", "0 ."))
RP_WRONG = managed("rp-wrong.test")
planted("rp-wrong.test", "RETURN_PATH_WRONG", **RP_WRONG)(lambda world, domain: (
    publish_delivery(world, domain, RP_WRONG),
    world.set(f"pm-bounces.{domain}.", "CNAME", "bounces.elsewhere.test.")))
RP_NO_MX = managed("rp-no-mx.test", mx_mode=True)
planted("rp-no-mx.test", "MX_MISSING", **RP_NO_MX)(lambda world, domain: (
    publish_delivery(world, domain, RP_NO_MX), world.remove(f"pm-bounces.{domain}.", "MX")))
TRACKING_WRONG = managed("tracking-wrong.test")
planted("tracking-wrong.test", "TRACKING_CNAME_WRONG", **TRACKING_WRONG)(
    lambda world, domain: (publish_delivery(world, domain, TRACKING_WRONG),
                           world.remove(f"track.{domain}.")))
CONFLICT = managed("cname-conflict.test")


@planted("cname-conflict.test", "CNAME_CONFLICT", **CONFLICT)
def _txt_beside_the_return_path_cname(world: World, domain: str) -> None:
    publish_delivery(world, domain, CONFLICT)
    for server in (world.primary, world.secondary):
        server.set_beside_cname(f"pm-bounces.{domain}.", "TXT", "v=spf1 mx -all")


# --- nameservers and DNS failures ------------------------------------------------------------

planted("ns-lame.test", "NS_LAME")(
    lambda world, domain: world.secondary.fail(f"{domain}.", "lame"))
planted("ns-disagree.test", "NS_INCONSISTENT")(
    lambda world, domain: world.secondary.set_record(f"{domain}.", "TXT", "v=spf1 -all"))
planted("dns-timeout.test", "DNS_TIMEOUT")(lambda world, domain: world.fail(domain, "drop"))
planted("dns-servfail.test", "DNS_SERVFAIL")(
    lambda world, domain: world.fail(f"_dmarc.{domain}", "servfail"))

# --- blacklists -------------------------------------------------------------------------------

planted("dnsbl-listed.test", "DNSBL_LISTED")(
    lambda world, domain: world.set(f"{domain}.{DOMAIN_LIST}.", "A", "127.0.1.2"))
planted("dnsbl-refused.test", "DNSBL_QUERY_REFUSED")(
    lambda world, domain: world.set(f"{domain}.{DOMAIN_LIST}.", "A", "127.255.255.254"))
planted("ip-listed.test", "DNSBL_LISTED", platform_ips=(LISTED_IP,))(
    spf(f"v=spf1 ip4:{LISTED_IP} -all"))


# --- the world --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world():
    primary = DnsTestServer("127.0.0.1").start()
    secondary = DnsTestServer("127.0.0.2", primary.address[1]).start()
    world = World(primary, secondary)
    world.add_zone("platform.test", {"_spf": {"TXT": GOOD_SPF}, "bounces": {"MX": "10 mx"},
                                     "mx": {"A": "192.0.2.26"}, "track": {"A": "192.0.2.27"}})
    world.add_zone("reports.test", {"@": {"MX": "10 mx.reports.test."}})
    world.add_zone(DOMAIN_LIST, {"@": {"TXT": "test list"}})
    world.add_zone(IP_LIST, {"66.100.51.198": {"A": "127.0.0.4"}})
    for domain, entry in PLANTED.items():
        world.add_zone(domain, clean_zone(domain))
        entry.plant(world, domain)
    yield world
    primary.stop()
    secondary.stop()


@pytest.fixture(scope="module")
def resolver(world) -> Resolver:
    return Resolver(DnsConfig(nameservers=[world.primary.address, world.secondary.address],
                              timeout=0.3, lifetime=1.0, retries=0))


def validate(resolver: Resolver, domain: str):
    options = {"selectors": ("pm1",), "platform_ips": (OUR_IP,),
               "expected_dkim_keys": {"pm1": OUR_KEY},
               "dnsbl_domain_lists": (DOMAIN_LIST,), "dnsbl_ip_lists": (IP_LIST,),
               **PLANTED[domain].options}
    return validate_domain(domain, resolver, **options)


@pytest.mark.parametrize("domain", sorted(PLANTED))
def test_the_planted_problem_is_found_and_nothing_else(resolver, domain):
    report = validate(resolver, domain)
    assert {found.code for found in report.findings} == PLANTED[domain].expected, [
        (found.code, found.record_host, found.message) for found in report.findings]
    for found in report.findings:
        assert found.message and found.fix, found
        assert found.record_host.endswith(domain) or found.code.startswith("DNSBL")


@pytest.mark.parametrize("domain", sorted(name for name in PLANTED if name.startswith("clean")))
def test_clean_domains_have_no_warning_or_error(resolver, domain):
    report = validate(resolver, domain)
    assert [found for found in report.findings if found.severity != "info"] == []
    assert report.health.score == 100


def test_every_finding_code_is_planted():
    planted_codes = set().union(*(entry.expected for entry in PLANTED.values()))
    assert set(FINDING_KINDS) - planted_codes == set()


def test_blacklist_answers_are_not_records_of_the_domain(resolver):
    report = validate(resolver, "dnsbl-listed.test")
    assert report.records and not any(DOMAIN_LIST in name for name in report.records)
