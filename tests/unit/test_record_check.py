"""check_record: the live validation box's judgement of one pasted record, without DNS."""

from __future__ import annotations

import base64

import pytest

from app.core.dkim import dkim_record_value
from app.errors import ValidationFailed
from app.monitoring.record_check import MAX_VALUE_BYTES, check_record


def codes(findings) -> list[str]:
    return [found.code for found in findings]


def refusal(record_type: str, host: str, value: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        check_record(record_type, host, value)
    assert caught.value.status == 422
    return caught.value


# --- SPF -----------------------------------------------------------------------------------

def test_a_good_spf_record_has_no_findings():
    assert check_record("spf", "example.com", "v=spf1 include:_spf.example.net mx -all") == []


def test_spf_plus_all_is_an_error_with_the_corrected_record():
    (found,) = check_record("spf", "example.com", "v=spf1 mx +all")
    assert (found.code, found.severity, found.record_host, found.record_type) == (
        "SPF_PLUS_ALL", "error", "example.com", "TXT")
    assert found.fix == "Publish: v=spf1 mx ~all"


def test_spf_findings_come_worst_first():
    assert codes(check_record("spf", "example.com", "v=spf1 ptr")) == ["SPF_NO_ALL", "SPF_PTR"]
    assert codes(check_record("spf", "example.com", "v=spf1 ip4:192.0.2.0/33 -all")) == [
        "SPF_SYNTAX"]


def test_spf_pasted_as_quoted_strings_is_joined_first():
    assert check_record("spf", "example.com", '"v=spf1 ip4:192.0.2.1 " "-all"') == []
    (found,) = check_record("spf", "example.com", '"v=spf1 -all')
    assert found.code == "SPF_SYNTAX" and "not closed" in found.message


def test_spf_surrounding_whitespace_and_newlines_are_ignored():
    assert check_record("spf", " example.com. ", "\n  v=spf1 -all \n") == []


def test_spf_over_512_bytes_warns_without_any_dns():
    record = "v=spf1 " + " ".join(f"ip4:192.0.2.{n}" for n in range(40)) + " -all"
    assert codes(check_record("spf", "example.com", record)) == ["SPF_TOO_LONG"]


def test_an_international_host_is_checked_as_its_a_label():
    (found,) = check_record("spf", "bücher.example", "v=spf1 ?all")
    assert found.record_host == "xn--bcher-kva.example"


# --- DKIM ----------------------------------------------------------------------------------

def test_our_own_dkim_record_form_is_clean(key):
    value = dkim_record_value(key.public_key_b64)
    assert check_record("dkim", "pm1._domainkey.example.com", value) == []


def test_dkim_problems(key):
    host = "pm1._domainkey.example.com"
    assert codes(check_record("dkim", host, "v=DKIM1; p=")) == ["DKIM_REVOKED"]
    assert codes(check_record("dkim", host, f"v=DKIM1; t=y; p={key.public_key_b64}")) == [
        "DKIM_TESTING"]
    assert codes(check_record("dkim", host, "v=DKIM1; p=" + base64.b64encode(b"x" * 40)
                              .decode())) == ["DKIM_KEY_INVALID"]
    assert codes(check_record("dkim", host, "v=DKIM2; p=abc")) == ["DKIM_SYNTAX"]


def test_the_dkim_host_is_normalised():
    (found,) = check_record("dkim", "PM1._DomainKey.Example.COM.", "v=DKIM1; p=")
    assert found.record_host == "pm1._domainkey.example.com"


def test_the_dkim_host_must_name_a_selector():
    error = refusal("dkim", "example.com", "v=DKIM1; p=")
    assert error.code == "invalid_host" and "<selector>._domainkey.<domain>" in error.message
    assert refusal("dkim", "_domainkey.example.com", "p=").code == "invalid_host"
    assert refusal("dkim", "pm1._domainkey.com", "p=").code == "invalid_host"
    assert refusal("dkim", "", "p=").code == "empty_host"


# --- DMARC ---------------------------------------------------------------------------------

def test_a_good_dmarc_record_has_no_findings():
    assert check_record("dmarc", "_dmarc.example.com",
                        "v=DMARC1; p=reject; rua=mailto:dmarc@example.com") == []


def test_the_dmarc_host_may_be_the_domain_or_its_dmarc_name():
    for host in ("example.com", "_dmarc.example.com", "_DMARC.Example.com."):
        (found,) = check_record("dmarc", host, "v=DMARC1; p=none")
        assert (found.code, found.record_host) == ("DMARC_POLICY_NONE", "_dmarc.example.com")


def test_dmarc_problems():
    host = "_dmarc.example.com"
    assert codes(check_record("dmarc", host, "v=DMARC1; p=reject; sp=none")) == [
        "DMARC_SP_WEAKER"]
    assert codes(check_record("dmarc", host, "v=DMARC1; p=reject; rua=https://x.example")) == [
        "DMARC_RUA_INVALID"]
    assert codes(check_record("dmarc", host, "v=DMARC1; p=maybe")) == ["DMARC_SYNTAX"]


def test_dmarc_checks_that_need_dns_or_our_identities_are_left_to_the_sweep():
    # An external report address needs its authorisation record looked up; alignment needs
    # our return path and DKIM domain. Neither is guessed here.
    assert check_record("dmarc", "_dmarc.example.com",
                        "v=DMARC1; p=reject; adkim=s; aspf=s; "
                        "rua=mailto:reports@elsewhere.example") == []


# --- what cannot be checked ----------------------------------------------------------------

@pytest.mark.parametrize("record_type", ["", "txt", "MX", "spf2"])
def test_an_unknown_type_is_refused(record_type):
    error = refusal(record_type, "example.com", "v=spf1 -all")
    assert error.code == "unknown_record_type" and set(error.fields) == {"type"}


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_an_empty_value_is_refused(value):
    error = refusal("spf", "example.com", value)
    assert error.code == "empty_value" and "Paste the SPF record" in error.message


def test_an_overlong_value_is_refused_by_its_size_in_bytes():
    assert check_record("spf", "example.com", "v=spf1 -all" + " " * (MAX_VALUE_BYTES * 2)) == []
    error = refusal("spf", "example.com", "v=spf1 " + "é" * (MAX_VALUE_BYTES // 2))
    assert error.code == "value_too_long" and "4,096 bytes" in error.message


def test_non_ascii_text_is_a_finding_not_a_crash():
    assert codes(check_record("spf", "example.com", "v=spf1 mx ~all ünï")) == ["SPF_SYNTAX"]
    assert codes(check_record("dkim", "pm1._domainkey.example.com", "v=DKIM1; p=ü")) == [
        "DKIM_SYNTAX"]
    (found,) = check_record("dmarc", "example.com", "v=DMARC1; p=réject")
    assert found.code.startswith("DMARC_") and found.severity == "error"


@pytest.mark.parametrize(("host", "code"), [
    ("", "empty_host"), ("com", "invalid_host"), ("https://example.com/", "invalid_host"),
    ("192.0.2.1", "invalid_host"), ("a" * 300 + ".example", "invalid_host"),
])
def test_a_host_that_is_not_a_domain_is_refused(host, code):
    error = refusal("spf", host, "v=spf1 -all")
    assert error.code == code and set(error.fields) == {"host"}
