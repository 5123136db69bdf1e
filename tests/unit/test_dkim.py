"""DKIM keys and key records (RFC 6376 §3.2, §3.6.1; RFC 8463): generate, parse, compare, sign."""

from __future__ import annotations

import base64
import textwrap

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.core.dkim import (
    DkimError,
    DkimSyntaxError,
    dkim_record_value,
    generate_key,
    parse_dkim_record,
    same_public_key,
    sign_message,
)

MESSAGE = (
    b"From: Ada <ada@example.com>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: Quarterly numbers\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"List-Unsubscribe: <https://example.com/u/1>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\nthe numbers are attached.\r\n"
)


@pytest.fixture(scope="module")
def rsa_key():
    return generate_key()


@pytest.fixture(scope="module")
def other_rsa_key():
    return generate_key()


@pytest.fixture(scope="module")
def ed_key():
    return generate_key("ed25519")


def spki_b64(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def serve(records: dict[str, str | bytes]):
    """A dnsfunc for dkimpy answering `<selector>._domainkey.<domain>` from `records`."""
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip("."))
        return value.encode() if isinstance(value, str) else value
    return dnsfunc


# --- Key generation -----------------------------------------------------------------------


def test_default_key_is_rsa_2048_with_pkcs8_private_and_spki_public(rsa_key):
    assert (rsa_key.algorithm, rsa_key.bits) == ("rsa", 2048)
    assert rsa_key.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    private = serialization.load_pem_private_key(rsa_key.private_key_pem, password=None)
    public = serialization.load_der_public_key(base64.b64decode(rsa_key.public_key_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert public.public_numbers().e == 65537


@pytest.mark.parametrize("bits", [3072, 4096])
def test_larger_rsa_keys_are_allowed(bits):
    key = generate_key("rsa", bits)
    assert key.bits == bits
    assert parse_dkim_record(key.record_value()).key_bits() == bits


@pytest.mark.parametrize("bits", [512, 1024, 1536, 2047, 8192])
def test_other_rsa_sizes_are_refused_with_a_stable_code(bits):
    with pytest.raises(DkimError) as refused:
        generate_key("rsa", bits)
    assert refused.value.code == "DKIM_KEY_SIZE_REFUSED"
    assert str(bits) in refused.value.message
    assert refused.value.fix


@pytest.mark.parametrize("algorithm", ["dsa", "ecdsa", "rsa-sha1", ""])
def test_unknown_algorithms_are_refused(algorithm):
    with pytest.raises(DkimError) as refused:
        generate_key(algorithm)
    assert refused.value.code == "DKIM_ALGORITHM_UNSUPPORTED"


def test_ed25519_key_publishes_the_raw_32_byte_public_key(ed_key):
    assert (ed_key.algorithm, ed_key.bits) == ("ed25519", 256)
    raw = base64.b64decode(ed_key.public_key_b64)
    assert len(raw) == 32  # RFC 8463 §4.2: not a SubjectPublicKeyInfo
    private = serialization.load_pem_private_key(ed_key.private_key_pem, password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert private.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw) == raw


def test_ed25519_has_no_size_choice():
    with pytest.raises(DkimError) as refused:
        generate_key("ed25519", 2048)
    assert refused.value.code == "DKIM_KEY_SIZE_REFUSED"


def test_generated_key_repr_never_shows_the_private_key(rsa_key):
    assert b"PRIVATE" not in repr(rsa_key).encode()
    assert rsa_key.public_key_b64 in repr(rsa_key)


def test_record_value_is_the_standard_three_tags(rsa_key, ed_key):
    assert rsa_key.record_value() == f"v=DKIM1; k=rsa; p={rsa_key.public_key_b64}"
    assert dkim_record_value(ed_key.public_key_b64, "ed25519") == (
        f"v=DKIM1; k=ed25519; p={ed_key.public_key_b64}")


def test_record_value_refuses_an_unknown_algorithm(rsa_key):
    with pytest.raises(DkimError) as refused:
        dkim_record_value(rsa_key.public_key_b64, "dsa")
    assert refused.value.code == "DKIM_ALGORITHM_UNSUPPORTED"


# --- Parsing: the forms a correct record arrives in ---------------------------------------


def test_generated_record_round_trips(rsa_key):
    record = parse_dkim_record(rsa_key.record_value())
    assert record.version == "DKIM1"
    assert record.key_type == "rsa"
    assert record.public_key_bytes == base64.b64decode(rsa_key.public_key_b64)
    assert record.key_bits() == 2048
    assert not record.revoked and not record.testing and not record.sha1_only
    assert record.hash_algorithms is None
    assert record.service_types == ("*",)
    assert record.flags == frozenset()
    assert same_public_key(record, base64.b64decode(rsa_key.public_key_b64))


def test_ed25519_record_round_trips(ed_key):
    record = parse_dkim_record(ed_key.record_value())
    assert record.key_type == "ed25519"
    assert record.public_key_bytes == base64.b64decode(ed_key.public_key_b64)
    assert record.key_bits() is None  # fixed strength: no RSA-style size to judge
    assert isinstance(record.public_key(), ed25519.Ed25519PublicKey)
    assert same_public_key(record, parse_dkim_record(ed_key.record_value()))


def test_txt_split_into_255_character_strings_is_concatenated(rsa_key):
    value = rsa_key.record_value()
    strings = [value[i:i + 255] for i in range(0, len(value), 255)]
    assert len(strings) == 2
    assert same_public_key(parse_dkim_record(strings), parse_dkim_record(value))
    as_bytes = [part.encode() for part in strings]
    assert parse_dkim_record(as_bytes).public_key_bytes == parse_dkim_record(value).public_key_bytes


def test_zone_file_quoting_is_removed(rsa_key):
    p = rsa_key.public_key_b64
    zone_text = f'( "v=DKIM1; k=rsa; "\n\t"p={p[:200]}"\n\t"{p[200:]}" )'
    record = parse_dkim_record(zone_text)
    assert same_public_key(record, base64.b64decode(p))
    assert parse_dkim_record(f'"v=DKIM1; k=rsa; p={p}"').key_bits() == 2048


def test_escaped_semicolons_in_quoted_zone_text_are_unescaped(rsa_key):
    record = parse_dkim_record(f'"v=DKIM1\\; k=rsa\\; p={rsa_key.public_key_b64}"')
    assert record.key_bits() == 2048
    decimal = parse_dkim_record(f'"v=DKIM1\\059 k=rsa\\059 p={rsa_key.public_key_b64}"')
    assert decimal.public_key_bytes == record.public_key_bytes


def test_whitespace_around_tags_and_values_does_not_matter(rsa_key):
    value = f"  v = DKIM1 ;\tk=rsa ;\r\n p = {rsa_key.public_key_b64}  "
    assert parse_dkim_record(value).key_bits() == 2048


def test_folding_whitespace_inside_p_is_ignored(rsa_key):
    folded = "\r\n\t".join(textwrap.wrap(rsa_key.public_key_b64, 60))
    record = parse_dkim_record(f"v=DKIM1; k=rsa;\r\n p={folded}")
    assert same_public_key(record, base64.b64decode(rsa_key.public_key_b64))


def test_dns_host_that_inserts_spaces_in_p_still_matches(rsa_key):
    # Some DNS hosts' panels and exports break long values with spaces every N characters.
    spaced = " ".join(textwrap.wrap(rsa_key.public_key_b64, 64))
    published = f"v=DKIM1; k=rsa; p={spaced}"
    record = parse_dkim_record(published)
    assert same_public_key(record, parse_dkim_record(rsa_key.record_value()))
    assert record.key_bits() == 2048


@pytest.mark.parametrize("tail", [";", "; ", ";\r\n", " ; "])
def test_a_trailing_semicolon_is_allowed(rsa_key, tail):
    assert parse_dkim_record(rsa_key.record_value() + tail).key_bits() == 2048


@pytest.mark.parametrize("template", [
    "p={p}; k=rsa",
    "k=rsa; p={p}",
    "p={p}",
    "v=DKIM1; p={p}; k=rsa",
    "v=DKIM1; n=our key; p={p}; h=sha256; k=rsa; s=email; t=s",
])
def test_tag_order_does_not_matter(rsa_key, template):
    record = parse_dkim_record(template.format(p=rsa_key.public_key_b64))
    assert record.key_type == "rsa"
    assert same_public_key(record, base64.b64decode(rsa_key.public_key_b64))


def test_case_insensitive_values_are_normalised(rsa_key):
    record = parse_dkim_record(
        f"v=DKIM1; k=RSA; h=SHA256:Sha1; t=Y:S; s=Email; p={rsa_key.public_key_b64}")
    assert record.key_type == "rsa"
    assert record.hash_algorithms == ("sha256", "sha1")
    assert record.flags == {"y", "s"}
    assert record.service_types == ("email",)
    assert record.key_bits() == 2048


def test_colon_lists_allow_whitespace_around_colons(rsa_key):
    record = parse_dkim_record(f"h=sha1 : sha256; t=y :s; p={rsa_key.public_key_b64}")
    assert record.hash_algorithms == ("sha1", "sha256")
    assert record.flags == {"y", "s"}


def test_unknown_tags_are_ignored(rsa_key):
    record = parse_dkim_record(f"v=DKIM1; g=*; x_vendor=abc; k=rsa; p={rsa_key.public_key_b64}")
    assert record.key_bits() == 2048
    assert record.tags["x_vendor"] == "abc"


def test_notes_are_kept_as_published(rsa_key):
    record = parse_dkim_record(f"v=DKIM1; n=rotated=2026-03; p={rsa_key.public_key_b64}")
    assert record.notes == "rotated=2026-03"


def test_version_is_optional(rsa_key):
    assert parse_dkim_record(f"k=rsa; p={rsa_key.public_key_b64}").version is None


# --- Parsing: what the validator reports ---------------------------------------------------


def test_empty_p_means_revoked():
    record = parse_dkim_record("v=DKIM1; k=rsa; p=")
    assert record.revoked
    assert record.key_bits() is None
    with pytest.raises(DkimError) as invalid:
        record.public_key()
    assert invalid.value.code == "DKIM_KEY_INVALID"
    assert "revoked" in invalid.value.message


def test_revoked_key_matches_no_key(rsa_key):
    revoked = parse_dkim_record("v=DKIM1; p=")
    assert not same_public_key(revoked, b"")
    assert not same_public_key(parse_dkim_record(rsa_key.record_value()), revoked)


def test_t_y_marks_testing_mode(rsa_key):
    record = parse_dkim_record(f"v=DKIM1; t=y; p={rsa_key.public_key_b64}")
    assert record.testing


def test_unknown_flags_are_kept_but_do_not_mean_testing(rsa_key):
    record = parse_dkim_record(f"v=DKIM1; t=s:x; p={rsa_key.public_key_b64}")
    assert record.flags == {"s", "x"}
    assert not record.testing


def test_h_sha1_alone_is_sha1_only(rsa_key):
    assert parse_dkim_record(f"h=sha1; p={rsa_key.public_key_b64}").sha1_only
    assert not parse_dkim_record(f"h=sha1:sha256; p={rsa_key.public_key_b64}").sha1_only
    assert not parse_dkim_record(f"p={rsa_key.public_key_b64}").sha1_only


def test_1024_bit_key_is_detected():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    assert parse_dkim_record(f"v=DKIM1; k=rsa; p={spki_b64(weak)}").key_bits() == 1024


def test_bare_pkcs1_key_in_p_is_read_and_matches_the_same_key_as_spki():
    # RFC 6376 §3.6.1's text names RSAPublicKey; generators publish SubjectPublicKeyInfo.
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pkcs1 = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    record = parse_dkim_record(f"p={base64.b64encode(pkcs1).decode()}")
    assert record.key_bits() == 2048
    assert same_public_key(record, base64.b64decode(spki_b64(public)))
    assert dkimpy.evaluate_pk(b"pm1._domainkey.example.com", "p=" + record.tags["p"])[1] == 2048


def test_p_that_is_base64_but_not_a_key_is_invalid_not_a_syntax_error():
    record = parse_dkim_record("v=DKIM1; k=rsa; p=" + base64.b64encode(b"not a key").decode())
    with pytest.raises(DkimError) as invalid:
        record.key_bits()
    assert invalid.value.code == "DKIM_KEY_INVALID"
    assert not isinstance(invalid.value, DkimSyntaxError)


def test_non_rsa_key_under_k_rsa_is_invalid():
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(DkimError) as invalid:
        parse_dkim_record(f"k=rsa; p={spki_b64(ec_key)}").public_key()
    assert invalid.value.code == "DKIM_KEY_INVALID"
    assert "not RSA" in invalid.value.message


def test_ed25519_p_of_the_wrong_length_is_invalid():
    record = parse_dkim_record("k=ed25519; p=" + base64.b64encode(bytes(31)).decode())
    with pytest.raises(DkimError) as invalid:
        record.public_key()
    assert invalid.value.code == "DKIM_KEY_INVALID"
    assert "32 bytes" in invalid.value.message


def test_unknown_key_type_parses_but_its_key_is_invalid(rsa_key):
    record = parse_dkim_record(f"k=dsa; p={rsa_key.public_key_b64}")
    assert record.key_type == "dsa"
    with pytest.raises(DkimError) as invalid:
        record.key_bits()
    assert invalid.value.code == "DKIM_KEY_INVALID"


@pytest.mark.parametrize("value, words", [
    ("v=DKIM1; k=rsa; p=MIIB!@#$", "characters base64 does not use"),
    ("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMII", "not a multiple of 4"),
    ("v=DKIM1; k=rsa; p=MIIB=AAA", "characters base64 does not use"),
    ("v=DKIM1; k=rsa; p=AAAA; k=rsa", "k= appears more than once"),
    ("p=AAAA; p=AAAA", "p= appears more than once"),
    ("k=rsa; v=DKIM1; p=AAAA", "v= must be the first tag"),
    ("v=DKIM2; p=AAAA", "v= must be exactly DKIM1"),
    # RFC 6376 §3.6.1 writes DKIM1 as %x44.4B.49.4D.31: case-sensitive, unlike other values.
    ("v=dkim1; p=AAAA", "v= must be exactly DKIM1"),
    ("v=DKIM1; k=rsa", "no p= tag"),
    ("v=DKIM1; k=rsa; P=AAAA", "case-sensitive"),
    ("", "empty"),
    ("  ", "empty"),
    ("v=DKIM1;; p=AAAA", "Tag 2 of the record is empty"),
    ("v=DKIM1; k rsa; p=AAAA", "has no '='"),
    ("v=DKIM1; 1k=rsa; p=AAAA", "not a valid tag name"),
    ("v=DKIM1; =rsa; p=AAAA", "not a valid tag name"),
    ("v=DKIM1; h=sha256:; p=AAAA", "h= has an empty entry"),
    ("v=DKIM1; n=caf\u00e9; p=AAAA", "non-ASCII"),
    ("v=DKIM1; n=a\x01b; p=AAAA", "not allowed"),
    ('"v=DKIM1; p=AAAA', "not closed"),
    ('"v=DKIM1; " p=AAAA', "outside the quoted strings"),
])
def test_malformed_records_are_syntax_errors_with_a_precise_message(value, words):
    with pytest.raises(DkimSyntaxError) as bad:
        parse_dkim_record(value)
    assert bad.value.code == "DKIM_SYNTAX"
    assert words in bad.value.message
    assert bad.value.fix


# --- Comparing keys ------------------------------------------------------------------------


def test_same_key_matches_whatever_the_formatting(rsa_key):
    ours = parse_dkim_record(rsa_key.record_value())
    spaced = " ".join(textwrap.wrap(rsa_key.public_key_b64, 50))
    theirs = parse_dkim_record([f"k=RSA;p={spaced[:150]}", f"{spaced[150:]}  ;"])
    assert same_public_key(ours, theirs)
    assert same_public_key(theirs, base64.b64decode(rsa_key.public_key_b64))


def test_different_keys_do_not_match(rsa_key, other_rsa_key, ed_key):
    ours = parse_dkim_record(rsa_key.record_value())
    assert not same_public_key(ours, parse_dkim_record(other_rsa_key.record_value()))
    assert not same_public_key(ours, base64.b64decode(other_rsa_key.public_key_b64))
    assert not same_public_key(ours, parse_dkim_record(ed_key.record_value()))
    assert not same_public_key(ours, b"garbage")


def test_key_with_the_same_bytes_under_another_type_does_not_match(ed_key):
    ed = parse_dkim_record(ed_key.record_value())
    assert not same_public_key(ed, parse_dkim_record(f"k=rsa; p={ed_key.public_key_b64}"))


# --- Signing -------------------------------------------------------------------------------


def test_rsa_signature_verifies_with_dkimpy_against_our_record(rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    assert signed.endswith(MESSAGE)
    dns = serve({"pm1._domainkey.example.com": rsa_key.record_value()})
    assert dkimpy.verify(signed, dnsfunc=dns)


def test_signature_is_relaxed_relaxed_and_oversigns_from_and_list_unsubscribe(rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    assert "c=relaxed/relaxed" in header
    h_tag = header.split("h=", 1)[1].split(";", 1)[0]
    signed_headers = [name.strip() for name in h_tag.replace("\r\n", "").split(":")]
    assert signed_headers.count("from") == 2
    assert signed_headers.count("list-unsubscribe") == 2
    assert signed_headers.count("list-unsubscribe-post") == 2
    assert "cc" not in signed_headers  # absent headers are not listed
    assert "dkim-signature" not in signed_headers


def test_relaxed_canonicalisation_survives_rewrapping_of_headers(rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    rewrapped = signed.replace(b"Subject: Quarterly numbers", b"Subject:   Quarterly\r\n numbers")
    dns = serve({"pm1._domainkey.example.com": rsa_key.record_value()})
    assert dkimpy.verify(rewrapped, dnsfunc=dns)


def test_an_added_from_header_breaks_the_signature(rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    forged = signed.replace(b"\r\n\r\nHello", b"\r\nFrom: ceo@example.com\r\n\r\nHello", 1)
    dns = serve({"pm1._domainkey.example.com": rsa_key.record_value()})
    assert not dkimpy.verify(forged, dnsfunc=dns)


def test_signature_verifies_against_a_split_and_spaced_published_record(rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    spaced = "v=DKIM1; k=rsa; p=" + " ".join(textwrap.wrap(rsa_key.public_key_b64, 64)) + ";"
    assert same_public_key(parse_dkim_record(spaced), parse_dkim_record(rsa_key.record_value()))
    assert dkimpy.verify(signed, dnsfunc=serve({"pm1._domainkey.example.com": spaced}))


def test_signature_does_not_verify_against_another_key(rsa_key, other_rsa_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    dns = serve({"pm1._domainkey.example.com": other_rsa_key.record_value()})
    assert not dkimpy.verify(signed, dnsfunc=dns)


def test_message_with_bare_lf_line_endings_is_signed_consistently(rsa_key):
    message = MESSAGE.replace(b"\r\n", b"\n")
    signed = sign_message(message, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    assert b"\r\n" not in signed
    dns = serve({"pm1._domainkey.example.com": rsa_key.record_value()})
    assert dkimpy.verify(signed, dnsfunc=dns)


def test_ed25519_signature_verifies_with_dkimpy(ed_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1e",
                          private_key_pem=ed_key.private_key_pem, algorithm="ed25519")
    assert b"a=ed25519-sha256" in signed
    dns = serve({"pm1e._domainkey.example.com": ed_key.record_value()})
    assert dkimpy.verify(signed, dnsfunc=dns)


def test_dual_signed_message_carries_two_valid_signatures(rsa_key, ed_key):
    signed = sign_message(MESSAGE, domain="example.com", selector="pm1",
                          private_key_pem=rsa_key.private_key_pem)
    signed = sign_message(signed, domain="example.com", selector="pm1e",
                          private_key_pem=ed_key.private_key_pem, algorithm="ed25519")
    dns = serve({"pm1._domainkey.example.com": rsa_key.record_value(),
                 "pm1e._domainkey.example.com": ed_key.record_value()})
    verifier = dkimpy.DKIM(signed)
    assert verifier.verify(idx=0, dnsfunc=dns)  # ed25519, topmost
    assert verifier.verify(idx=1, dnsfunc=dns)  # rsa


def test_message_without_from_cannot_be_signed(rsa_key):
    with pytest.raises(DkimError) as refused:
        sign_message(b"To: bob@example.org\r\nSubject: x\r\n\r\nbody\r\n", domain="example.com",
                     selector="pm1", private_key_pem=rsa_key.private_key_pem)
    assert refused.value.code == "DKIM_MESSAGE_NO_FROM"


def test_private_key_must_match_the_algorithm(rsa_key, ed_key):
    with pytest.raises(DkimError) as mismatch:
        sign_message(MESSAGE, domain="example.com", selector="pm1",
                     private_key_pem=ed_key.private_key_pem, algorithm="rsa")
    assert mismatch.value.code == "DKIM_SIGNING_KEY_INVALID"
    with pytest.raises(DkimError) as mismatch:
        sign_message(MESSAGE, domain="example.com", selector="pm1",
                     private_key_pem=rsa_key.private_key_pem, algorithm="ed25519")
    assert mismatch.value.code == "DKIM_SIGNING_KEY_INVALID"


def test_garbage_private_key_is_refused_without_echoing_it():
    with pytest.raises(DkimError) as refused:
        sign_message(MESSAGE, domain="example.com", selector="pm1",
                     private_key_pem=b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n"
                                     b"-----END PRIVATE KEY-----\n")
    assert refused.value.code == "DKIM_SIGNING_KEY_INVALID"
    assert "c2VjcmV0" not in refused.value.message


def test_internationalised_domain_must_be_given_as_a_label(rsa_key):
    with pytest.raises(DkimError) as refused:
        sign_message(MESSAGE, domain="bücher.example", selector="pm1",
                     private_key_pem=rsa_key.private_key_pem)
    assert refused.value.code == "DKIM_SIGNING_FAILED"
    assert "A-label" in refused.value.message
