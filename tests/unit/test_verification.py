"""Judging DNS answers against the expected records: facts, not string matching."""

from __future__ import annotations

import pytest

from app.core.records import (
    DkimKeyRecord,
    Purpose,
    RecordSettings,
    ReturnPath,
    TrackingHost,
    expected_records,
)
from app.core.verification import (
    RETRY_FIX,
    Observation,
    RecordCheck,
    all_found,
    check,
    check_on_nameservers,
    combined_spf,
    is_spf_record,
    summarise,
)

DOMAIN = "example.test"
PLATFORM = "_spf.penguinmails.test"
TOKEN = "pmv-3f9a1c"




def settings(key, **overrides) -> RecordSettings:
    values = {"domain": DOMAIN, "verification_token": TOKEN, "spf_include": PLATFORM,
              "dkim_keys": (DkimKeyRecord("pm1", key.record_value()),),
              "dmarc_policy": "none", "dmarc_rua": "dmarc@reports.penguinmails.test",
              "return_path": ReturnPath("pm-bounces", cname_target="bounces.penguinmails.test"),
              "tracking": TrackingHost("track", "track.penguinmails.test")}
    return RecordSettings(**{**values, **overrides})


def expected(key, purpose: Purpose, rdtype: str = "TXT", **overrides):
    [record] = [r for r in expected_records(settings(key, **overrides))
                if r.purpose == purpose and r.type == rdtype]
    return record


def txt(*values, server: str = "") -> Observation:
    """An answer with these TXT records; a tuple is one record's exact character-strings."""
    records = tuple(tuple(part.encode() for part in value) if isinstance(value, tuple)
                    else (value.encode(),) for value in values)
    return Observation("ok" if records else "nodata", txt=records, server=server)


def spf_zone(records: dict[str, object]):
    """A lookup_spf serving these names: a value, a list of values, or an Observation."""
    asked: list[str] = []

    def lookup(name: str):
        asked.append(name)
        value = records.get(name, Observation("nxdomain"))
        if isinstance(value, Observation):
            return value
        return [value] if isinstance(value, str) else list(value)

    lookup.asked = asked
    return lookup


NO_INCLUDES = spf_zone({})


def spf_check(key, *published, zone=NO_INCLUDES, spf_include=PLATFORM, **overrides):
    return check(expected(key, Purpose.SPF, **overrides), txt(*published),
                 spf_include=spf_include, lookup_spf=zone)


# --- ownership -------------------------------------------------------------------------------


def test_ownership_token_is_found_among_other_txt_records(key):
    result = check(expected(key, Purpose.OWNERSHIP), txt("something-else", TOKEN))

    assert (result.status, result.fix, result.code) == ("found", "", "")
    assert result.observed == ["something-else", TOKEN]
    assert (result.purpose, result.type, result.host) == (
        "ownership", "TXT", f"_pm-verify.{DOMAIN}")


def test_ownership_token_split_into_strings_is_joined(key):
    assert check(expected(key, Purpose.OWNERSHIP), txt(("pmv-", "3f9a1c"))).status == "found"


def test_ownership_wrong_token_says_what_we_saw(key):
    result = check(expected(key, Purpose.OWNERSHIP), txt("pmv-000000"))

    assert result.status == "wrong" and result.code == "OWNERSHIP_WRONG"
    assert "`pmv-000000`" in result.message and TOKEN in result.message
    assert result.fix == f"Set the TXT value to exactly: {TOKEN}"


def test_ownership_token_with_quotes_is_wrong_with_a_hint(key):
    result = check(expected(key, Purpose.OWNERSHIP), txt(f'"{TOKEN}"'))

    assert result.status == "wrong" and "extra quotes or spaces" in result.message


@pytest.mark.parametrize("status", ["nxdomain", "nodata"])
def test_ownership_missing(key, status):
    result = check(expected(key, Purpose.OWNERSHIP), Observation(status))

    assert result.status == "missing" and result.code == "OWNERSHIP_MISSING"
    assert TOKEN in result.fix and result.observed == []


# --- DKIM ------------------------------------------------------------------------------------


def test_dkim_record_as_generated_is_found(key):
    result = check(expected(key, Purpose.DKIM), txt(key.record_value()))

    assert result.status == "found" and "matches ours" in result.message


def test_dkim_split_into_255_octet_strings_is_found(key):
    value = key.record_value()
    pieces = tuple(value[i:i + 255] for i in range(0, len(value), 255))

    assert len(pieces) > 1
    assert check(expected(key, Purpose.DKIM), txt(pieces)).status == "found"


def test_dkim_split_mid_tag_with_whitespace_order_and_trailing_semicolon_is_found(key):
    p = key.public_key_b64
    # v= must come first when present, so here it is left out (it is optional).
    published = (f"k = rsa ; h=sha256; p = {p[:100]}", f" {p[100:300]} ", f"{p[300:]} ;")

    assert check(expected(key, Purpose.DKIM), txt(published)).status == "found"


def test_dkim_tag_order_does_not_matter_after_v(key):
    value = f"v=DKIM1; p={key.public_key_b64}; k=rsa; t=s"

    assert check(expected(key, Purpose.DKIM), txt(value)).status == "found"


def test_dkim_key_in_another_encoding_is_found(key):
    # The same key bytes re-wrapped with spaces inside p= (FWS is allowed there, RFC 6376 §3.6.1).
    p = key.public_key_b64
    spaced = " ".join(p[i:i + 64] for i in range(0, len(p), 64))

    assert check(expected(key, Purpose.DKIM), txt(f"v=DKIM1; k=rsa; p={spaced}")).status == "found"


def test_dkim_different_key_is_wrong(key, other_key):
    result = check(expected(key, Purpose.DKIM), txt(other_key.record_value()))

    assert result.status == "wrong" and result.code == "DKIM_KEY_MISMATCH"
    assert "different public key" in result.message
    assert result.fix == f"Replace the value with: {key.record_value()}"


def test_dkim_revoked_key_is_wrong(key):
    result = check(expected(key, Purpose.DKIM), txt("v=DKIM1; k=rsa; p="))

    assert result.status == "wrong" and result.code == "DKIM_REVOKED"
    assert "revoked" in result.message


def test_dkim_syntax_error_carries_the_parser_message(key):
    result = check(expected(key, Purpose.DKIM), txt("v=DKIM1; k=rsa"))

    assert result.status == "wrong" and result.code == "DKIM_SYNTAX"
    assert "no p= tag" in result.message
    assert key.record_value() in result.fix


def test_dkim_with_literal_quotes_stored_in_dns_is_wrong(key):
    # Quotes typed into a web panel end up inside the record; receivers cannot parse that.
    quoted = '"v=DKIM1; k=rsa; " "p=' + key.public_key_b64 + '"'

    assert check(expected(key, Purpose.DKIM), txt(quoted)).status == "wrong"


def test_dkim_truncated_key_is_a_syntax_error(key):
    result = check(expected(key, Purpose.DKIM), txt(key.record_value()[:-3]))

    assert result.status == "wrong" and "cut short" in result.message


def test_several_dkim_records_at_one_selector_are_wrong(key):
    result = check(expected(key, Purpose.DKIM), txt(key.record_value(), key.record_value()))

    assert result.status == "wrong" and result.code == "DKIM_MULTIPLE_RECORDS"
    assert len(result.observed) == 2


def test_dkim_through_a_cname_is_found_and_says_so(key):
    observation = Observation("ok", txt=((key.record_value().encode(),),),
                              cname_chain=("pm1.dkim.provider.test",))

    result = check(expected(key, Purpose.DKIM), observation)

    assert result.status == "found" and "pm1.dkim.provider.test" in result.message


def test_dkim_missing(key):
    result = check(expected(key, Purpose.DKIM), Observation("nxdomain"))

    assert (result.status, result.code) == ("missing", "DKIM_MISSING")


# --- SPF -------------------------------------------------------------------------------------


def test_spf_with_our_include_is_found(key):
    result = spf_check(key, f"v=spf1 include:{PLATFORM} ~all")

    assert result.status == "found" and result.fix == ""
    assert result.message == f"We found `v=spf1 include:{PLATFORM} ~all`, which includes {PLATFORM}."


def test_spf_match_ignores_case_and_a_trailing_dot(key):
    result = spf_check(key, "V=SPF1 +Include:_SPF.PenguinMails.TEST. -ALL")

    assert result.status == "found"


def test_spf_without_our_include_is_wrong_and_the_fix_merges_it(key):
    result = spf_check(key, "v=spf1 include:_spf.google.com ~all",
                       zone=spf_zone({"_spf.google.com": "v=spf1 ip4:192.0.2.0/24 ~all"}))

    assert result.status == "wrong" and result.code == "SPF_INCLUDE_UNREACHABLE"
    assert result.message == ("We found `v=spf1 include:_spf.google.com ~all`, which does not "
                              f"include {PLATFORM}.")
    assert result.fix == f"Replace it with: v=spf1 include:_spf.google.com include:{PLATFORM} ~all"


def test_spf_include_nested_two_levels_deep_is_reachable(key):
    zone = spf_zone({"spf.corp.test": "v=spf1 ip4:192.0.2.1 include:mail.vendor.test -all",
                     "mail.vendor.test": f"v=spf1 include:{PLATFORM} -all"})

    result = spf_check(key, "v=spf1 mx include:spf.corp.test ~all", zone=zone)

    assert result.status == "found"
    assert f"reaches {PLATFORM} through spf.corp.test → mail.vendor.test → {PLATFORM}" in \
        result.message


def test_spf_redirect_is_followed(key):
    zone = spf_zone({"_spf.corp.test": f"v=spf1 include:{PLATFORM} ~all"})

    assert spf_check(key, "v=spf1 redirect=_spf.corp.test", zone=zone).status == "found"


def test_spf_redirect_is_ignored_when_the_record_has_all(key):
    zone = spf_zone({"_spf.corp.test": f"v=spf1 include:{PLATFORM} ~all"})

    result = spf_check(key, "v=spf1 ip4:192.0.2.1 ~all redirect=_spf.corp.test", zone=zone)

    assert result.status == "wrong"
    assert zone.asked == []  # RFC 7208 §6.1: never looked up


def test_spf_include_loop_ends_the_walk_safely(key):
    zone = spf_zone({"a.test": "v=spf1 include:b.test ~all",
                     "b.test": "v=spf1 include:a.test ~all"})

    result = spf_check(key, f"v=spf1 include:a.test include:{PLATFORM} ~all", zone=zone)

    assert result.status == "wrong" and result.code == "SPF_INCLUDE_LOOP"
    assert "loops back (example.test → a.test → b.test → a.test)" in result.message
    assert result.fix.endswith(f"v=spf1 include:{PLATFORM} include:a.test ~all")


def test_spf_including_itself_is_a_loop(key):
    result = spf_check(key, f"v=spf1 include:{DOMAIN} ~all",
                       zone=spf_zone({DOMAIN: f"v=spf1 include:{DOMAIN} ~all"}))

    assert result.code == "SPF_INCLUDE_LOOP"


def test_spf_loop_after_our_include_is_found_with_a_note(key):
    zone = spf_zone({"a.test": "v=spf1 include:a.test ~all"})

    result = spf_check(key, f"v=spf1 include:{PLATFORM} include:a.test ~all", zone=zone)

    assert result.status == "found" and result.code == "SPF_INCLUDE_LOOP"
    assert "However" in result.message


@pytest.mark.parametrize("qualifier", ["-", "~", "?"])
def test_spf_include_of_ours_that_cannot_pass_does_not_count(key, qualifier):
    result = spf_check(key, f"v=spf1 {qualifier}include:{PLATFORM} ~all")

    assert result.status == "wrong"
    assert "never lets mail pass" in result.message
    assert result.fix == f"Replace it with: v=spf1 include:{PLATFORM} ~all"


def test_spf_our_include_inside_a_softfail_include_does_not_count(key):
    zone = spf_zone({"vendor.test": f"v=spf1 include:{PLATFORM} -all"})

    result = spf_check(key, "v=spf1 ~include:vendor.test -all", zone=zone)

    assert result.status == "wrong" and "inside `~include:vendor.test`" in result.message


def test_spf_our_include_after_all_is_never_evaluated(key):
    result = spf_check(key, f"v=spf1 ip4:192.0.2.1 -all include:{PLATFORM}")

    assert result.status == "wrong" and "comes after `-all`" in result.message
    assert result.fix == f"Replace it with: v=spf1 ip4:192.0.2.1 include:{PLATFORM} -all"


def test_spf_our_include_after_all_inside_an_include_is_not_reached(key):
    zone = spf_zone({"vendor.test": f"v=spf1 -all include:{PLATFORM}"})

    assert spf_check(key, "v=spf1 include:vendor.test ~all", zone=zone).status == "wrong"


def test_several_spf_records_are_wrong_and_the_fix_is_one_merged_record(key):
    result = spf_check(key, "v=spf1 include:_spf.google.com ~all", "v=spf1 ip4:192.0.2.1 -all")

    assert result.status == "wrong" and result.code == "SPF_MULTIPLE_RECORDS"
    assert "RFC 7208 §4.5" in result.message and len(result.observed) == 2
    assert result.fix == ("Replace them with this one record: v=spf1 include:_spf.google.com "
                          f"ip4:192.0.2.1 include:{PLATFORM} ~all")


def test_several_spf_records_are_wrong_even_when_one_includes_ours(key):
    result = spf_check(key, f"v=spf1 include:{PLATFORM} ~all", "v=spf1 mx -all")

    assert result.code == "SPF_MULTIPLE_RECORDS"
    assert result.fix.endswith(f"v=spf1 include:{PLATFORM} mx ~all")


def test_other_txt_records_at_the_apex_are_not_spf(key):
    result = spf_check(key, "google-site-verification=abc", "v=spf10 nothing",
                       f"v=spf1 include:{PLATFORM} ~all")

    assert result.status == "found" and result.observed == [f"v=spf1 include:{PLATFORM} ~all"]


def test_no_spf_record_is_missing(key):
    result = spf_check(key, "google-site-verification=abc")

    assert (result.status, result.code, result.observed) == ("missing", "SPF_MISSING", [])
    assert f"include:{PLATFORM}" in result.fix


def test_spf_our_include_as_the_eleventh_lookup_is_not_reached(key):
    published = "v=spf1 " + " ".join(f"a:h{n}.test" for n in range(10)) + \
        f" include:{PLATFORM} ~all"

    result = spf_check(key, published)

    assert result.status == "wrong" and result.code == "SPF_TOO_MANY_LOOKUPS"
    assert "more than 10 DNS lookups" in result.message
    assert "v=spf1 include:_spf.penguinmails.test a:h0.test" in result.fix


def test_spf_lookups_inside_includes_count_towards_the_limit(key):
    zone = spf_zone({"big.test": "v=spf1 " + " ".join(f"mx:m{n}.test" for n in range(9)) + " ~all"})

    result = spf_check(key, f"v=spf1 include:big.test include:{PLATFORM} ~all", zone=zone)

    assert result.code == "SPF_TOO_MANY_LOOKUPS" and result.status == "wrong"


def test_spf_over_ten_lookups_after_our_include_is_found_with_a_note(key):
    published = f"v=spf1 include:{PLATFORM} " + " ".join(f"a:h{n}.test" for n in range(10)) + \
        " ~all"

    result = spf_check(key, published)

    assert result.status == "found" and result.code == "SPF_TOO_MANY_LOOKUPS"
    assert "more than 10 DNS lookups" in result.message and result.fix == ""


def test_spf_ip_mechanisms_cost_no_lookups(key):
    published = "v=spf1 " + " ".join(f"ip4:192.0.2.{n}" for n in range(20)) + \
        f" include:{PLATFORM} ~all"

    assert spf_check(key, published).status == "found"


def test_spf_include_without_a_record_before_ours_is_a_permerror(key):
    result = spf_check(key, f"v=spf1 include:gone.test include:{PLATFORM} ~all")

    assert result.status == "wrong" and result.code == "SPF_INCLUDE_INVALID"
    assert "gone.test" in result.message and "no SPF record" in result.message


def test_spf_dns_failure_while_following_an_include_is_an_error_not_wrong(key):
    zone = spf_zone({"slow.test": Observation("timeout", detail="no answer within 8s")})

    result = spf_check(key, f"v=spf1 include:slow.test include:{PLATFORM} ~all", zone=zone)

    assert result.status == "error" and result.fix == RETRY_FIX
    assert "timed out" in result.message


def test_spf_macro_include_is_not_followed(key):
    zone = spf_zone({})

    result = spf_check(key, f"v=spf1 include:%{{i}}._spf.corp.test include:{PLATFORM} ~all",
                       zone=zone)

    assert result.status == "found" and zone.asked == []


def test_spf_syntax_error_is_wrong(key):
    result = spf_check(key, f"v=spf1 include:{PLATFORM} bogus:thing ~all")

    assert result.status == "wrong" and result.code == "SPF_SYNTAX"
    assert "`bogus:thing`" in result.message


def test_spf_without_a_named_include_needs_every_include_of_the_instructions(key):
    existing = "v=spf1 include:_spf.google.com ~all"
    zone = spf_zone({"_spf.google.com": "v=spf1 ip4:192.0.2.0/24 ~all"})

    good = spf_check(key, f"v=spf1 include:_spf.google.com include:{PLATFORM} ~all", zone=zone,
                     spf_include=None, existing_spf=existing)
    dropped = spf_check(key, f"v=spf1 include:{PLATFORM} ~all", zone=zone, spf_include=None,
                        existing_spf=existing)

    assert good.status == "found"
    assert dropped.status == "wrong" and "does not include _spf.google.com" in dropped.message


def test_return_path_spf_in_mx_mode_is_checked_as_spf(key):
    record = expected(key, Purpose.RETURN_PATH, "TXT",
                      return_path=ReturnPath("pm-bounces", mx_host="mx.penguinmails.test"))

    found = check(record, txt(f"v=spf1 include:{PLATFORM} -all"), lookup_spf=NO_INCLUDES)
    wrong = check(record, txt("v=spf1 -all"), lookup_spf=NO_INCLUDES)

    assert (found.status, wrong.status) == ("found", "wrong")
    assert wrong.purpose == "return_path"


def test_spf_check_needs_a_way_to_follow_includes(key):
    with pytest.raises(ValueError, match="lookup_spf"):
        check(expected(key, Purpose.SPF), txt(f"v=spf1 include:{PLATFORM} ~all"))


@pytest.mark.parametrize(("value", "is_spf"), [
    ("v=spf1 -all", True), ("V=SPF1", True), ("v=spf10 -all", False), (" v=spf1 -all", False),
    ("v=spf1\t-all", False), ("spf1", False),
])
def test_what_counts_as_an_spf_record(value, is_spf):
    assert is_spf_record(value) is is_spf


def test_combined_spf_drops_repeats_and_keeps_the_first_ending_in_a_stable_order():
    records = ["v=spf1 mx include:a.test ~all", "v=spf1 MX ip4:192.0.2.1 -all",
               "v=spf1 redirect=b.test"]

    assert combined_spf(records) == "v=spf1 mx include:a.test ip4:192.0.2.1 ~all"
    assert combined_spf(records[::-1]) == combined_spf(records)


# --- DMARC -----------------------------------------------------------------------------------


def test_dmarc_as_suggested_is_found(key):
    record = expected(key, Purpose.DMARC)

    result = check(record, txt(record.value))

    assert result.status == "found" and "(policy none)" in result.message


def test_dmarc_stricter_policy_than_suggested_is_found(key):
    result = check(expected(key, Purpose.DMARC), txt("v=DMARC1; p=reject; rua=mailto:x@y.test"))

    assert result.status == "found" and "stricter than the none" in result.message


def test_dmarc_weaker_policy_than_chosen_is_found_and_mentioned(key):
    result = check(expected(key, Purpose.DMARC, dmarc_policy="quarantine"), txt("v=DMARC1; p=none"))

    assert result.status == "found" and "weaker than the quarantine" in result.message


@pytest.mark.parametrize("value", [
    "v=DMARC1;p=none", "v = DMARC1 ; p = none ;", "v=DMARC1; rua=mailto:a@b.test; p=None",
    ("v=DMARC1; ", "p=quarantine"), "v=DMARC1;\tp=reject;\tsp=none",
])
def test_dmarc_spelling_variants_are_found(key, value):
    assert check(expected(key, Purpose.DMARC), txt(value)).status == "found"


def test_dmarc_missing(key):
    result = check(expected(key, Purpose.DMARC), Observation("nxdomain"))

    assert (result.status, result.code) == ("missing", "DMARC_MISSING")


def test_txt_at_dmarc_that_is_not_dmarc_counts_as_missing_and_is_shown(key):
    result = check(expected(key, Purpose.DMARC), txt("p=none; v=DMARC1"))

    assert result.status == "missing" and "`p=none; v=DMARC1`" in result.message


def test_several_dmarc_records_are_wrong(key):
    result = check(expected(key, Purpose.DMARC), txt("v=DMARC1; p=none", "v=DMARC1; p=reject"))

    assert (result.status, result.code) == ("wrong", "DMARC_MULTIPLE_RECORDS")


@pytest.mark.parametrize(("value", "complaint"), [
    ("v=DMARC1; rua=mailto:a@b.test", "no p= tag"),
    ("v=DMARC1; p=maybe", "p=maybe is not a policy"),
    ("v=DMARC1 p=none", "exactly v=DMARC1"),
    ("v=dmarc1; p=none", "exactly v=DMARC1"),
    ("v=DMARC1; p=none; p=reject", "more than once"),
    ("v=DMARC1; p=none; rua", "has no '='"),
])
def test_malformed_dmarc_is_wrong(key, value, complaint):
    result = check(expected(key, Purpose.DMARC), txt(value))

    assert (result.status, result.code) == ("wrong", "DMARC_INVALID")
    assert complaint in result.message


# --- CNAME and MX ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["bounces.penguinmails.test.", "Bounces.PenguinMails.TEST",
                                    "bounces.penguinmails.test"])
def test_cname_target_ignores_case_and_trailing_dot(key, target):
    record = expected(key, Purpose.RETURN_PATH, "CNAME")

    result = check(record, Observation("ok", records=(target,)))

    assert result.status == "found" and result.observed == ["bounces.penguinmails.test"]


def test_cname_first_target_from_a_followed_chain(key):
    record = expected(key, Purpose.TRACKING, "CNAME")
    observation = Observation("ok", records=("192.0.2.7",),
                              cname_chain=("track.penguinmails.test", "edge.cdn.test"))

    assert check(record, observation).status == "found"


def test_cname_to_another_host_is_wrong(key):
    result = check(expected(key, Purpose.TRACKING, "CNAME"),
                   Observation("ok", records=("track.other.test.",)))

    assert (result.status, result.code) == ("wrong", "CNAME_WRONG_TARGET")
    assert "track.other.test instead of track.penguinmails.test" in result.message


def test_cname_missing_name(key):
    result = check(expected(key, Purpose.TRACKING, "CNAME"), Observation("nxdomain"))

    assert (result.status, result.code) == ("missing", "CNAME_MISSING")


def test_name_without_a_cname_is_wrong_and_mentions_flattening(key):
    result = check(expected(key, Purpose.TRACKING, "CNAME"), Observation("nodata"))

    assert (result.status, result.code) == ("wrong", "CNAME_NOT_ALIAS")
    assert "flattens" in result.message


def mx_record(key, priority: int = 10):
    return expected(key, Purpose.RETURN_PATH, "MX", return_path=ReturnPath(
        "pm-bounces", mx_host="mx.penguinmails.test", mx_priority=priority))


def test_mx_to_our_host_is_found(key):
    result = check(mx_record(key), Observation("ok", records=("10 MX.penguinmails.test.",)))

    assert result.status == "found" and result.observed == ["10 mx.penguinmails.test"]
    assert result.message == "pm-bounces.example.test has an MX to mx.penguinmails.test."


def test_mx_with_another_priority_is_found_and_mentioned(key):
    result = check(mx_record(key), Observation("ok", records=("20 mx.penguinmails.test.",)))

    assert result.status == "found" and "priority 20 rather than 10" in result.message


def test_mx_preferred_over_ours_is_mentioned(key):
    result = check(mx_record(key), Observation("ok", records=("10 mx.penguinmails.test.",
                                                              "5 mail.other.test.")))

    assert result.status == "found" and "mail.other.test is preferred" in result.message


def test_mx_to_another_host_is_wrong(key):
    result = check(mx_record(key), Observation("ok", records=("10 mail.other.test.",)))

    assert (result.status, result.code) == ("wrong", "MX_WRONG_HOST")
    assert result.observed == ["10 mail.other.test"]


@pytest.mark.parametrize("status", ["nxdomain", "nodata"])
def test_mx_missing(key, status):
    assert check(mx_record(key), Observation(status)).status == "missing"


# --- DNS failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "words"), [
    ("timeout", "timed out"), ("servfail", "SERVFAIL"), ("refused", "REFUSED"),
    ("lame", "not authoritative"), ("error", "failed"),
])
@pytest.mark.parametrize(("purpose", "rdtype"), [
    (Purpose.OWNERSHIP, "TXT"), (Purpose.SPF, "TXT"), (Purpose.DKIM, "TXT"),
    (Purpose.DMARC, "TXT"), (Purpose.TRACKING, "CNAME"),
])
def test_dns_failures_are_errors_never_missing(key, status, words, purpose, rdtype):
    observation = Observation(status, server="127.0.0.1:53", detail="details")

    result = check(expected(key, purpose, rdtype), observation, lookup_spf=NO_INCLUDES)

    assert result.status == "error" and result.fix == RETRY_FIX
    assert words in result.message and "127.0.0.1:53" in result.message
    assert result.code == f"DNS_{status.upper()}"


# --- agreement across nameservers ------------------------------------------------------------


def test_all_nameservers_agree(key):
    servers = [txt(TOKEN, server=f"ns{n}") for n in (1, 2, 3)]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert (result.status, result.agreeing, result.total) == ("found", 3, 3)
    assert result.message.endswith("All 3 nameservers serve it.")


def test_a_lame_nameserver_counts_in_the_total_and_is_named(key):
    servers = [txt(TOKEN, server="ns1"), txt(TOKEN, server="ns2"),
               Observation("lame", server="ns3", detail="answered without authority")]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert (result.status, result.agreeing, result.total) == ("found", 2, 3)
    assert "2 of 3 nameservers serve it; ns3: the server is not authoritative" in result.message


def test_a_nameserver_serving_an_old_value_makes_the_record_wrong(key):
    servers = [txt(TOKEN, server="ns1"), txt("pmv-old", server="ns2"), txt(TOKEN, server="ns3")]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert (result.status, result.agreeing, result.total) == ("wrong", 2, 3)
    assert result.message.startswith("Only 2 of 3 nameservers serve the right record; ns2 does not")
    assert result.observed == [TOKEN, "pmv-old"]
    assert result.fix.startswith("If you changed the record a short while ago, wait")
    assert result.fix.endswith(f"Otherwise: Set the TXT value to exactly: {TOKEN}")


def test_disagreement_also_names_the_servers_that_did_not_answer(key):
    servers = [txt(TOKEN, server="ns1"), txt("pmv-old", server="ns2"),
               Observation("lame", server="ns3")]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert result.message.startswith("Only 1 of 3 nameservers serves the right record")
    assert result.message.endswith("(ns3: the server is not authoritative for the name "
                                   "(a lame delegation))")


def test_a_nameserver_without_the_record_makes_it_missing(key):
    servers = [txt(TOKEN, server="ns1"), Observation("nxdomain", server="ns2")]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert (result.status, result.agreeing, result.total) == ("missing", 1, 2)


def test_no_nameserver_answering_is_an_error(key):
    servers = [Observation("timeout", server="ns1"), Observation("refused", server="ns2")]

    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), servers)

    assert (result.status, result.agreeing, result.total) == ("error", 0, 2)
    assert "none of the 2 nameservers answered" in result.message
    assert "ns1: our DNS query timed out; ns2: the server refused" in result.message


def test_one_nameserver_gives_plain_counts(key):
    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), [txt(TOKEN, server="ns1")])

    assert (result.agreeing, result.total) == (1, 1)
    assert "nameservers" not in result.message


def test_spf_is_judged_per_nameserver(key):
    servers = [txt(f"v=spf1 include:{PLATFORM} ~all", server="ns1"),
               txt("v=spf1 -all", server="ns2")]

    result = check_on_nameservers(expected(key, Purpose.SPF), servers, spf_include=PLATFORM,
                                  lookup_spf=NO_INCLUDES)

    assert (result.status, result.agreeing, result.total) == ("wrong", 1, 2)


# --- values ----------------------------------------------------------------------------------


def test_record_check_round_trips_through_a_dict(key):
    result = check_on_nameservers(expected(key, Purpose.OWNERSHIP), [txt(TOKEN, server="ns1")])

    assert RecordCheck.from_dict(result.to_dict()) == result


def test_record_check_from_an_older_or_newer_snapshot(key):
    stored = {"purpose": "dkim", "type": "TXT", "host": "h", "status": "missing",
              "expected": "v", "observed": (), "message": "m", "fix": "f", "later_field": 1}

    result = RecordCheck.from_dict(stored)

    assert result.observed == [] and result.agreeing is None and result.code == ""


def test_summarise_and_all_found(key):
    found = check(expected(key, Purpose.OWNERSHIP), txt(TOKEN))
    missing = check(expected(key, Purpose.OWNERSHIP), Observation("nxdomain"))
    failed = check(expected(key, Purpose.OWNERSHIP), Observation("timeout"))

    assert summarise([found, missing, failed, found]) == {
        "found": 2, "missing": 1, "wrong": 0, "error": 1, "total": 4}
    assert all_found([found, found]) and not all_found([found, failed]) and not all_found([])

