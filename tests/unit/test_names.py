"""Domain names typed into "Add domain": what is accepted, how it is stored, and why not."""

from __future__ import annotations

import pytest

from app.core.names import (
    DomainNameError,
    display_name,
    is_ldh_label,
    is_subdomain_of,
    normalise_domain,
    organisational_domain,
)


def rejection(raw: str) -> DomainNameError:
    with pytest.raises(DomainNameError) as caught:
        normalise_domain(raw)
    return caught.value


# --- accepted names and their stored form ---------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("  example.com \t\n", "example.com"),
        (" Mail.Example.Co.UK. ", "mail.example.co.uk"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"),
        ("bücher。example", "xn--bcher-kva.example"),  # ideographic full stop, UTS #46
        ("ｅｘａｍｐｌｅ.com", "example.com"),  # full-width letters, UTS #46 mapping
        ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008 keeps ß (non-transitional)
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("例え.jp", "xn--r8jz45g.jp"),
        ("user.github.io", "user.github.io"),
        ("www.ck", "www.ck"),  # PSL exception rule !www.ck
        ("a-b.example.com", "a-b.example.com"),
        ("123.example.com", "123.example.com"),
        ("3com.com", "3com.com"),
        ("news.example.co.uk", "news.example.co.uk"),
        ("example.notarealtld", "example.notarealtld"),  # unknown TLDs follow the PSL * rule
    ],
)
def test_accepted_names_are_stored_lower_case_a_labels(typed, stored):
    assert normalise_domain(typed) == stored


def test_normalising_is_idempotent():
    for typed in ("Bücher.Example.", "xn--strae-oqa.de", "mail.example.co.uk"):
        once = normalise_domain(typed)
        assert normalise_domain(once) == once


def test_only_one_trailing_dot_is_removed():
    assert rejection("example.com..").code == "not_a_hostname"


def test_a_label_of_63_octets_is_accepted():
    assert normalise_domain("a" * 63 + ".com") == "a" * 63 + ".com"


def test_a_name_of_253_octets_is_accepted():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])
    assert len(name) == 253
    assert normalise_domain(name) == name


def test_a_name_of_253_octets_with_its_trailing_dot_is_accepted():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])
    assert normalise_domain(name + ".") == name


# --- rejections, each with a stable code ----------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   ", "\t\n"])
def test_nothing_typed_is_empty(typed):
    assert rejection(typed).code == "empty"


@pytest.mark.parametrize(
    "typed",
    [
        "exa mple.com",
        "exa$mple.com",
        "example,com",
        "a..example.com",
        ".example.com",
        "-example.com",
        "example-.com",
        "mail.-example.com",
        "ab--cd.com",  # "--" in places 3-4 is reserved for xn-- (RFC 5891 §4.2.3.1)
        "xn--abc.com",  # not valid punycode
        "😀.com",
        "example.123",
        ".",
    ],
)
def test_names_that_are_not_hostnames_are_rejected(typed):
    assert rejection(typed).code == "not_a_hostname"


@pytest.mark.parametrize("typed", ["_dmarc.example.com", "mail_server.example.com"])
def test_underscore_labels_are_not_sending_domains(typed):
    error = rejection(typed)
    assert error.code == "not_a_hostname"
    assert "underscore" in error.message


@pytest.mark.parametrize("typed", ["localhost", "intranet", "LOCALHOST."])
def test_a_single_unlisted_label_is_not_a_hostname(typed):
    error = rejection(typed)
    assert error.code == "not_a_hostname"
    assert "example.com" in error.message


def test_hyphen_at_the_edge_of_a_label_says_so():
    assert "hyphen" in rejection("example-.com").message


def test_an_empty_label_says_to_remove_the_extra_dot():
    assert "dot" in rejection("a..example.com").message


def test_reserved_hyphens_message_mentions_xn():
    assert "xn--" in rejection("ab--cd.com").message


@pytest.mark.parametrize(
    "typed",
    [
        "192.0.2.1",
        "192.0.2.1.",
        " 192.0.2.1 ",
        "2001:db8::1",
        "[2001:db8::1]",
        "::1",
        "[::1]",
        "::ffff:192.0.2.1",
        "127.1",  # IPv4 shorthand: all-numeric labels
    ],
)
def test_ip_addresses_are_rejected(typed):
    error = rejection(typed)
    assert error.code == "ip_address"
    assert "domain" in error.message


def test_a_64_octet_label_is_too_long_and_named():
    label = "a" * 64
    error = rejection(f"{label}.example.com")
    assert error.code == "label_too_long"
    assert label in error.message
    assert "63" in error.message


def test_a_unicode_label_is_measured_in_its_encoded_form():
    label = "ü" * 60  # 60 characters, but its A-label is longer than 63 octets
    error = rejection(f"{label}.com")
    assert error.code == "label_too_long"
    assert "encoded" in error.message


def test_a_254_octet_name_is_too_long():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 58, "com"])
    assert len(name) == 254
    error = rejection(name)
    assert error.code == "name_too_long"
    assert "254" in error.message and "253" in error.message


@pytest.mark.parametrize(
    "typed", ["com", "COM.", "co.uk", "github.io", "herokuapp.com", "рф", "foo.ck", "kobe.jp"]
)
def test_public_suffixes_are_rejected(typed):
    error = rejection(typed)
    assert error.code == "public_suffix"
    assert "public suffix" in error.message


def test_public_suffix_message_suggests_a_name_under_it():
    assert "yourcompany.co.uk" in rejection("co.uk").message


def test_unicode_public_suffix_is_named_in_unicode():
    assert "рф" in rejection("рф").message


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("https://example.com/path", "example.com"),
        ("http://Example.com", "example.com"),
        ("https://mail.example.com:8443/login?next=/", "mail.example.com"),
        ("example.com/path", "example.com"),
        ("example.com/", "example.com"),
        ("example.com?x=1", "example.com"),
        ("example.com#top", "example.com"),
        ("user@example.com", "example.com"),
        ("mailto:user@example.com", "example.com"),
        ("example.com:8080", "example.com"),
    ],
)
def test_urls_and_addresses_are_rejected_with_the_domain_to_type(typed, suggested):
    error = rejection(typed)
    assert error.code == "url_not_domain"
    assert suggested in error.message


def test_email_paste_message_says_what_to_type():
    assert "after the @" in rejection("user@example.com").message


def test_url_paste_message_says_what_to_type():
    assert "without http://" in rejection("https://example.com/").message


def test_domain_name_error_is_a_value_error_carrying_code_and_message():
    error = rejection("co.uk")
    assert isinstance(error, ValueError)
    assert str(error) == error.message


# --- organisational domain (RFC 7489 §3.2) --------------------------------------------------


@pytest.mark.parametrize(
    ("fqdn", "organisational"),
    [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("mail.example.co.uk", "example.co.uk"),
        ("a.b.c.example.co.uk", "example.co.uk"),
        ("news.example.co.uk", "example.co.uk"),
        ("user.github.io", "user.github.io"),  # private PSL section counts
        ("blog.user.github.io", "user.github.io"),
        ("mail.xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("Mail.Example.COM.", "example.com"),
        ("x.bar.foo.ck", "bar.foo.ck"),  # wildcard rule *.ck
        ("mail.www.ck", "www.ck"),  # exception rule !www.ck
    ],
)
def test_organisational_domain_comes_from_the_public_suffix_list(fqdn, organisational):
    assert organisational_domain(fqdn) == organisational


@pytest.mark.parametrize("fqdn", ["co.uk", "com", "github.io"])
def test_a_public_suffix_has_no_organisational_domain(fqdn):
    with pytest.raises(DomainNameError) as caught:
        organisational_domain(fqdn)
    assert caught.value.code == "public_suffix"


# --- subdomains -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        ("news.example.com", "example.com", True),
        ("a.b.example.com", "example.com", True),
        ("News.Example.COM.", "example.com", True),
        ("example.com", "example.com", False),
        ("badexample.com", "example.com", False),
        ("example.com", "news.example.com", False),
        ("example.com.evil.test", "example.com", False),
        ("news.example.co.uk", "example.co.uk", True),
    ],
)
def test_is_subdomain_of_compares_whole_labels(child, parent, expected):
    assert is_subdomain_of(child, parent) is expected


# --- display --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fqdn", "shown"),
    [
        ("xn--bcher-kva.example", "bücher.example"),
        ("xn--e1afmkfd.xn--p1ai", "пример.рф"),
        ("mail.xn--strae-oqa.de", "mail.straße.de"),
        ("example.com", "example.com"),
        ("xn--abc.com", "xn--abc.com"),  # invalid punycode is shown as stored
    ],
)
def test_display_name_shows_unicode(fqdn, shown):
    assert display_name(fqdn) == shown


@pytest.mark.parametrize("typed", ["bücher.example", "пример.рф", "Straße.DE", "例え.jp"])
def test_display_name_of_a_normalised_name_normalises_back(typed):
    stored = normalise_domain(typed)
    assert normalise_domain(display_name(stored)) == stored


# --- LDH labels (selectors, our host labels) ------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("pm1", True),
        ("pm-bounces", True),
        ("PM1", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("", False),
        ("-pm", False),
        ("pm-", False),
        ("pm_1", False),
        ("pm.1", False),
        ("bücher", False),
    ],
)
def test_is_ldh_label(label, expected):
    assert is_ldh_label(label) is expected
