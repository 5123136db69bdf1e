"""SPF check_host(): the parser, the processing limits and macro expansion (RFC 7208)."""

from __future__ import annotations

import pytest

from app.core.spf import (
    MAX_DNS_LOOKUPS,
    Macro,
    SpfSyntaxError,
    check_host,
    expand_macros,
    is_spf_record,
    parse_record,
)
from tests.unit.test_spf_rfc7208_suite import ZoneLookup

CLIENT = "192.0.2.3"
SENDER = "strong-bad@email.example.com"
HELO = "mx.example.org"


def zone(txt: dict[str, str], other: dict[str, list] | None = None) -> ZoneLookup:
    """One TXT record per name in `txt`, plus entries in the suite's zonedata form."""
    zonedata = {name: [{"TXT": text}] for name, text in txt.items()}
    for name, entries in (other or {}).items():
        zonedata.setdefault(name, []).extend(entries)
    return ZoneLookup(zonedata)


def check(lookup, domain="example.com", ip=CLIENT, **options):
    return check_host(ip, domain, f"user@{domain}", HELO, lookup, **options)


# --- parsing -------------------------------------------------------------------------------

def test_a_record_parses_into_mechanisms_and_modifiers():
    record = parse_record("v=spf1 ip4:192.0.2.0/24 -a:mail.example.com/28//64 "
                          "include:_spf.example.net ~all exp=why.%{d} foo=bar")

    assert [m.name for m in record.mechanisms] == ["ip4", "a", "include", "all"]
    a = record.mechanisms[1]
    assert (a.qualifier, a.cidr4, a.cidr6, a.domain_spec) == ("-", 28, 64, ("mail.example.com",))
    assert str(record.mechanisms[0].network) == "192.0.2.0/24"
    assert record.explanation == ("why.", Macro("d", None, False, "", False))
    assert record.redirect is None
    assert record.unknown_modifiers == ("foo=bar",)
    assert record.has_all


@pytest.mark.parametrize("text", [
    "v=spf1",
    "V=SPF1 ~ALL",
    "v=spf1 a  -all ",
    "v=spf1 moo.cow-far_out=man:dog/cat -all",
    "v=spf1 a:foo.example.xn--zckzah -all",
    "v=spf1 a:foo:bar/baz.example.com",
    "v=spf1 a:%{H} exists:%{ir}.%{l1r-}.lp._spf.%{d2} -all",
    "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
    "v=spf1 include:o.spf.example.com. ~all",
    "v=spf1 -all exp=explain.%{d}",
    "v=spf1 ip6:2001:db8::/32 ip6:::ffff:192.0.2.1 mx//0",
])
def test_valid_records_parse(text):
    parse_record(text)


@pytest.mark.parametrize("text", [
    "v=spf1 ip4:192.0.2.1 -all moo",  # an error after `all` still counts
    "v=spf1 -all.",
    "v=spf1 -all:foo",
    "v=spf1 =all",
    "v=spf1 1up=foo",
    "v=spf1 redirect:example.com",
    "v=spf1 ip4:192.0.2.1/33",
    "v=spf1 ip4:192.0.2.1/032",
    "v=spf1 ip4:192.0.2",
    "v=spf1 ip4:192.0.2.1:25",
    "v=spf1 ip4:192.0.2.1//32",
    "v=spf1 ip6::CAFE::BABE",
    "v=spf1 ip6:::1/129",
    "v=spf1 a/33",
    "v=spf1 a//129",
    "v=spf1 a/24/64",
    "v=spf1 a:",
    "v=spf1 a:museum",
    "v=spf1 a:museum.",
    "v=spf1 a:abc.123",
    "v=spf1 a:example.-com",
    "v=spf1 a:example.com:8080",
    "v=spf1 ptr/0",
    "v=spf1 include",
    "v=spf1 include:example.com/24",
    "v=spf1 exists",
    "v=spf1 exists:%(ir).bl.example.com",
    "v=spf1 exists:foo%.bl.example.com",
    "v=spf1 exists:%{a}.example.com",
    "v=spf1 exists:%{r}.example.com",  # c, r, t belong in explanation text only
    "v=spf1 exists:%{d0}.example.com",
    "v=spf1 exists:%{d2x}.example.com",
    "v=spf1 -all foo=%abc",
    "v=spf1 exp=",
    "v=spf1 exp=-all",
    "v=spf1 exp=a.example.com exp=b.example.com",
    "v=spf1 redirect=a.example.com redirect=b.example.com",
    "v=spf1 a:example.com\tptr",
    "v=spf1 a:\u00e9xample.com",
])
def test_syntax_errors_are_rejected(text):
    with pytest.raises(SpfSyntaxError):
        parse_record(text)


@pytest.mark.parametrize(("text", "is_spf"), [
    ("v=spf1 -all", True), ("V=SpF1", True), ("v=spf10 -all", False), ("v=spf1-all", False),
    ("spf1 -all", False),
])
def test_only_v_spf1_then_space_or_end_is_an_spf_record(text, is_spf):
    assert is_spf_record(text) is is_spf


def test_a_syntax_error_is_a_permerror_even_after_a_match():
    result = check(zone({"example.com": f"v=spf1 ip4:{CLIENT} -all moo"}))

    assert (result.result, result.code) == ("permerror", "SPF_SYNTAX")


# --- record selection ----------------------------------------------------------------------

def test_no_spf_record_is_none():
    assert check(zone({"example.com": "google-site-verification=abc"})).result == "none"


def test_two_spf_records_are_a_permerror():
    lookup = ZoneLookup({"example.com": [{"TXT": "v=spf1 -all"}, {"TXT": "v=spf1 +all"}]})

    result = check(lookup)

    assert (result.result, result.code) == ("permerror", "SPF_MULTIPLE_RECORDS")


def test_a_failed_lookup_is_a_temperror_not_a_missing_record():
    result = check(ZoneLookup({"example.com": ["TIMEOUT"]}))

    assert (result.result, result.code) == ("temperror", "DNS_TIMEOUT")


@pytest.mark.parametrize("domain",
                         ["localhost", "[192.0.2.3]", "a..example.com", "x" * 64 + ".com"])
def test_a_domain_that_is_not_a_fqdn_has_no_policy(domain):
    assert check(zone({}), domain=domain).result == "none"


# --- mechanisms ----------------------------------------------------------------------------

@pytest.mark.parametrize(("ip", "expected"), [
    ("192.0.2.200", "pass"),  # inside the /24 around 192.0.2.10
    ("198.51.100.1", "fail"),
    ("2001:db8:1::ffff", "pass"),  # inside the /64 around 2001:db8:1::1
    ("2001:db8:2::1", "fail"),
    ("::ffff:192.0.2.200", "pass"),  # IPv4-mapped is IPv4 (§5)
])
def test_a_uses_the_cidr_for_the_client_address_family(ip, expected):
    lookup = zone({"example.com": "v=spf1 a:mail.example.com/24//64 -all"},
                  {"mail.example.com": [{"A": "192.0.2.10"}, {"AAAA": "2001:db8:1::1"}]})

    assert check(lookup, ip=ip).result == expected


def test_mx_matches_the_addresses_of_the_exchanges():
    lookup = zone({"example.com": "v=spf1 mx -all"},
                  {"example.com": [{"MX": [10, "mx1.example.com"]},
                                   {"MX": [20, "mx2.example.com"]}],
                   "mx2.example.com": [{"A": CLIENT}]})

    assert check(lookup).result == "pass"


def test_mx_with_more_than_ten_names_is_a_permerror():
    exchanges = [{"MX": [n, f"mx{n}.example.com"]} for n in range(11)]
    lookup = zone({"example.com": "v=spf1 mx -all"}, {"example.com": exchanges})

    assert check(lookup).result == "permerror"


def test_ptr_matches_a_validated_name_within_the_domain():
    lookup = zone({"example.com": "v=spf1 ptr -all"},
                  {"3.2.0.192.in-addr.arpa": [{"PTR": "mail.example.com"}],
                   "mail.example.com": [{"A": CLIENT}]})

    assert check(lookup).result == "pass"


def test_ptr_does_not_match_a_name_that_does_not_resolve_back():
    lookup = zone({"example.com": "v=spf1 ptr -all"},
                  {"3.2.0.192.in-addr.arpa": [{"PTR": "mail.example.com"}],
                   "mail.example.com": [{"A": "198.51.100.1"}]})

    assert check(lookup).result == "fail"


def test_exists_looks_up_an_a_record_built_from_macros():
    lookup = zone({"example.com": "v=spf1 exists:%{ir}.allow.example.com -all"},
                  {"3.2.0.192.allow.example.com": [{"A": "127.0.0.2"}]})

    assert check(lookup).result == "pass"


@pytest.mark.parametrize(("included", "expected"), [
    ("v=spf1 +all", "pass"),
    ("v=spf1 -all", "neutral"),  # fail, softfail, neutral: no match, go on to ?all
    ("v=spf1 ~all", "neutral"),
    ("v=spf1 ?all", "neutral"),
    ("v=spf1 all moo", "permerror"),
])
def test_include_matches_only_when_the_included_record_passes(included, expected):
    lookup = zone({"example.com": "v=spf1 include:inc.example.net ?all",
                   "inc.example.net": included})

    assert check(lookup).result == expected


def test_include_of_a_domain_without_spf_is_a_permerror():
    result = check(zone({"example.com": "v=spf1 include:nothing.example.net ~all"}))

    assert (result.result, result.code) == ("permerror", "SPF_INCLUDE_NO_RECORD")


def test_include_of_a_domain_that_times_out_is_a_temperror():
    lookup = zone({"example.com": "v=spf1 include:slow.example.net ~all"},
                  {"slow.example.net": ["TIMEOUT"]})

    assert check(lookup).result == "temperror"


# --- redirect and exp ----------------------------------------------------------------------

def test_redirect_beside_all_is_ignored():
    lookup = zone({"example.com": "v=spf1 -all redirect=other.example.net",
                   "other.example.net": "v=spf1 +all"})

    result = check(lookup)

    assert (result.result, result.lookups) == ("fail", 0)


def test_redirect_applies_when_nothing_matched_and_uses_the_targets_exp():
    lookup = zone({"example.com": "v=spf1 ip4:198.51.100.1 exp=mine.example.com "
                                  "redirect=other.example.net",
                   "other.example.net": "v=spf1 -all exp=theirs.example.net",
                   "mine.example.com": "not this one",
                   "theirs.example.net": "%{i} may not send for %{d}"})

    result = check(lookup)

    assert result.result == "fail"
    assert result.explanation == f"{CLIENT} may not send for other.example.net"


def test_exp_expands_c_and_the_given_timestamp():
    lookup = zone({"example.com": "v=spf1 -all exp=why.example.com",
                   "why.example.com": "%{c} refused by %{r} at %{t}"})

    result = check(lookup, ip="2001:DB8::1", receiver="mx.penguinmails.test", timestamp=1700000000)

    assert result.explanation == "2001:db8::1 refused by mx.penguinmails.test at 1700000000"


def test_exp_is_ignored_when_its_text_is_malformed():
    lookup = zone({"example.com": "v=spf1 -all exp=why.example.com",
                   "why.example.com": "The %{x}-files"})

    assert check(lookup).explanation is None


# --- processing limits (§4.6.4) ------------------------------------------------------------

def _includes(count: int) -> ZoneLookup:
    includes = " ".join(f"include:i{n}.example.net" for n in range(count))
    records = {f"i{n}.example.net": "v=spf1 -all" for n in range(count)}
    return zone({"example.com": f"v=spf1 {includes} ~all", **records})


def test_ten_includes_are_allowed():
    result = check(_includes(MAX_DNS_LOOKUPS))

    assert (result.result, result.lookups) == ("softfail", 10)


def test_spf_over_ten_lookups_is_an_error():
    result = check(_includes(MAX_DNS_LOOKUPS + 1))

    assert (result.result, result.code, result.lookups) == ("permerror", "SPF_TOO_MANY_LOOKUPS", 11)


def test_lookups_are_counted_through_nested_includes():
    chain = {f"l{n}.example.net": f"v=spf1 a include:l{n + 1}.example.net" for n in range(5)}
    lookup = zone({"example.com": "v=spf1 include:l0.example.net -all", **chain},
                  {f"l{n}.example.net": [{"A": "198.51.100.1"}] for n in range(6)})

    result = check(lookup)

    assert (result.result, result.code) == ("permerror", "SPF_TOO_MANY_LOOKUPS")


def test_two_void_lookups_are_allowed():
    lookup = zone({"example.com": "v=spf1 a:nx1.example.com a:nx2.example.com -all"})

    result = check(lookup)

    assert (result.result, result.void_lookups) == ("fail", 2)


def test_three_void_lookups_are_an_error():
    lookup = zone({"example.com": "v=spf1 a:nx1.example.com mx:nx2.example.com "
                                  "exists:nx3.example.com -all"})

    result = check(lookup)

    assert (result.result, result.code, result.void_lookups) == ("permerror", "SPF_VOID_LOOKUPS", 3)


def test_an_explanation_lookup_is_not_a_void_lookup():
    lookup = zone({"example.com": "v=spf1 a:nx1.example.com a:nx2.example.com -all "
                                  "exp=nx3.example.com"})

    result = check(lookup)

    assert (result.result, result.explanation, result.void_lookups) == ("fail", None, 2)


def test_include_loop_is_an_error():
    lookup = zone({"example.com": "v=spf1 include:loop.example.net -all",
                   "loop.example.net": "v=spf1 include:example.com"})

    result = check(lookup)

    # A loop can only end at the lookup limit; naming it is the same verdict, said better.
    assert (result.result, result.code) == ("permerror", "SPF_INCLUDE_LOOP")


def test_redirect_to_itself_is_an_error():
    result = check(zone({"example.com": "v=spf1 ip4:198.51.100.1 redirect=example.com"}))

    assert (result.result, result.code) == ("permerror", "SPF_INCLUDE_LOOP")


def test_including_the_same_domain_twice_is_not_a_loop():
    lookup = zone({"example.com": "v=spf1 include:inc.example.net include:inc.example.net ~all",
                   "inc.example.net": "v=spf1 -all"})

    assert check(lookup).result == "softfail"


# --- macros (§7.4 examples) ----------------------------------------------------------------

PTR_ZONE = zone({}, {"3.2.0.192.in-addr.arpa": [{"PTR": "mx.example.org"}],
                     "mx.example.org": [{"A": CLIENT}]})


@pytest.mark.parametrize(("macro", "expansion"), [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%{p}", "mx.example.org"),
    ("%%%_%-", "% %20"),
    ("%{L}", "strong-bad"),
])
def test_rfc7208_macro_examples(macro, expansion):
    assert expand_macros(macro, CLIENT, "email.example.com", SENDER, HELO, PTR_ZONE) == expansion


def test_rfc7208_ipv6_macro_example():
    expanded = expand_macros("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01", "email.example.com",
                             SENDER, HELO, zone({}))

    assert expanded == ("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                        ".ip6._spf.example.com")


def test_upper_case_macros_are_url_escaped():
    expanded = expand_macros("%{L}", CLIENT, "example.com", "~jack&jill=up@example.com", HELO,
                             zone({}))

    assert expanded == "~jack%26jill%3Dup"


def test_p_is_unknown_without_a_validated_name():
    assert expand_macros("%{p}", CLIENT, "example.com", SENDER, HELO, zone({})) == "unknown"


@pytest.mark.parametrize("sender", ["@example.com", ""])
def test_a_sender_without_local_part_is_postmaster(sender):
    assert expand_macros("%{s}", CLIENT, "example.com", sender, "example.com",
                         zone({})) == "postmaster@example.com"
