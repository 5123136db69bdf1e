"""RFC 7489 §6.6.3 for subdomains: a record of its own wins; without one, the organisational
record's sp= (else p=) applies, and findings and verification say so in plain words."""

from __future__ import annotations

import pytest

from app.core.dmarc import applied_policy, dmarc_findings, parse_dmarc, single_record
from app.core.names import organisational_domain
from app.core.records import Purpose, RecordSettings, expected_records
from app.core.verification import ERROR, FOUND, MISSING, Observation, RecordCheck, \
    with_inherited_dmarc

SUB, ORG = "marketing.example.com", "example.com"


def findings_for(org_record: str, **identities):
    return dmarc_findings([org_record], ORG, org_domain=organisational_domain,
                          inherited_by=SUB, **identities)


def codes(findings) -> set[str]:
    return {found.code for found in findings}


# --- which policy applies -----------------------------------------------------------------

def test_a_record_of_its_own_wins_with_its_own_p():
    applied = applied_policy(SUB, ORG, parse_dmarc("v=DMARC1; p=none"),
                             parse_dmarc("v=DMARC1; p=reject"))
    assert (applied.source, applied.tag, applied.policy, applied.inherited) == (
        SUB, "p", "none", False)
    assert applied.words == f"{SUB}'s own DMARC record applies (p=none)"


def test_without_its_own_record_the_org_sp_applies():
    applied = applied_policy(SUB, ORG, None, parse_dmarc("v=DMARC1; p=none; sp=reject"))
    assert (applied.source, applied.tag, applied.policy) == (ORG, "sp", "reject")
    assert applied.words == f"{SUB} has no DMARC record; {ORG}'s sp=reject applies"


def test_an_org_record_without_sp_gives_its_p():
    applied = applied_policy(SUB, ORG, None, parse_dmarc("v=DMARC1; p=quarantine"))
    assert (applied.tag, applied.policy) == ("p", "quarantine")
    assert applied.words.endswith(f"{ORG}'s p=quarantine applies (it has no sp=)")


def test_no_record_anywhere_means_no_policy():
    assert applied_policy(SUB, ORG, None, None) is None
    assert applied_policy(ORG, ORG, None, parse_dmarc("v=DMARC1; p=reject")) is None


@pytest.mark.parametrize("records", [[], ["v=spf1 -all"],
                                     ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
                                     ["v=DMARC1; p=bogus"]])
def test_only_one_record_receivers_apply_counts(records):
    assert single_record(records) is None


# --- findings as they bear on the subdomain -----------------------------------------------

def test_a_protective_sp_leaves_nothing_to_report_for_the_subdomain():
    assert findings_for("v=DMARC1; p=none; sp=reject") == []


def test_sp_none_is_reported_against_the_subdomain_even_under_p_reject():
    [found] = findings_for("v=DMARC1; p=reject; sp=none")
    assert found.code == "DMARC_POLICY_NONE" and found.record_host == f"_dmarc.{ORG}"
    assert found.message.startswith(f"{SUB} has no DMARC record; {ORG}'s sp=none applies.")
    assert f"_dmarc.{SUB}" in found.fix and "sp=quarantine" in found.fix


def test_p_none_without_sp_is_what_applies():
    [found] = findings_for("v=DMARC1; p=none")
    assert found.code == "DMARC_POLICY_NONE"
    assert f"{ORG}'s p=none applies (it has no sp=)" in found.message


def test_a_partial_pct_applies_to_sp_as_well():
    [found] = findings_for("v=DMARC1; p=reject; sp=quarantine; pct=50")
    assert found.code == "DMARC_PCT_PARTIAL" and "sp=quarantine" in found.message


def test_sp_weaker_than_p_is_the_orgs_finding_not_the_subdomains():
    org_findings = dmarc_findings(["v=DMARC1; p=reject; sp=quarantine"], ORG,
                                  org_domain=organisational_domain)
    assert codes(org_findings) == {"DMARC_SP_WEAKER"}
    assert "DMARC_SP_WEAKER" not in codes(findings_for("v=DMARC1; p=reject; sp=quarantine"))


def test_alignment_is_judged_for_the_subdomain_not_the_org():
    # Strict DKIM alignment: our d=marketing.example.com aligns with mail From the subdomain.
    assert findings_for("v=DMARC1; p=reject; adkim=s", our_dkim_domain=SUB) == []
    [found] = findings_for("v=DMARC1; p=reject; adkim=s", our_dkim_domain=ORG)
    assert found.code == "DMARC_NOT_ALIGNED" and SUB in found.message


def test_an_org_without_dmarc_reports_it_missing():
    assert codes(findings_for("v=spf1 -all")) == {"DMARC_MISSING"}


# --- verification of the subdomain's optional record ----------------------------------------

def missing_dmarc() -> RecordCheck:
    return RecordCheck(purpose=str(Purpose.DMARC), type="TXT", host=f"_dmarc.{SUB}",
                       status=MISSING, expected="v=DMARC1; p=none", observed=[],
                       message=f"There is no DMARC record at _dmarc.{SUB} (no such name).",
                       fix="Publish it.", code="DMARC_MISSING")


def org_answer(*values: str, status: str = "ok") -> Observation:
    return Observation(status=status, txt=[[value.encode()] for value in values])


@pytest.mark.parametrize("org_record", ["v=DMARC1; p=reject", "v=DMARC1; p=none; sp=quarantine"])
def test_a_protective_org_policy_makes_the_subdomains_record_optional(org_record):
    verdict = with_inherited_dmarc(missing_dmarc(), SUB, ORG, org_answer(org_record, "v=spf1"))
    assert (verdict.status, verdict.code, verdict.fix) == (FOUND, "DMARC_INHERITED", "")
    assert verdict.observed == [org_record]
    assert verdict.message.startswith(f"{SUB} has no DMARC record; {ORG}'s")


@pytest.mark.parametrize("org_record, words", [
    ("v=DMARC1; p=reject; sp=none", f"{ORG}'s sp=none applies"),
    ("v=DMARC1; p=none", f"{ORG}'s p=none applies"),
    ("v=spf1 -all", f"{ORG} has no DMARC record receivers would apply"),
])
def test_an_unprotective_org_policy_leaves_the_record_missing(org_record, words):
    verdict = with_inherited_dmarc(missing_dmarc(), SUB, ORG, org_answer(org_record))
    assert verdict.status == MISSING and words in verdict.message and verdict.fix


def test_a_failed_org_lookup_is_an_error():
    verdict = with_inherited_dmarc(missing_dmarc(), SUB, ORG, org_answer(status="servfail"))
    assert (verdict.status, verdict.code) == (ERROR, "DNS_SERVFAIL")


def test_an_organisational_domain_is_never_excused_its_own_record():
    verdict = missing_dmarc()
    assert with_inherited_dmarc(verdict, ORG, ORG, org_answer("v=DMARC1; p=reject")) is verdict


# --- the instructions -----------------------------------------------------------------------

def settings(domain: str, token: str | None = "pm-verify-x") -> RecordSettings:
    return RecordSettings(domain=domain, verification_token=token, spf_include="spf.pm.test")


def test_the_subdomains_dmarc_instruction_explains_when_it_is_optional():
    dmarc = next(r for r in expected_records(settings(SUB)) if r.purpose == Purpose.DMARC)
    assert "Optional" in dmarc.why and "sp=" in dmarc.why and "quarantine or reject" in dmarc.why
    org = next(r for r in expected_records(settings(ORG)) if r.purpose == Purpose.DMARC)
    assert "Optional" not in org.why


def test_without_a_token_no_ownership_record_is_asked_for():
    purposes = [r.purpose for r in expected_records(settings(SUB, token=None))]
    assert Purpose.OWNERSHIP not in purposes and purposes[0] == Purpose.SPF
