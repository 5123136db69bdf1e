"""One SPF record judged without DNS: the checks the live validation box runs as you type."""

from __future__ import annotations

import pytest

from app.core.spf_findings import MAX_SPF_BYTES, declares_no_mail, spf_record_findings

DOMAIN = "example.com"


def codes(record: str) -> list[str]:
    return [found.code for found in spf_record_findings(DOMAIN, record)]


@pytest.mark.parametrize("record", [
    "v=spf1 -all",
    "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net ~all",
    "V=SPF1 MX -ALL",
    "v=spf1  ip4:192.0.2.1   -all",  # several spaces between terms are one separator
    "v=spf1 redirect=_spf.example.net",  # the redirect target decides, no all needed
    "v=spf1 a mx exp=explain.%{d} -all",
])
def test_good_records_have_no_findings(record):
    assert spf_record_findings(DOMAIN, record) == []


@pytest.mark.parametrize(("record", "code"), [
    ("v=spf1 ip4:192.0.2.0/24 +all", "SPF_PLUS_ALL"),
    ("v=spf1 all", "SPF_PLUS_ALL"),  # no qualifier means +
    ("v=spf1 ip4:192.0.2.0/24 ?all", "SPF_NEUTRAL_ALL"),
    ("v=spf1 ip4:192.0.2.0/24", "SPF_NO_ALL"),
    ("v=spf1 ptr:example.com -all", "SPF_PTR"),
    ("v=spf1 mx redirect=_spf.example.net -all", "SPF_REDIRECT_IGNORED"),
])
def test_structure_problems(record, code):
    [found] = spf_record_findings(DOMAIN, record)
    assert (found.code, found.record_host, found.record_type) == (code, DOMAIN, "TXT")
    assert found.message and found.fix.startswith(("Publish: ", "Replace it"))


def test_corrected_records_are_computable():
    [plus] = spf_record_findings(DOMAIN, "v=spf1 mx +all")
    assert plus.fix == "Publish: v=spf1 mx ~all"
    [redirect] = spf_record_findings(DOMAIN, "v=spf1 mx REDIRECT=_spf.example.net -all")
    assert redirect.fix == "Publish: v=spf1 mx -all"
    [ptr] = spf_record_findings(DOMAIN, "v=spf1 ptr mx -all")
    assert ptr.fix.endswith("v=spf1 mx -all")


@pytest.mark.parametrize("record", [
    "v=spf1 ip4:192.0.2.300 -all",
    "v=spf1 include -all",
    "v=spf1 ip4:192.0.2.0/33 -all",
    "v=spf1 redirect=a.example redirect=b.example",
    "spf1 -all",
    "hello world",
])
def test_malformed_records_are_one_syntax_error(record):
    [found] = spf_record_findings(DOMAIN, record)
    assert found.code == "SPF_SYNTAX" and found.severity == "error"
    assert record in found.message


def test_a_record_over_512_bytes_is_too_long():
    head = "v=spf1 "
    fits = head + "ip4:192.0.2.1 " * ((MAX_SPF_BYTES - len(head) - 4) // 14) + "-all"
    assert len(fits) <= MAX_SPF_BYTES and codes(fits) == []
    too_long = fits.replace("-all", "ip4:198.51.100.1 -all")
    assert len(too_long) > MAX_SPF_BYTES and codes(too_long) == ["SPF_TOO_LONG"]


def test_several_problems_at_once_are_all_reported():
    assert codes("v=spf1 ptr +all") == ["SPF_PLUS_ALL", "SPF_PTR"]


@pytest.mark.parametrize(("record", "parked"), [
    ("v=spf1 -all", True),
    ("V=SPF1   -ALL", True),
    ("v=spf1 ~all", False),
    ("v=spf1 mx -all", False),
    ("v=spf1 redirect=_spf.example.net -all", False),
    ("v=spf1 -all -all", False),
    ("v=spf1 -al", False),
])
def test_a_record_that_says_the_domain_sends_no_mail(record, parked):
    assert declares_no_mail(record) is parked
