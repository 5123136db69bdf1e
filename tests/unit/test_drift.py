"""Drift: which findings opened, worsened, eased or resolved between two checks, which DNS
answers changed, and what one check should alert about."""

from __future__ import annotations

from app.core.drift import (DRIFT, RECORDS_CHANGED, RESOLVED, FindingChanges, RecordChange,
                            alert_kind, answered_both_times, carry_unread, diff_findings,
                            diff_records, digest, finding_key, unread_names)
from app.core.findings import ERROR, INFO, WARNING, Finding, finding


def spf_plus_all(message: str = "`v=spf1 +all` lets anyone send.") -> Finding:
    return finding("SPF_PLUS_ALL", "example.com", "TXT", message, "Publish v=spf1 ~all")


def dmarc_none(severity: str = WARNING, host: str = "_dmarc.example.com") -> Finding:
    return finding("DMARC_POLICY_NONE", host, "TXT", "p=none only monitors.", "Use p=reject",
                   severity=severity)


# --- findings --------------------------------------------------------------------------------

def test_nothing_before_means_every_finding_opened():
    changes = diff_findings([], [spf_plus_all(), dmarc_none()])
    assert {f.code for f in changes.opened} == {"SPF_PLUS_ALL", "DMARC_POLICY_NONE"}
    assert changes.any and not (changes.worsened or changes.improved or changes.resolved)


def test_the_same_finding_with_a_new_message_is_unchanged_not_new():
    changes = diff_findings([spf_plus_all("seen once")], [spf_plus_all("seen again")])
    assert changes.opened == [] and changes.resolved == []
    assert [f.message for f in changes.unchanged] == ["seen again"]
    assert not changes.any


def test_a_finding_is_the_same_whatever_the_case_of_its_host_and_type():
    before = Finding("SPF_PLUS_ALL", ERROR, "Example.COM.", "txt", "m", "f")
    assert finding_key(before) == ("SPF_PLUS_ALL", "example.com.", "TXT")
    changes = diff_findings([before], [Finding("SPF_PLUS_ALL", ERROR, "example.com.", "TXT",
                                               "m", "f")])
    assert not changes.any


def test_the_same_code_on_another_record_is_another_finding():
    changes = diff_findings([dmarc_none(host="_dmarc.a.example")],
                            [dmarc_none(host="_dmarc.b.example")])
    assert [f.record_host for f in changes.opened] == ["_dmarc.b.example"]
    assert [f.record_host for f in changes.resolved] == ["_dmarc.a.example"]


def test_a_higher_severity_is_worsened_and_a_lower_one_improved():
    worse = diff_findings([dmarc_none(WARNING)], [dmarc_none(ERROR)])
    assert [(b.severity, n.severity) for b, n in worse.worsened] == [(WARNING, ERROR)]
    better = diff_findings([dmarc_none(ERROR)], [dmarc_none(INFO)])
    assert [(b.severity, n.severity) for b, n in better.improved] == [(ERROR, INFO)]
    assert not worse.opened and not better.resolved


def test_a_finding_no_longer_seen_is_resolved():
    changes = diff_findings([spf_plus_all(), dmarc_none()], [dmarc_none()])
    assert [f.code for f in changes.resolved] == ["SPF_PLUS_ALL"]
    assert [f.code for f in changes.unchanged] == ["DMARC_POLICY_NONE"]


def test_duplicates_of_one_finding_count_once_at_their_worst():
    changes = diff_findings([dmarc_none(WARNING)], [dmarc_none(INFO), dmarc_none(ERROR)])
    assert len(changes.worsened) == 1 and changes.worsened[0][1].severity == ERROR


# --- records ---------------------------------------------------------------------------------

def test_records_are_compared_as_sets_of_values():
    before = {"example.com TXT": ["b", "a"], "_dmarc.example.com TXT": ["v=DMARC1; p=none"]}
    after = {"example.com TXT": ["a", "b"], "_dmarc.example.com TXT": ["v=DMARC1; p=reject"]}
    [change] = diff_records(before, after)
    assert change.name == "_dmarc.example.com TXT"
    assert change.added == ["v=DMARC1; p=reject"] and change.removed == ["v=DMARC1; p=none"]


def test_a_name_seen_only_once_is_a_change_from_or_to_not_observed():
    changes = diff_records({"old.example TXT": ["x"]}, {"new.example TXT": []})
    assert [(c.name, c.before, c.after) for c in changes] == [
        ("new.example TXT", None, []), ("old.example TXT", ["x"], None)]
    assert changes[0].to_dict() == {"name": "new.example TXT", "before": None, "after": [],
                                    "added": [], "removed": []}


def test_only_names_asked_both_times_are_worth_an_alert():
    changes = diff_records(
        {"example.com TXT": ["v=spf1 include:old.example -all"], "old.example TXT": ["x"],
         "_dmarc.example.com TXT": ["v=DMARC1; p=none"]},
        {"example.com TXT": ["v=spf1 include:new.example -all"], "new.example TXT": ["y"]})
    assert [c.name for c in changes] == ["_dmarc.example.com TXT", "example.com TXT",
                                         "new.example TXT", "old.example TXT"]
    assert [c.name for c in answered_both_times(changes)] == ["example.com TXT"]


def test_unread_names_come_from_the_dns_failure_findings():
    found = [finding("DNS_TIMEOUT", "Example.com.", "txt", "timed out"),
             finding("DNS_SERVFAIL", "_dmarc.example.com", "TXT", "servfail"), spf_plus_all()]
    assert unread_names(found) == {"example.com TXT", "_dmarc.example.com TXT"}


def test_after_a_failed_lookup_the_last_known_values_are_kept():
    previous = {"example.com TXT": ["v=spf1 -all"], "gone.example TXT": ["x"]}
    current = {"_dmarc.example.com TXT": ["v=DMARC1; p=reject"]}
    kept = carry_unread(previous, current, {"example.com TXT", "never.example TXT"})
    assert kept == {"example.com TXT": ["v=spf1 -all"],
                    "_dmarc.example.com TXT": ["v=DMARC1; p=reject"]}


# --- digest ----------------------------------------------------------------------------------

def test_the_digest_ignores_order_and_sees_every_change():
    records = {"example.com TXT": ["a", "b"]}
    base = digest(records, [spf_plus_all(), dmarc_none()])
    assert digest({"example.com TXT": ["b", "a"]}, [dmarc_none(), spf_plus_all()]) == base
    assert digest({"example.com TXT": ["a"]}, [spf_plus_all(), dmarc_none()]) != base
    assert digest(records, [spf_plus_all("other text"), dmarc_none()]) != base
    assert digest(records, [spf_plus_all(), dmarc_none(ERROR)]) != base
    assert len(base) == 64


# --- what to alert about ---------------------------------------------------------------------

CHANGED = [RecordChange("example.com TXT", ["v=spf1 -all"], ["v=spf1 +all"])]


def test_a_new_or_worse_problem_is_drift_even_when_another_was_fixed():
    assert alert_kind(diff_findings([], [spf_plus_all()]), CHANGED) == DRIFT
    assert alert_kind(diff_findings([dmarc_none(WARNING)], [dmarc_none(ERROR)]), []) == DRIFT
    mixed = diff_findings([dmarc_none()], [spf_plus_all()])
    assert alert_kind(mixed, CHANGED) == DRIFT


def test_problems_fixed_or_eased_with_nothing_worse_are_a_resolved_notice():
    assert alert_kind(diff_findings([spf_plus_all()], []), CHANGED) == RESOLVED
    assert alert_kind(diff_findings([dmarc_none(ERROR)], [dmarc_none(WARNING)]), []) == RESOLVED


def test_changed_records_with_the_same_findings_still_alert():
    assert alert_kind(diff_findings([dmarc_none()], [dmarc_none()]), CHANGED) == RECORDS_CHANGED


def test_nothing_moved_is_nothing_to_alert():
    assert alert_kind(diff_findings([dmarc_none()], [dmarc_none()]), []) is None
    assert alert_kind(FindingChanges(), []) is None


def test_info_findings_coming_or_going_alone_do_not_alert():
    listed_refused = finding("DNSBL_QUERY_REFUSED", "example.com", "A", "refused")
    assert alert_kind(diff_findings([], [listed_refused]), []) is None
    assert alert_kind(diff_findings([listed_refused], []), []) is None
