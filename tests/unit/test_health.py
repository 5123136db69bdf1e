"""The health score: a documented formula whose deductions explain every point lost."""

from __future__ import annotations

import itertools
import random

import pytest

from app.core import health
from app.core.findings import FINDING_KINDS, GROUPS, SEVERITIES, Finding
from app.core.health import ERROR_CAP, WEIGHTS, Deduction, band, score


def make(code: str, severity: str | None = None, host: str = "example.com") -> Finding:
    return Finding(code=code, severity=severity or FINDING_KINDS[code].severity,
                   record_host=host, record_type="TXT", message="seen", fix="do this")


def all_kinds() -> list[Finding]:
    return [make(code, severity) for code in FINDING_KINDS for severity in SEVERITIES]


def test_a_domain_without_findings_scores_100_and_is_healthy():
    result = score([])
    assert (result.score, result.band, result.deductions) == (100, "healthy", [])


def test_info_findings_cost_nothing_but_are_listed():
    result = score([make("DNSBL_QUERY_REFUSED")])
    assert result.score == 100
    assert result.deductions == [Deduction("DNSBL_QUERY_REFUSED", "example.com", 0)]


def test_one_warning_costs_its_weight():
    result = score([make("DMARC_POLICY_NONE")])
    assert result.score == 100 - WEIGHTS["dmarc"]["warning"]
    assert result.deductions == [
        Deduction("DMARC_POLICY_NONE", "example.com", WEIGHTS["dmarc"]["warning"])]


@pytest.mark.parametrize("code", [code for code, kind in FINDING_KINDS.items()
                                  if kind.severity == "error"])
def test_any_single_error_is_critical(code):
    result = score([make(code)])
    assert result.score <= ERROR_CAP
    assert result.band == "critical"


def test_the_cap_is_charged_to_the_worst_error():
    result = score([make("DMARC_MISSING"), make("SPF_NEUTRAL_ALL")])
    # 100 - 30 - 10 = 60 is already below the cap: no extra charge.
    assert result.score == 60
    alone = score([make("DMARC_MISSING")])
    assert alone.score == 69
    assert alone.deductions == [Deduction("DMARC_MISSING", "example.com", 31)]


def test_the_cap_goes_to_the_costliest_error_not_the_first_listed():
    result = score([make("DNS_SERVFAIL", host="a"), make("DNSBL_LISTED", host="b"),
                    make("DMARC_POLICY_NONE")])
    # 30 + 40 + 10 = 80 lost already: no cap charge; DNSBL (40) is listed first.
    assert result.deductions[0] == Deduction("DNSBL_LISTED", "b", 40)
    assert result.score == 20


def test_score_never_goes_below_zero_and_deductions_stop_at_100():
    findings = [make("SPF_MISSING", host=f"h{index}") for index in range(5)]
    result = score(findings)
    assert result.score == 0
    assert [deduction.points for deduction in result.deductions] == [35, 35, 30, 0, 0]


def test_unknown_codes_from_a_newer_deploy_still_score():
    result = score([make("DMARC_MISSING"), Finding("FUTURE_CODE", "warning", "x", "TXT", "", "")])
    assert result.score == 100 - WEIGHTS["dmarc"]["error"] - WEIGHTS["other"]["warning"]


@pytest.mark.parametrize("value, expected", [(100, "healthy"), (90, "healthy"),
                                             (89, "warning"), (70, "warning"),
                                             (69, "critical"), (0, "critical")])
def test_bands(value, expected):
    assert band(value) == expected


def test_every_group_and_severity_has_a_weight_in_the_documented_ranges():
    for group in (*GROUPS, health.OTHER):
        weights = WEIGHTS[group]
        assert 30 <= weights["error"] <= 40
        assert 5 <= weights["warning"] <= 15
        assert 0 <= weights["info"] <= 2


def test_the_formula_is_documented_in_the_module():
    doc = health.__doc__
    assert "69" in doc and "100 - score" in doc and "WEIGHTS" in doc


# --- properties over random sets of findings ------------------------------------------------------


def random_sets(count: int = 300):
    rng = random.Random(4)
    pool = all_kinds()
    for _ in range(count):
        yield [rng.choice(pool) for _ in range(rng.randint(0, 8))]


def test_deductions_always_sum_to_the_points_lost():
    for findings in random_sets():
        result = score(findings)
        assert sum(deduction.points for deduction in result.deductions) == 100 - result.score
        assert len(result.deductions) == len(findings)
        assert 0 <= result.score <= 100


def test_any_error_keeps_the_score_at_or_below_69():
    for findings in random_sets():
        if any(found.severity == "error" for found in findings):
            assert score(findings).score <= ERROR_CAP


def test_adding_a_finding_never_raises_the_score():
    pool = all_kinds()
    for findings in random_sets(150):
        before = score(findings).score
        for extra in pool:
            assert score([*findings, extra]).score <= before


def test_order_of_findings_does_not_change_the_result():
    findings = [make("DMARC_POLICY_NONE"), make("DKIM_KEY_WEAK", host="s1"),
                make("DKIM_KEY_WEAK", host="s2"), make("DNS_SERVFAIL"), make("NS_LAME")]
    results = {(score(list(order)).score, tuple(score(list(order)).deductions))
               for order in itertools.permutations(findings)}
    assert len(results) == 1


def test_to_dict_for_the_api():
    assert score([make("DMARC_POLICY_NONE")]).to_dict() == {
        "score": 90, "band": "healthy",
        "deductions": [{"code": "DMARC_POLICY_NONE", "host": "example.com", "points": 10}]}


# --- findings themselves -------------------------------------------------------------------------


def test_finding_round_trips_through_its_dict():
    found = make("DKIM_TESTING", host="s._domainkey.example.com")
    data = found.to_dict()
    assert data["record"] == {"host": "s._domainkey.example.com", "type": "TXT"}
    assert Finding.from_dict({**data, "added_later": 1}) == found


def test_finding_refuses_an_unknown_severity():
    with pytest.raises(ValueError, match="severity"):
        make("DKIM_TESTING", severity="fatal")


def test_registry_covers_every_code_of_the_issue():
    issue_codes = {
        "SPF_MISSING", "SPF_MULTIPLE_RECORDS", "SPF_SYNTAX", "SPF_TOO_MANY_LOOKUPS",
        "SPF_VOID_LOOKUPS", "SPF_INCLUDE_LOOP", "SPF_INCLUDE_NO_RECORD", "SPF_PLUS_ALL",
        "SPF_NEUTRAL_ALL", "SPF_NO_ALL", "SPF_PTR", "SPF_REDIRECT_IGNORED", "SPF_TOO_LONG",
        "SPF_PLATFORM_NOT_AUTHORIZED", "MX_MISSING", "RETURN_PATH_WRONG", "TRACKING_CNAME_WRONG",
        "CNAME_CONFLICT", "NS_LAME", "NS_INCONSISTENT", "DNS_TIMEOUT", "DNS_SERVFAIL",
        "DNSBL_LISTED", "DNSBL_QUERY_REFUSED",
    }
    assert issue_codes <= set(FINDING_KINDS)
    for kind in FINDING_KINDS.values():
        assert kind.group in GROUPS and kind.severity in SEVERITIES and kind.title
