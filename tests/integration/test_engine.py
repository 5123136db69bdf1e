"""The sweep engine against a real authoritative server on loopback: the same findings as the
synchronous validator, bounded concurrency, lazy reading of targets, slow domains that do not
hold up the others, and the AsyncResolver sharing the blocking resolver's rules."""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading

import pytest

from app.adapters.dns import AsyncResolver, DnsConfig, Resolver
from app.core.dkim import generate_key
from app.monitoring import engine
from app.monitoring.engine import CheckTarget, check_many
from app.monitoring.validator import validate_domain

OUR_IP = "192.0.2.10"
INCLUDE = "_spf.platform.test"
CLEAN_SPF = f"v=spf1 include:{INCLUDE} -all"
CLEAN_DMARC = "v=DMARC1; p=reject"


@pytest.fixture(scope="module")
def key():
    return generate_key("rsa")


@pytest.fixture(scope="module")
def big_key():
    return generate_key("rsa", bits=4096)


def clean_zone(key, **changes) -> dict:
    zone = {"@": {"TXT": CLEAN_SPF, "MX": "10 mx"}, "mx": {"A": OUR_IP},
            "pm1._domainkey": {"TXT": key.record_value()}, "_dmarc": {"TXT": CLEAN_DMARC}}
    zone.update(changes)
    return zone


def inputs_for(key) -> dict:
    return {"platform_spf_include": INCLUDE, "platform_ips": [OUR_IP],
            "expected_dkim_keys": {"pm1": base64.b64decode(key.public_key_b64)}}


@pytest.fixture
def zones(dns_server, key, big_key):
    """One domain per case; each is checked by the engine and by validate_domain alone."""
    server = dns_server
    server.add_zone("platform.test", {
        "_spf": {"TXT": f"v=spf1 ip4:{OUR_IP} -all"},
        "pm1.dkim": {"TXT": key.record_value()},
    })
    server.add_zone("good.test", clean_zone(key))
    server.add_zone("broken.test", clean_zone(
        key, **{"@": {"TXT": "v=spf1 +all", "MX": "10 mx"},
                "_dmarc": {"TXT": "v=DMARC1; p=none"},
                "pm1._domainkey": {"TXT": "v=DKIM1; t=y; p="}}))
    server.add_zone("timeout.test", clean_zone(key))
    server.fail("_dmarc.timeout.test", "drop")
    server.add_zone("servfail.test", clean_zone(key))
    server.fail("servfail.test", "servfail")
    # A 4096-bit key with padding does not fit a 1232-byte UDP answer: TC, then TCP.
    server.add_zone("big.test", clean_zone(
        key, **{"pm1._domainkey": {"TXT": big_key.record_value() + "; n=" + "x" * 700}}))
    server.add_zone("chain.test", clean_zone(
        key, **{"pm1._domainkey": {"CNAME": "hop.chain.test."},
                "hop": {"CNAME": "pm1.dkim.platform.test."}}))
    return server


def config_for(server, **timing) -> DnsConfig:
    timing = {"timeout": 0.3, "lifetime": 0.6, "retries": 0, **timing}
    return DnsConfig(nameservers=[server.address], **timing)


CASES = ["good.test", "broken.test", "timeout.test", "servfail.test", "big.test", "chain.test"]


def test_engine_finds_what_the_synchronous_validator_finds(zones, key, big_key):
    config = config_for(zones)
    targets = [CheckTarget(domain, domain, inputs_for(key if domain != "big.test" else big_key))
               for domain in CASES]

    results = {target.key: report for target, report in check_many(targets, dns_config=config,
                                                                    concurrency=4)}

    assert sorted(results) == sorted(CASES)
    for target in targets:
        alone = validate_domain(target.domain, Resolver(config), **target.inputs)
        assert results[target.key].findings == alone.findings, target.domain
        assert results[target.key].records == alone.records, target.domain
        assert results[target.key].health == alone.health, target.domain


def test_engine_reports_each_kind_of_case_as_it_is(zones, key, big_key):
    config = config_for(zones)
    targets = [CheckTarget(domain, domain, inputs_for(key if domain != "big.test" else big_key))
               for domain in CASES]

    codes = {target.key: {found.code for found in report.findings}
             for target, report in check_many(targets, dns_config=config)}

    assert codes["good.test"] == codes["big.test"] == codes["chain.test"] == set()
    assert {"SPF_PLUS_ALL", "DMARC_POLICY_NONE", "DKIM_REVOKED"} <= codes["broken.test"]
    assert codes["timeout.test"] == {"DNS_TIMEOUT"}
    assert codes["servfail.test"] == {"DNS_SERVFAIL"}
    assert ("pm1._domainkey.big.test", "TXT", "tcp") in zones.queries


def test_the_answer_is_handed_back_with_the_callers_key(zones, key):
    targets = [CheckTarget(("domain", 7), "good.test", inputs_for(key))]

    [(target, report)] = list(check_many(targets, dns_config=config_for(zones)))

    assert target is targets[0] and report.domain == "good.test" and report.findings == []


def test_at_most_concurrency_domains_are_checked_at_once(zones, key, monkeypatch):
    """Each check waits for a DNS answer the server drops, so checks overlap if allowed to."""
    for n in range(12):
        zones.add_zone(f"d{n}.test", clean_zone(key))
        zones.fail(f"_dmarc.d{n}.test", "drop")
    running, most = 0, 0
    lock = threading.Lock()
    validate = engine.validate_domain

    def counted(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return validate(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(engine, "validate_domain", counted)
    targets = [CheckTarget(n, f"d{n}.test", inputs_for(key)) for n in range(12)]

    results = list(check_many(targets, dns_config=config_for(zones, timeout=0.1, lifetime=0.1),
                              concurrency=3))

    assert sorted(target.key for target, _ in results) == list(range(12))
    assert most == 3


def test_targets_are_read_lazily(zones, key):
    taken = []

    def endless():
        for n in itertools.count():
            taken.append(n)
            yield CheckTarget(n, "good.test", inputs_for(key))

    results = check_many(endless(), dns_config=config_for(zones), concurrency=4)
    first = list(itertools.islice(results, 10))
    results.close()

    assert len(first) == 10
    # Never more read than reported plus the ones in flight.
    assert len(taken) <= 10 + 4


def test_a_timing_out_domain_does_not_hold_up_the_others(zones, key):
    """The slow domain waits out its lifetime while every other domain finishes."""
    zones.fail("_dmarc.timeout.test", "drop")
    slow = CheckTarget("slow", "timeout.test", inputs_for(key))
    quick = [CheckTarget(n, "good.test", inputs_for(key)) for n in range(20)]
    config = config_for(zones, timeout=3.0, lifetime=3.0)

    order = [target.key for target, _ in check_many([slow, *quick], dns_config=config,
                                                     concurrency=2)]

    assert order == [*range(20), "slow"]


def test_closing_early_abandons_checks_in_flight(zones, key):
    zones.fail("_dmarc.timeout.test", "drop")
    targets = [CheckTarget("quick", "good.test", inputs_for(key)),
               *(CheckTarget(n, "timeout.test", inputs_for(key)) for n in range(3))]
    results = check_many(targets, dns_config=config_for(zones, timeout=30, lifetime=30),
                         concurrency=4)

    target, _ = next(results)
    results.close()  # returns without waiting 30 s for the dropped lookups

    assert target.key == "quick"


def test_names_outside_the_domain_are_asked_once_per_sweep(zones, key):
    def sweep(times: int) -> tuple[int, int]:
        zones.queries.clear()
        targets = [CheckTarget(n, "good.test", inputs_for(key)) for n in range(times)]
        list(check_many(targets, dns_config=config_for(zones), concurrency=times))
        return (sum(1 for query in zones.queries if query[0] == INCLUDE),
                sum(1 for query in zones.queries if query[0].endswith("good.test")))

    (include_once, own_once), (include, own) = sweep(1), sweep(10)

    assert include_once == include == 1
    assert own == 10 * own_once > 0  # the checked domain's own names: fresh in every check


def test_concurrency_must_be_positive(zones):
    with pytest.raises(ValueError, match="concurrency must be 1 or more"):
        list(check_many([], dns_config=config_for(zones), concurrency=0))


# --- AsyncResolver: the blocking resolver's rules, on asyncio --------------------------------

def test_async_resolver_answers_as_the_blocking_one_does(zones):
    config = config_for(zones)
    questions = [("good.test", "TXT"), ("pm1._domainkey.chain.test", "TXT"),
                 ("pm1._domainkey.big.test", "TXT"), ("servfail.test", "TXT"),
                 ("_dmarc.timeout.test", "TXT"), ("nothing.good.test", "TXT"),
                 ("good.test", "AAAA")]

    async def ask_all():
        async with AsyncResolver(config) as resolver:
            return await asyncio.gather(*(resolver.query(*question) for question in questions))

    answers = asyncio.run(ask_all())

    blocking = Resolver(config)
    assert answers == [blocking.query(*question) for question in questions]
    assert [answer.status for answer in answers] == [
        "ok", "ok", "ok", "servfail", "timeout", "nxdomain", "nodata"]
    assert answers[1].cname_chain == ["hop.chain.test", "pm1.dkim.platform.test"]


def test_async_resolver_asks_each_authoritative_server(dns_server_factory):
    good, lame = dns_server_factory(), dns_server_factory()
    for server in (good, lame):
        server.add_zone("example.test", {"_dmarc": {"TXT": "v=DMARC1; p=reject"}})
    lame.fail("example.test", "lame")
    config = DnsConfig(nameservers=[good.address, lame.address], timeout=0.5, lifetime=1.0)

    async def ask_each():
        async with AsyncResolver(config) as resolver:
            return await resolver.query_each_authoritative("_dmarc.example.test", "TXT")

    answers = asyncio.run(ask_each())

    assert [(answer.server, answer.status) for answer in answers] == [
        (good.nameserver, "ok"), (lame.nameserver, "lame")]
