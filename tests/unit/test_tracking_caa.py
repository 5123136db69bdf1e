"""CAA (RFC 8659, RFC 8657): which records let our CA issue for a tracking host."""

from __future__ import annotations

import pytest

from app.core.tracking_caa import (CAA_FORBIDS, CaaSyntaxError, evaluate, forbidding_finding,
                                   parse_caa, relevant_names)

OURS = ["letsencrypt.org"]
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/1234"


def test_the_search_climbs_from_the_host_to_the_top_level_domain():
    assert relevant_names("Track.Example.COM.") == ["track.example.com", "example.com", "com"]


def test_a_record_is_parsed_from_presentation_form():
    assert parse_caa('0 issue "letsencrypt.org"').value == "letsencrypt.org"
    record = parse_caa('128 IssueWild "ca.example; accounturi=x"')
    assert (record.flags, record.tag) == (128, "issuewild")
    assert record.value == "ca.example; accounturi=x"


def test_escapes_in_the_value_are_decoded():
    assert parse_caa(r'0 iodef "mailto:ops\064example.com"').value == "mailto:ops@example.com"
    assert parse_caa(r'0 issue "ca\".example"').value == 'ca".example'


@pytest.mark.parametrize("text", ["", "issue letsencrypt.org", "0", "256 issue \"x\""])
def test_text_that_is_not_a_caa_record_is_refused(text):
    with pytest.raises(CaaSyntaxError):
        parse_caa(text)


def test_without_records_any_ca_may_issue():
    assert evaluate([], OURS).permitted


def test_records_without_an_issue_property_do_not_restrict_issuance():
    assert evaluate(['0 iodef "mailto:security@example.com"'], OURS).permitted


def test_an_issue_record_naming_our_ca_permits_it():
    verdict = evaluate(['0 issue "digicert.com"', '0 issue "LetsEncrypt.org"'], OURS)
    assert verdict.permitted and "letsencrypt.org" in verdict.reason


def test_issue_records_naming_only_other_cas_forbid_ours():
    verdict = evaluate(['0 issue "digicert.com"', '0 issue "sectigo.com"'], OURS)
    assert not verdict.permitted
    assert "digicert.com, sectigo.com" in verdict.reason and "letsencrypt.org" in verdict.reason


def test_an_empty_issuer_forbids_every_ca():
    verdict = evaluate(['0 issue ";"'], OURS)
    assert not verdict.permitted and "no CA at all" in verdict.reason


def test_issuewild_governs_only_wildcards_which_we_never_request():
    assert evaluate(['0 issuewild ";"'], OURS).permitted
    assert not evaluate(['0 issuewild "letsencrypt.org"', '0 issue "digicert.com"'],
                        OURS).permitted


def test_an_unknown_critical_property_forbids_every_ca():
    verdict = evaluate(['0 issue "letsencrypt.org"', '128 tbs "unknown"'], OURS)
    assert not verdict.permitted and "critical" in verdict.reason


def test_an_unknown_property_that_is_not_critical_is_ignored():
    assert evaluate(['0 issue "letsencrypt.org"', '0 tbs "unknown"'], OURS).permitted


def test_accounturi_pins_issuance_to_one_acme_account():
    record = f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"'
    assert evaluate([record], OURS, account_uri=ACCOUNT).permitted
    verdict = evaluate([record], OURS, account_uri=ACCOUNT + "9")
    assert not verdict.permitted and "another ACME account" in verdict.reason
    assert not evaluate([record], OURS, account_uri=None).permitted


def test_validationmethods_must_include_http_01():
    assert evaluate(['0 issue "letsencrypt.org; validationmethods=dns-01,http-01"'],
                    OURS).permitted
    assert not evaluate(['0 issue "letsencrypt.org; validationmethods=dns-01"'], OURS).permitted


def test_a_malformed_issue_value_authorises_no_ca():
    assert not evaluate(['0 issue "letsencrypt.org; not-a-parameter"'], OURS).permitted
    assert not evaluate(['0 issue "lets encrypt"'], OURS).permitted


def test_the_forbidding_finding_names_the_record_to_add():
    verdict = evaluate(['0 issue "digicert.com"'], OURS)
    finding = forbidding_finding("track.example.com", "example.com", verdict, "letsencrypt.org")
    assert finding.code == CAA_FORBIDS and finding.severity == "error"
    assert (finding.record_host, finding.record_type) == ("example.com", "CAA")
    assert "track.example.com" in finding.message and "digicert.com" in finding.message
    assert finding.fix.startswith('Add a CAA record at example.com: 0 issue "letsencrypt.org"')
