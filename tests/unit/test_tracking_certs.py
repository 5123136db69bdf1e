"""Certificate keys, requests and issued chains of tracking hosts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.tracking_certs import (CertificateError, certificate_request, check_issued,
                                     inspect, key_matches, new_account_key,
                                     new_certificate_key, parse_chain)

HOST = "track.example.com"


def issue(private_key_pem: bytes, names: list[str]) -> str:
    """A chain as a CA sends it: a leaf for `names` signed by a throwaway intermediate."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Intermediate")])
    now = datetime.now(timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
          .sign(ca_key, hashes.SHA256()))
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(0xBEEF)
            .not_valid_before(now).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, ca))


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return new_certificate_key()


def test_the_request_names_exactly_the_host_in_its_san(key_pem):
    request = x509.load_pem_x509_csr(certificate_request(key_pem, HOST))
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOST]
    assert request.is_signature_valid


def test_certificate_keys_are_p256_and_account_keys_rsa(key_pem):
    assert isinstance(serialization.load_pem_private_key(key_pem, None), ec.EllipticCurvePrivateKey)
    account = serialization.load_pem_private_key(new_account_key(), None)
    assert account.key_size == 2048


def test_an_issued_chain_is_read_leaf_first(key_pem):
    chain = issue(key_pem, [HOST])
    info = check_issued(chain, key_pem, HOST)
    assert info.serial == "beef" and info.names == (HOST,)
    assert info.not_after - info.not_before == timedelta(days=90)
    assert "Test Intermediate" in info.issuer
    assert len(parse_chain(chain)) == 2


def test_a_certificate_for_other_names_is_refused(key_pem):
    with pytest.raises(CertificateError, match="names other.example.com"):
        check_issued(issue(key_pem, ["other.example.com"]), key_pem, HOST)
    with pytest.raises(CertificateError):
        check_issued(issue(key_pem, [HOST, "extra.example.com"]), key_pem, HOST)


def test_a_certificate_for_another_key_is_refused(key_pem):
    chain = issue(new_certificate_key(), [HOST])
    assert not key_matches(key_pem, parse_chain(chain)[0])
    with pytest.raises(CertificateError, match="not for the key"):
        check_issued(chain, key_pem, HOST)


def test_text_that_is_no_certificate_is_a_certificate_error():
    with pytest.raises(CertificateError):
        inspect("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
