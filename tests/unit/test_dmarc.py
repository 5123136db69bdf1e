"""DMARC records (RFC 7489 §6.3, §6.4, §6.6.3, §7.1; RFC 9091): parse as receivers do, judge."""

from __future__ import annotations

import pytest

from app.core.dmarc import (
    DmarcRecord,
    DmarcSyntaxError,
    dmarc_findings,
    effective_policy,
    is_aligned,
    is_report_authorization,
    parse_dmarc,
    parse_dmarc_as_receiver,
    report_authorization_names,
)
from app.core.findings import FINDING_KINDS


def org(name: str) -> str:
    """A stand-in for the Public Suffix List: the last two labels, or three under co.uk."""
    labels = name.lower().rstrip(".").split(".")
    return ".".join(labels[-3:] if labels[-2:] == ["co", "uk"] else labels[-2:])


DOMAIN = "example.com"
OURS = {"our_return_path_domain": "pm-bounces.example.com", "our_dkim_domain": "example.com"}


def findings_for(*records, domain: str = DOMAIN, **kwargs):
    options = {"org_domain": org, **OURS, **kwargs}
    return dmarc_findings(list(records), domain, **options)


def codes(*records, **kwargs) -> list[str]:
    return [found.code for found in findings_for(*records, **kwargs)]


# --- a correct record, however it is written, has no findings ---------------------------------

VALID_VARIANTS = [
    "v=DMARC1; p=reject",
    "v=DMARC1;p=reject",
    "v=DMARC1; p=reject;",
    "v=DMARC1 ; p = reject ;",
    "v=DMARC1;\tp=reject;\t",
    "v=DMARC1; P=Reject",
    "v=DMARC1; p=REJECT; ADKIM=R; ASPF=r",
    "v=DMARC1; rua=mailto:dmarc@example.com; p=reject",
    "v=DMARC1; pct=100; p=reject; sp=reject; fo=1:d:S; rf=afrf; ri=3600",
    "v=DMARC1; p=reject; rua=mailto:a@example.com , mailto:b@example.com!10m",
    "v=DMARC1; p=reject; rua=mailto:a@example.com,mailto:b@reports.example.com!500K",
    "v=DMARC1; p=reject;; ",
    "v=DMARC1; p=reject; unknowntag=whatever; x_future=1",
    "v=DMARC1; p=quarantine; sp=reject",
    "v=DMARC1; p=reject; adkim=s; aspf=r",
    "v=DMARC1; p=reject; np=reject",
]


@pytest.mark.parametrize("value", VALID_VARIANTS)
def test_valid_record_variants_have_no_findings(value):
    assert findings_for(value) == []


@pytest.mark.parametrize("value", VALID_VARIANTS)
def test_string_splitting_never_changes_the_verdict(value):
    for cut in range(1, len(value)):
        strings = [value[:cut].encode(), value[cut:].encode()]
        assert findings_for(strings) == [], strings


def test_zone_file_quoting_is_read_as_the_value():
    assert findings_for('"v=DMARC1; " "p=reject"') == []


def test_tag_order_after_version_does_not_matter():
    first = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=50")
    second = parse_dmarc("v=DMARC1; pct=50; adkim=s; sp=quarantine; p=reject")
    assert (first.policy, first.sp, first.adkim, first.pct) == (
        second.policy, second.sp, second.adkim, second.pct)


# --- parsing -------------------------------------------------------------------------------------


def test_defaults_of_absent_tags():
    record = parse_dmarc("v=DMARC1; p=quarantine")
    assert record == DmarcRecord(policy="quarantine", tags=record.tags)
    assert (record.sp, record.np, record.adkim, record.aspf, record.pct) == (
        "quarantine", "quarantine", "r", "r", 100)
    assert record.failure_options == ("0",)
    assert record.report_formats == ("afrf",)
    assert record.report_interval == 86400


def test_report_uris_with_size_limits():
    record = parse_dmarc("v=DMARC1; p=none; rua=mailto:a@x.org!10m,mailto:b%40c@y.org!2k; "
                         "ruf=mailto:f@z.net!7")
    assert [(uri.address, uri.max_bytes) for uri in record.rua] == [
        ("a@x.org", 10 * 2**20), ("b@c@y.org", 2 * 2**10)]
    assert [uri.host for uri in record.rua] == ["x.org", "y.org"]
    assert record.ruf[0].max_bytes == 7


@pytest.mark.parametrize("value, words", [
    ("p=reject; v=DMARC1", "v= is tag 2"),
    ("p=reject", "there is no v= tag"),
    ("v=DMARC2; p=reject", "exactly DMARC1"),
    ("v=dmarc1; p=reject", "exactly DMARC1"),
    ("v=DMARC1 p=reject", "';' is missing"),
    ("v=DMARC1; p", "not tag=value"),
    ("v=DMARC1; p=reject; p=none", "more than once"),
    ("v=DMARC1; 1p=reject", "not a valid tag name"),
    ("v=DMARC1; p=rejected", "not a policy"),
    ("v=DMARC1; rua=mailto:a@example.com", "no p= tag"),
    ("v=DMARC1; p=reject; sp=never", "sp=never is not a policy"),
    ("v=DMARC1; p=reject; np=maybe", "np=maybe is not a policy"),
    ("v=DMARC1; p=reject; adkim=x", "not an alignment mode"),
    ("v=DMARC1; p=reject; aspf=strict", "not an alignment mode"),
    ("v=DMARC1; p=reject; pct=101", "0 to 100"),
    ("v=DMARC1; p=reject; pct=50.5", "0 to 100"),
    ("v=DMARC1; p=reject; pct=-1", "0 to 100"),
    ("v=DMARC1; p=reject; ri=soon", "number of seconds"),
    ("v=DMARC1; p=reject; ri=4294967296", "number of seconds"),
    ("v=DMARC1; p=reject; fo=2", "one of 0, 1, d, s"),
    ("v=DMARC1; p=reject; rf=a f", "report format"),
    ("v=DMARC1; p=reject; rua=dmarc@example.com", "needs a scheme"),
    ("v=DMARC1; p=reject; rua=mailto:nobody", "single mailbox"),
    ("v=DMARC1; p=reject; rua=mailto:a@example.com!10x", "size limit"),
    ("v=DMARC1; p=reject; rua=mailto:a@example.com,", "is empty"),
    ("v=DMARC1; p=reject; ruf=mailto:a@-bad-.com", "single mailbox"),
])
def test_strict_parse_names_the_problem(value, words):
    with pytest.raises(DmarcSyntaxError) as caught:
        parse_dmarc(value)
    assert words in caught.value.message
    assert caught.value.fix


def test_receiver_view_keeps_defaults_for_a_broken_optional_tag():
    record, problems = parse_dmarc_as_receiver("v=DMARC1; p=reject; pct=lots; adkim=s")
    assert (record.policy, record.pct, record.adkim) == ("reject", 100, "s")
    assert [problem.tag for problem in problems] == ["pct"]


def test_receiver_view_keeps_the_good_report_uris_beside_a_bad_one():
    record, problems = parse_dmarc_as_receiver(
        "v=DMARC1; p=reject; rua=mailto:a@example.com,nonsense")
    assert [uri.address for uri in record.rua] == ["a@example.com"]
    assert problems[0].code == "DMARC_RUA_INVALID"


def test_receiver_treats_a_bad_policy_with_reports_as_none():
    record, problems = parse_dmarc_as_receiver("v=DMARC1; p=block; rua=mailto:d@example.com")
    assert record.policy == "none"
    assert "p=none" in problems[0].message


def test_receiver_ignores_a_bad_policy_without_reports():
    with pytest.raises(DmarcSyntaxError, match="ignore this record entirely"):
        parse_dmarc_as_receiver("v=DMARC1; p=block")


def test_non_ascii_is_a_syntax_error():
    with pytest.raises(DmarcSyntaxError, match="non-ASCII"):
        parse_dmarc("v=DMARC1; p=réject")


# --- effective policy (RFC 7489 §6.6.3, RFC 9091) ------------------------------------------------


def test_effective_policy_prefers_the_record_at_the_domain_itself():
    own = parse_dmarc("v=DMARC1; p=quarantine")
    parent = parse_dmarc("v=DMARC1; p=reject; sp=none")
    assert effective_policy(own, parent, is_subdomain=True) == "quarantine"


def test_effective_policy_of_a_subdomain_falls_back_to_sp_then_p():
    assert effective_policy(None, parse_dmarc("v=DMARC1; p=reject; sp=none"), True) == "none"
    assert effective_policy(None, parse_dmarc("v=DMARC1; p=reject"), True) == "reject"


def test_effective_policy_of_a_nonexistent_subdomain_uses_np_then_sp():
    parent = parse_dmarc("v=DMARC1; p=none; sp=quarantine; np=reject")
    assert effective_policy(None, parent, True, domain_exists=False) == "reject"
    no_np = parse_dmarc("v=DMARC1; p=none; sp=quarantine")
    assert effective_policy(None, no_np, True, domain_exists=False) == "quarantine"


def test_effective_policy_is_none_without_any_record():
    assert effective_policy(None, None, is_subdomain=True) is None
    assert effective_policy(None, parse_dmarc("v=DMARC1; p=reject"), is_subdomain=False) is None


# --- alignment and report authorisation helpers --------------------------------------------------


@pytest.mark.parametrize("identity, mode, aligned", [
    ("example.com", "s", True),
    ("EXAMPLE.com.", "s", True),
    ("mail.example.com", "s", False),
    ("mail.example.com", "r", True),
    ("example.org", "r", False),
])
def test_alignment_strict_needs_the_same_name_relaxed_the_same_org(identity, mode, aligned):
    assert is_aligned(identity, "example.com", mode, org) is aligned


def test_authorisation_names_only_for_external_destinations():
    record = parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@example.com,mailto:r@Reports.Vendor.net;"
                         " ruf=mailto:f@mail.example.com")
    assert report_authorization_names(record, "Example.com", org) == {
        "reports.vendor.net": "example.com._report._dmarc.reports.vendor.net"}


def test_report_authorization_record_must_start_with_dmarc1():
    assert is_report_authorization([[b"v=DMARC1"]])
    assert is_report_authorization(["google-site-verification=x", "v=DMARC1;"])
    assert not is_report_authorization(["v=spf1 -all"])
    assert not is_report_authorization([])


# --- findings: one positive and one negative per code ---------------------------------------------


def test_missing_record_is_dmarc_missing():
    found = findings_for()
    assert [f.code for f in found] == ["DMARC_MISSING"]
    assert found[0].severity == "error"
    assert found[0].record_host == "_dmarc.example.com"
    assert "v=DMARC1" in found[0].fix


def test_other_txt_records_at_the_dmarc_name_are_not_dmarc():
    found = findings_for("v=spf1 -all", "some-verification=abc")
    assert [f.code for f in found] == ["DMARC_MISSING"]
    assert "2 other TXT" in found[0].message


def test_one_record_is_not_missing_or_multiple():
    assert codes("v=DMARC1; p=reject", "unrelated=1") == []


def test_two_records_are_multiple():
    found = findings_for("v=DMARC1; p=reject", "v=DMARC1; p=none")
    assert [f.code for f in found] == ["DMARC_MULTIPLE_RECORDS"]
    assert found[0].severity == "error"


def test_a_broken_second_record_is_ignored_with_a_warning_not_multiple():
    found = findings_for("v=DMARC1; p=reject", "p=none; v=DMARC1")
    assert [(f.code, f.severity) for f in found] == [("DMARC_SYNTAX", "warning")]


@pytest.mark.parametrize("value", [
    "p=reject; v=DMARC1", "v=DMARC1 p=reject", "V=DMARC1; p=reject", "v=DMARC1; p=rejects",
])
def test_a_record_receivers_ignore_is_a_syntax_error(value):
    found = findings_for(value)
    assert [(f.code, f.severity) for f in found] == [("DMARC_SYNTAX", "error")]


def test_a_broken_optional_tag_is_a_syntax_warning_with_a_corrected_record():
    found = findings_for("v=DMARC1; p=reject; pct=1OO")
    assert [(f.code, f.severity) for f in found] == [("DMARC_SYNTAX", "warning")]
    assert found[0].fix.endswith("v=DMARC1; p=reject")


def test_policy_none_is_a_warning_with_the_record_to_publish_next():
    found = findings_for("v=DMARC1; p=none; rua=mailto:d@example.com")
    assert [(f.code, f.severity) for f in found] == [("DMARC_POLICY_NONE", "warning")]
    assert "v=DMARC1; p=quarantine; rua=mailto:d@example.com" in found[0].fix


def test_quarantine_is_not_policy_none():
    assert codes("v=DMARC1; p=quarantine") == []


def test_pct_below_100_is_partial():
    found = findings_for("v=DMARC1; p=reject; pct=25")
    assert [f.code for f in found] == ["DMARC_PCT_PARTIAL"]
    assert found[0].fix.endswith("v=DMARC1; p=reject")


def test_pct_100_or_pct_with_policy_none_is_not_partial():
    assert codes("v=DMARC1; p=reject; pct=100") == []
    assert codes("v=DMARC1; p=none; pct=10") == ["DMARC_POLICY_NONE"]


@pytest.mark.parametrize("value", [
    "v=DMARC1; p=reject; sp=none", "v=DMARC1; p=reject; sp=quarantine",
    "v=DMARC1; p=quarantine; np=none",
])
def test_subdomain_policy_weaker_than_p(value):
    found = findings_for(value)
    assert [f.code for f in found] == ["DMARC_SP_WEAKER"]


def test_equal_or_stronger_subdomain_policy_is_not_weaker():
    assert codes("v=DMARC1; p=quarantine; sp=quarantine; np=reject") == []


def test_invalid_report_uri_is_rua_invalid():
    found = findings_for("v=DMARC1; p=reject; rua=dmarc@example.com")
    assert [(f.code, f.severity) for f in found] == [("DMARC_RUA_INVALID", "warning")]
    assert "rua=mailto:dmarc@example.com" in found[0].fix


def test_non_mailto_report_uri_is_rua_invalid():
    assert codes("v=DMARC1; p=reject; rua=https://example.com/dmarc") == ["DMARC_RUA_INVALID"]


def test_valid_report_uri_is_not_rua_invalid():
    assert codes("v=DMARC1; p=reject; rua=mailto:dmarc@example.com") == []


def test_unauthorised_external_destination():
    value = "v=DMARC1; p=reject; rua=mailto:d@reports.vendor.net"
    found = findings_for(value, report_authorizations={"reports.vendor.net": False})
    assert [f.code for f in found] == ["DMARC_RUA_UNAUTHORIZED"]
    assert "example.com._report._dmarc.reports.vendor.net" in found[0].fix


def test_authorised_or_unchecked_or_internal_destinations_are_not_unauthorised():
    value = "v=DMARC1; p=reject; rua=mailto:d@reports.vendor.net"
    assert codes(value, report_authorizations={"reports.vendor.net": True}) == []
    assert codes(value) == []  # the authorisation lookup failed or was skipped: not judged
    assert codes("v=DMARC1; p=reject; rua=mailto:d@sub.example.com",
                 report_authorizations={"sub.example.com": False}) == []


def test_strict_spf_alignment_with_a_subdomain_return_path_is_not_aligned():
    found = findings_for("v=DMARC1; p=reject; aspf=s")
    assert [(f.code, f.severity) for f in found] == [("DMARC_NOT_ALIGNED", "warning")]
    assert "return-path" in found[0].message
    assert found[0].fix.endswith("v=DMARC1; p=reject")


def test_neither_identity_aligning_is_an_error():
    found = findings_for("v=DMARC1; p=reject; adkim=s; aspf=s",
                         our_return_path_domain="bounce.example.com",
                         our_dkim_domain="mail.example.com")
    assert [(f.code, f.severity) for f in found] == [("DMARC_NOT_ALIGNED", "error")] * 2


def test_a_foreign_return_path_does_not_align_even_relaxed():
    found = findings_for("v=DMARC1; p=reject", our_return_path_domain="bounces.platform.net")
    assert [f.code for f in found] == ["DMARC_NOT_ALIGNED"]
    assert "custom return path" in found[0].fix


def test_relaxed_alignment_or_unknown_identities_are_aligned():
    assert codes("v=DMARC1; p=reject") == []
    assert codes("v=DMARC1; p=reject; adkim=s; aspf=s",
                 our_return_path_domain=None, our_dkim_domain=None) == []


def test_every_dmarc_code_is_registered():
    assert {code for code in FINDING_KINDS if code.startswith("DMARC_")} == {
        "DMARC_MISSING", "DMARC_MULTIPLE_RECORDS", "DMARC_SYNTAX", "DMARC_POLICY_NONE",
        "DMARC_PCT_PARTIAL", "DMARC_SP_WEAKER", "DMARC_RUA_INVALID", "DMARC_RUA_UNAUTHORIZED",
        "DMARC_NOT_ALIGNED"}
