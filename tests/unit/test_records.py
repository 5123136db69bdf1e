"""The expected DNS record set, the SPF merge, and the zone-file, CSV and provider renderings."""

from __future__ import annotations

import base64
import csv
import io
import math

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.records import (
    PROVIDER_HINTS,
    DkimKeyRecord,
    DmarcPolicy,
    DnsRecord,
    HostStyle,
    Purpose,
    RecordSettings,
    ReturnPath,
    TrackingHost,
    character_strings,
    expected_records,
    host_for_provider,
    merge_spf,
    relative_host,
    to_bind,
    to_csv,
)
from app.core.spf_merge import SpfMergeError

PLATFORM_INCLUDE = "_spf.penguinmails.net"


@pytest.fixture(scope="module")
def dkim_2048() -> str:
    """A real 2048-bit RSA key record: its value is about 410 characters, so it must split."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def settings_for(domain: str, dkim_value: str = "v=DKIM1; k=rsa; p=MIIBIjAN", **overrides):
    values = dict(
        domain=domain,
        verification_token="pmv-3f9a1c",
        spf_include=PLATFORM_INCLUDE,
        dkim_keys=(DkimKeyRecord("pm1", dkim_value),),
        dmarc_policy="none",
        dmarc_rua="dmarc@reports.penguinmails.net",
        return_path=ReturnPath("pm-bounces", cname_target="bounces.penguinmails.net"),
        tracking=TrackingHost("track", "track.penguinmails.net"),
    )
    values.update(overrides)
    return RecordSettings(**values)


def by_purpose(records, purpose):
    return [record for record in records if record.purpose == purpose]


# --- the full set for a plain domain --------------------------------------------------------


def test_full_record_set_for_a_plain_domain():
    records = expected_records(settings_for("example.com"))
    assert [(r.purpose, r.type, r.host, r.value, r.ttl) for r in records] == [
        ("ownership", "TXT", "_pm-verify.example.com", "pmv-3f9a1c", 3600),
        ("spf", "TXT", "example.com", "v=spf1 include:_spf.penguinmails.net ~all", 3600),
        ("dkim", "TXT", "pm1._domainkey.example.com", "v=DKIM1; k=rsa; p=MIIBIjAN", 3600),
        (
            "dmarc",
            "TXT",
            "_dmarc.example.com",
            "v=DMARC1; p=none; rua=mailto:dmarc@reports.penguinmails.net; adkim=r; aspf=r",
            3600,
        ),
        ("return_path", "CNAME", "pm-bounces.example.com", "bounces.penguinmails.net", 3600),
        ("tracking", "CNAME", "track.example.com", "track.penguinmails.net", 3600),
    ]


def test_every_record_explains_why_in_plain_words():
    for record in expected_records(settings_for("example.com")):
        assert len(record.why) > 40
        assert "\n" not in record.why


def test_purposes_are_stable_codes():
    assert {p.value for p in Purpose} == {
        "ownership", "spf", "dkim", "dmarc", "return_path", "tracking"
    }


def test_hosts_are_absolute_without_trailing_dot():
    for record in expected_records(settings_for("example.com")):
        assert not record.host.endswith(".")
        assert record.host == "example.com" or record.host.endswith(".example.com")


def test_cname_zone_values_are_absolute_with_trailing_dot():
    records = expected_records(settings_for("example.com"))
    assert by_purpose(records, "tracking")[0].zone_values == ("track.penguinmails.net.",)
    assert by_purpose(records, "return_path")[0].zone_rdata() == "bounces.penguinmails.net."


def test_targets_given_with_a_trailing_dot_are_not_doubled():
    settings = settings_for("example.com", tracking=TrackingHost("track", "t.penguinmails.net."))
    tracking = by_purpose(expected_records(settings), "tracking")[0]
    assert tracking.value == "t.penguinmails.net"
    assert tracking.zone_values == ("t.penguinmails.net.",)


def test_ttl_is_configurable():
    records = expected_records(settings_for("example.com", ttl=300))
    assert {record.ttl for record in records} == {300}


def test_records_are_immutable():
    record = expected_records(settings_for("example.com"))[0]
    with pytest.raises(AttributeError):
        record.value = "changed"


def test_custom_return_path_and_tracking_are_optional():
    records = expected_records(settings_for("example.com", return_path=None, tracking=None))
    assert [r.purpose for r in records] == ["ownership", "spf", "dkim", "dmarc"]


def test_no_dkim_record_before_a_key_exists():
    records = expected_records(settings_for("example.com", dkim_keys=()))
    assert by_purpose(records, "dkim") == []


def test_every_published_dkim_key_gets_its_own_selector_record():
    keys = (DkimKeyRecord("pm1", "v=DKIM1; k=rsa; p=AAA"), DkimKeyRecord("pm2", "v=DKIM1; p=BBB"))
    records = expected_records(settings_for("example.com", dkim_keys=keys))
    assert [(r.host, r.value) for r in by_purpose(records, "dkim")] == [
        ("pm1._domainkey.example.com", "v=DKIM1; k=rsa; p=AAA"),
        ("pm2._domainkey.example.com", "v=DKIM1; p=BBB"),
    ]


# --- a subdomain ----------------------------------------------------------------------------


def test_full_record_set_for_a_subdomain():
    records = expected_records(settings_for("news.example.co.uk"))
    assert [(r.type, r.host) for r in records] == [
        ("TXT", "_pm-verify.news.example.co.uk"),
        ("TXT", "news.example.co.uk"),
        ("TXT", "pm1._domainkey.news.example.co.uk"),
        ("TXT", "_dmarc.news.example.co.uk"),
        ("CNAME", "pm-bounces.news.example.co.uk"),
        ("CNAME", "track.news.example.co.uk"),
    ]


def test_subdomain_dmarc_warns_that_it_replaces_the_organisational_policy():
    dmarc = by_purpose(expected_records(settings_for("news.example.co.uk")), "dmarc")[0]
    assert "example.co.uk" in dmarc.why.replace("news.example.co.uk", "")
    plain = by_purpose(expected_records(settings_for("example.co.uk")), "dmarc")[0]
    assert "weaker" not in plain.why


def test_subdomain_records_render_relative_to_the_parent_zone():
    records = expected_records(settings_for("news.example.co.uk"))
    assert [host_for_provider(r, "example.co.uk", HostStyle.RELATIVE) for r in records] == [
        "_pm-verify.news",
        "news",
        "pm1._domainkey.news",
        "_dmarc.news",
        "pm-bounces.news",
        "track.news",
    ]


def test_subdomain_records_render_relative_to_its_own_delegated_zone():
    records = expected_records(settings_for("news.example.co.uk"))
    assert host_for_provider(records[1], "news.example.co.uk", HostStyle.RELATIVE) == "@"
    assert host_for_provider(records[2], "news.example.co.uk", HostStyle.RELATIVE) == (
        "pm1._domainkey"
    )


# --- DMARC ----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["none", "quarantine", "reject", DmarcPolicy.REJECT])
def test_dmarc_policy_is_second_after_the_version(policy):
    dmarc = by_purpose(expected_records(settings_for("example.com", dmarc_policy=policy)), "dmarc")
    tags = [tag.strip() for tag in dmarc[0].value.split(";")]
    assert tags[0] == "v=DMARC1"
    assert tags[1] == f"p={DmarcPolicy(policy).value}"


def test_dmarc_alignment_is_relaxed_so_the_bounce_subdomain_aligns():
    value = by_purpose(expected_records(settings_for("example.com")), "dmarc")[0].value
    assert "aspf=r" in value and "adkim=r" in value


def test_dmarc_without_a_report_address_has_no_rua():
    records = expected_records(settings_for("example.com", dmarc_rua=None))
    dmarc = by_purpose(records, "dmarc")[0]
    assert dmarc.value == "v=DMARC1; p=none; adkim=r; aspf=r"
    assert "report" not in dmarc.why


def test_unknown_dmarc_policy_is_refused():
    with pytest.raises(ValueError):
        settings_for("example.com", dmarc_policy="monitor")


@pytest.mark.parametrize(
    "rua", ["no-at-sign", "a,b@example.com", "dmarc@example.com!10m", "a b@example.com", "@x"]
)
def test_a_report_address_that_would_break_the_tag_list_is_refused(rua):
    with pytest.raises(ValueError):
        settings_for("example.com", dmarc_rua=rua)


# --- return path: CNAME, or MX + SPF, never both at one name ----------------------------------


def test_cname_return_path_is_the_only_record_at_its_name():
    records = expected_records(settings_for("example.com"))
    at_return_path = [r for r in records if r.host == "pm-bounces.example.com"]
    assert [r.type for r in at_return_path] == ["CNAME"]
    assert "CNAME cannot share its name" in at_return_path[0].why


def test_mx_return_path_publishes_mx_and_its_own_spf():
    return_path = ReturnPath("pm-bounces", mx_host="feedback.penguinmails.net", mx_priority=10)
    records = expected_records(settings_for("example.com", return_path=return_path))
    at_return_path = [r for r in records if r.host == "pm-bounces.example.com"]
    assert [(r.type, r.value) for r in at_return_path] == [
        ("MX", "10 feedback.penguinmails.net"),
        ("TXT", "v=spf1 include:_spf.penguinmails.net -all"),
    ]
    assert at_return_path[0].zone_values == ("10", "feedback.penguinmails.net.")
    assert "incoming mail is not affected" in at_return_path[0].why


@pytest.mark.parametrize(
    "return_path",
    [
        ReturnPath("pm-bounces", cname_target="bounces.penguinmails.net"),
        ReturnPath("pm-bounces", mx_host="feedback.penguinmails.net"),
    ],
)
def test_no_name_holds_a_cname_beside_other_records(return_path):
    # RFC 1034 §3.6.2, RFC 2181 §10.1
    records = expected_records(settings_for("example.com", return_path=return_path))
    for cname in (r for r in records if r.type == "CNAME"):
        assert [r for r in records if r.host == cname.host] == [cname]


def test_no_mx_is_ever_asked_for_at_the_domain_itself():
    return_path = ReturnPath("pm-bounces", mx_host="feedback.penguinmails.net")
    records = expected_records(settings_for("example.com", return_path=return_path))
    assert [r.host for r in records if r.type == "MX"] == ["pm-bounces.example.com"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"cname_target": "bounces.penguinmails.net", "mx_host": "feedback.penguinmails.net"},
        {"mx_host": "feedback.penguinmails.net", "mx_priority": 70000},
    ],
)
def test_a_return_path_is_exactly_one_of_cname_or_mx(kwargs):
    with pytest.raises(ValueError):
        ReturnPath("pm-bounces", **kwargs)


# --- settings that cannot make valid records ------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"dkim_keys": (DkimKeyRecord("pm_1", "v=DKIM1; p=AAA"),)},
        {"dkim_keys": (DkimKeyRecord("", "v=DKIM1; p=AAA"),)},
        {"dkim_keys": (DkimKeyRecord("pm1.", "v=DKIM1; p=AAA"),)},
        {"return_path": ReturnPath("-bounces", cname_target="b.penguinmails.net")},
        {"tracking": TrackingHost("track me", "t.penguinmails.net")},
        {"tracking": TrackingHost("pm-bounces", "t.penguinmails.net")},
        {"ttl": 0},
        {"ttl": 2**31},
    ],
)
def test_settings_that_cannot_make_valid_records_are_refused(overrides):
    with pytest.raises(ValueError):
        settings_for("example.com", **overrides)


def test_a_dotted_selector_is_allowed():
    # RFC 6376 §3.1: selectors may have sub-parts, e.g. "2026.pm1"
    keys = (DkimKeyRecord("2026.pm1", "v=DKIM1; p=AAA"),)
    dkim = by_purpose(expected_records(settings_for("example.com", dkim_keys=keys)), "dkim")[0]
    assert dkim.host == "2026.pm1._domainkey.example.com"


# --- SPF: one record, merged --------------------------------------------------------------------


def test_spf_for_a_domain_without_one_softfails():
    assert merge_spf(None, PLATFORM_INCLUDE) == "v=spf1 include:_spf.penguinmails.net ~all"


@pytest.mark.parametrize(
    ("existing", "merged"),
    [
        (
            "v=spf1 include:_spf.google.com -all",
            "v=spf1 include:_spf.google.com include:_spf.penguinmails.net -all",
        ),
        ("v=spf1 mx ?all", "v=spf1 mx include:_spf.penguinmails.net ?all"),
        ("v=spf1 mx ~all", "v=spf1 mx include:_spf.penguinmails.net ~all"),
        ("v=spf1 +all", "v=spf1 include:_spf.penguinmails.net +all"),
        ("v=spf1 -all", "v=spf1 include:_spf.penguinmails.net -all"),
        (
            "v=spf1 redirect=_spf.example.net",
            "v=spf1 include:_spf.penguinmails.net redirect=_spf.example.net",
        ),
        (
            "v=spf1 mx redirect=_spf.example.net",
            "v=spf1 mx include:_spf.penguinmails.net redirect=_spf.example.net",
        ),
        # redirect beside all is ignored (RFC 7208 §6.1); the include still goes before all
        (
            "v=spf1 mx -all redirect=_spf.example.net",
            "v=spf1 mx include:_spf.penguinmails.net -all redirect=_spf.example.net",
        ),
        ("v=spf1", "v=spf1 include:_spf.penguinmails.net"),
        ("v=spf1 a mx", "v=spf1 a mx include:_spf.penguinmails.net"),
        (
            "v=spf1 a mx exp=explain._spf.example.com",
            "v=spf1 a mx exp=explain._spf.example.com include:_spf.penguinmails.net",
        ),
        (
            "  v=spf1   ip4:192.0.2.0/24\t a:mail.example.com/28   -all  ",
            "v=spf1 ip4:192.0.2.0/24 a:mail.example.com/28 include:_spf.penguinmails.net -all",
        ),
        ("V=SPF1 MX -ALL", "V=SPF1 MX include:_spf.penguinmails.net -ALL"),
        (
            "v=spf1 ip6:2001:db8::/32 exists:%{i}._spf.example.com ~all",
            "v=spf1 ip6:2001:db8::/32 exists:%{i}._spf.example.com "
            "include:_spf.penguinmails.net ~all",
        ),
        # a mechanism that merely mentions "all" or "redirect" is not one
        (
            "v=spf1 include:all.example.com include:redirect.example.com",
            "v=spf1 include:all.example.com include:redirect.example.com "
            "include:_spf.penguinmails.net",
        ),
        # mechanisms after "all" are never evaluated; ours must come before it
        (
            "v=spf1 -all mx",
            "v=spf1 include:_spf.penguinmails.net -all mx",
        ),
    ],
)
def test_existing_spf_is_merged_into_one_record(existing, merged):
    assert merge_spf(existing, PLATFORM_INCLUDE) == merged


@pytest.mark.parametrize(
    "existing",
    [
        "v=spf1 include:_spf.penguinmails.net ~all",
        "v=spf1 include:_SPF.PenguinMails.NET -all",
        "v=spf1 include:_spf.penguinmails.net. -all",
        "v=spf1 +include:_spf.penguinmails.net ?all",
        "v=spf1 mx include:_spf.google.com include:_spf.penguinmails.net",
    ],
)
def test_an_existing_include_of_ours_is_left_alone(existing):
    assert merge_spf(existing, PLATFORM_INCLUDE) == " ".join(existing.split())


@pytest.mark.parametrize(
    "existing",
    [
        "v=spf1 include:_spf.google.com -all",
        "v=spf1 mx ?all",
        "v=spf1 redirect=_spf.example.net",
        "v=spf1",
        "  v=spf1  a   ~all ",
    ],
)
def test_merging_twice_changes_nothing(existing):
    once = merge_spf(existing, PLATFORM_INCLUDE)
    assert merge_spf(once, PLATFORM_INCLUDE) == once


@pytest.mark.parametrize(
    "existing",
    [
        "v=spf1 include:_spf.google.com -all",
        "v=spf1 mx ?all",
        "v=spf1 redirect=_spf.example.net",
        "v=spf1 include:_spf.penguinmails.net ~all",
    ],
)
def test_merge_never_makes_a_second_spf_record(existing):
    merged = merge_spf(existing, PLATFORM_INCLUDE)
    assert [term.lower() for term in merged.split()].count("v=spf1") == 1
    assert merged.lower().count("include:_spf.penguinmails.net") == 1


def test_merge_keeps_every_existing_term_in_order():
    existing = "v=spf1 ip4:192.0.2.1 a mx/24 include:_spf.google.com exp=x.example.com ~all"
    merged = merge_spf(existing, PLATFORM_INCLUDE).split()
    merged.remove("include:_spf.penguinmails.net")
    assert merged == existing.split()


@pytest.mark.parametrize(
    "existing",
    [
        "-include:_spf.penguinmails.net",
        "~include:_spf.penguinmails.net",
        "?include:_SPF.penguinmails.net",
    ],
)
def test_an_include_of_ours_that_would_not_pass_is_refused(existing):
    with pytest.raises(SpfMergeError) as caught:
        merge_spf(f"v=spf1 {existing} -all", PLATFORM_INCLUDE)
    assert caught.value.code == "platform_include_not_pass"
    assert "include:_spf.penguinmails.net" in caught.value.message


@pytest.mark.parametrize(
    "existing",
    [
        "",
        "   ",
        "spf1 -all",
        "v=spf10 -all",
        "v=spf2.0/pra -all",
        "v=DMARC1; p=none",
        '"v=spf1 -all"',
        "google-site-verification=abc",
    ],
)
def test_text_that_is_not_spf_is_refused_clearly(existing):
    with pytest.raises(SpfMergeError) as caught:
        merge_spf(existing, PLATFORM_INCLUDE)
    assert caught.value.code == "not_spf"
    assert "v=spf1" in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_expected_records_publish_exactly_one_spf_record_at_the_apex():
    settings = settings_for("example.com", existing_spf="v=spf1 include:_spf.google.com -all")
    records = expected_records(settings)
    apex_spf = [
        r for r in records if r.host == "example.com" and r.value.lower().startswith("v=spf1")
    ]
    assert [r.value for r in apex_spf] == [
        "v=spf1 include:_spf.google.com include:_spf.penguinmails.net -all"
    ]
    assert "Replace it" in apex_spf[0].why
    assert "second" in apex_spf[0].why


def test_an_spf_record_that_already_includes_us_is_left_as_published():
    existing = "v=spf1 include:_spf.penguinmails.net -all"
    records = expected_records(settings_for("example.com", existing_spf=existing))
    spf = by_purpose(records, "spf")[0]
    assert spf.value == existing
    assert "nothing to change" in spf.why


def test_invalid_existing_spf_stops_record_generation():
    with pytest.raises(SpfMergeError):
        expected_records(settings_for("example.com", existing_spf="not an spf record"))


# --- TXT character-strings ------------------------------------------------------------------


def test_a_2048_bit_dkim_record_is_split_into_strings_of_at_most_255_octets(dkim_2048):
    dkim = by_purpose(expected_records(settings_for("example.com", dkim_2048)), "dkim")[0]
    assert len(dkim_2048) > 255
    assert all(len(piece.encode()) <= 255 for piece in dkim.zone_values)
    assert len(dkim.zone_values) == math.ceil(len(dkim_2048) / 255)
    assert "".join(dkim.zone_values) == dkim.value == dkim_2048


@pytest.mark.parametrize(
    ("length", "pieces"), [(0, 1), (1, 1), (255, 1), (256, 2), (510, 2), (511, 3)]
)
def test_character_strings_cut_at_255_octets(length, pieces):
    text = "x" * length
    assert len(character_strings(text)) == pieces
    assert "".join(character_strings(text)) == text


def test_character_strings_never_cut_inside_a_character():
    text = "é" * 200  # 400 octets in UTF-8
    strings = character_strings(text)
    assert all(len(piece.encode()) <= 255 for piece in strings)
    assert "".join(strings) == text


def txt_record(text: str) -> DnsRecord:
    return DnsRecord(
        Purpose.OWNERSHIP, "TXT", "x.example.com", text, 60, "why", character_strings(text)
    )


def parse_txt_rdata(presentation: str) -> tuple[bytes, ...]:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, presentation).strings


def test_zone_rdata_quotes_and_escapes_txt_strings():
    record = txt_record('a "b" \\c')
    assert record.zone_rdata() == '"a \\"b\\" \\\\c"'
    assert parse_txt_rdata(record.zone_rdata()) == (b'a "b" \\c',)


def test_zone_rdata_writes_non_ascii_octets_as_decimal_escapes():
    record = txt_record("café;\tx")
    assert record.zone_rdata() == '"caf\\195\\169;\\009x"'
    assert parse_txt_rdata(record.zone_rdata()) == ("café;\tx".encode(),)


def test_zone_rdata_of_a_split_txt_record_parses_back_to_the_same_strings(dkim_2048):
    dkim = by_purpose(expected_records(settings_for("example.com", dkim_2048)), "dkim")[0]
    assert parse_txt_rdata(dkim.zone_rdata()) == tuple(piece.encode() for piece in dkim.zone_values)


# --- BIND zone-file snippet -----------------------------------------------------------------


def parse_zone(text: str, origin: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def test_bind_snippet_parses_and_carries_the_same_data(dkim_2048):
    settings = settings_for(
        "example.com", dkim_2048, existing_spf="v=spf1 include:_spf.google.com -all"
    )
    records = expected_records(settings)
    zone = parse_zone(to_bind(records, "example.com"), "example.com")
    for record in records:
        rdataset = zone.find_rdataset(f"{record.host}.", record.type)
        assert rdataset.ttl == record.ttl
        (rdata,) = list(rdataset)
        if record.type == "TXT":
            assert b"".join(rdata.strings) == record.value.encode()
            assert all(len(piece) <= 255 for piece in rdata.strings)
        else:
            assert rdata.to_text() == record.zone_rdata()


def test_bind_snippet_with_mx_return_path_parses():
    return_path = ReturnPath("pm-bounces", mx_host="feedback.penguinmails.net", mx_priority=20)
    records = expected_records(settings_for("example.com", return_path=return_path))
    zone = parse_zone(to_bind(records, "example.com"), "example.com")
    (mx,) = list(zone.find_rdataset("pm-bounces.example.com.", "MX"))
    assert (mx.preference, mx.exchange.to_text()) == (20, "feedback.penguinmails.net.")


def test_bind_snippet_uses_origin_relative_names_and_comments_purposes():
    text = to_bind(expected_records(settings_for("example.com")), "example.com.")
    lines = text.splitlines()
    assert lines[0] == "$ORIGIN example.com."
    assert "@\t3600\tIN\tTXT\t\"v=spf1 include:_spf.penguinmails.net ~all\"" in lines
    assert "pm-bounces\t3600\tIN\tCNAME\tbounces.penguinmails.net." in lines
    assert any(line.startswith("; dkim: ") for line in lines)
    assert text.endswith("\n")


def test_bind_snippet_for_a_subdomain_in_its_parent_zone(dkim_2048):
    records = expected_records(settings_for("news.example.co.uk", dkim_2048))
    text = to_bind(records, "example.co.uk")
    assert "\nnews\t3600\tIN\tTXT\t" in text
    zone = parse_zone(text, "example.co.uk")
    dkim = zone.find_rdataset("pm1._domainkey.news.example.co.uk.", "TXT")
    assert b"".join(list(dkim)[0].strings) == dkim_2048.encode()


def test_bind_refuses_records_outside_the_zone():
    with pytest.raises(ValueError):
        to_bind(expected_records(settings_for("example.com")), "example.net")


# --- CSV ------------------------------------------------------------------------------------


def test_csv_round_trips_through_csv_reader(dkim_2048):
    settings = settings_for(
        "example.com", dkim_2048, existing_spf="v=spf1 include:_spf.google.com -all"
    )
    records = expected_records(settings)
    rows = list(csv.reader(io.StringIO(to_csv(records))))
    assert rows[0] == ["type", "host", "value", "ttl", "purpose"]
    assert rows[1:] == [[r.type, r.host, r.value, str(r.ttl), r.purpose.value] for r in records]


def test_csv_quotes_commas_quotes_and_newlines():
    rows = list(csv.reader(io.StringIO(to_csv([txt_record('a,"b"\nc')]), newline="")))
    assert rows[1] == ["TXT", "x.example.com", 'a,"b"\nc', "60", "ownership"]


def test_csv_of_no_records_is_just_the_header():
    assert to_csv([]).splitlines() == ["type,host,value,ttl,purpose"]


# --- how the host is typed at DNS hosts -----------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            HostStyle.RELATIVE,
            ["_pm-verify", "@", "pm1._domainkey", "_dmarc", "pm-bounces", "track"],
        ),
        (
            HostStyle.RELATIVE_BLANK_APEX,
            ["_pm-verify", "", "pm1._domainkey", "_dmarc", "pm-bounces", "track"],
        ),
        (
            HostStyle.FQDN,
            [
                "_pm-verify.example.com",
                "example.com",
                "pm1._domainkey.example.com",
                "_dmarc.example.com",
                "pm-bounces.example.com",
                "track.example.com",
            ],
        ),
    ],
)
def test_host_for_provider_in_each_style(style, expected):
    records = expected_records(settings_for("example.com"))
    assert [host_for_provider(r, "example.com", style) for r in records] == expected


def test_host_for_provider_accepts_a_zone_with_trailing_dot_and_capitals():
    dkim = by_purpose(expected_records(settings_for("example.com")), "dkim")[0]
    assert host_for_provider(dkim, "Example.COM.", HostStyle.RELATIVE) == "pm1._domainkey"


def test_relative_host_refuses_a_name_outside_the_zone():
    with pytest.raises(ValueError):
        relative_host("pm1._domainkey.example.com", "ample.com")


def test_every_provider_hint_can_render_every_record():
    records = expected_records(settings_for("example.com"))
    for hint in PROVIDER_HINTS:
        assert hint.note
        hosts = [host_for_provider(r, "example.com", hint.style) for r in records]
        assert "pm1._domainkey" in hosts


def test_every_host_style_has_generic_advice():
    for style in HostStyle:
        assert style.advice
