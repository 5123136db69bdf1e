"""Keys, certificate requests and issued chains of tracking hosts, with `cryptography`.

Pure: keys are generated and chains read here; storing them is the tracking job's business
(private keys go to the key store, never the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ACCOUNT_KEY_BITS = 2048  # RS256, which every ACME CA accepts for account keys


class CertificateError(ValueError):
    """An issued chain we cannot use: unreadable, for other names, or not for our key."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the portal shows and schedules renewal by; read from the leaf certificate."""

    serial: str  # hex, as CAs and browsers print it
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # DNS names in the subjectAltName
    issuer: str


def new_certificate_key() -> bytes:
    """A P-256 key (PKCS#8 PEM): quick to make, small handshakes, accepted by every browser."""
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def new_account_key() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=ACCOUNT_KEY_BITS))


def certificate_request(private_key_pem: bytes, hostname: str) -> bytes:
    """A CSR for exactly one DNS name; CAs take the names from the SAN (RFC 8555 §7.4)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]),
                              critical=False)
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM)


def parse_chain(chain_pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM chain, leaf first, as the CA sent them."""
    data = chain_pem.encode() if isinstance(chain_pem, str) else chain_pem
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError(f"the certificate chain is not readable PEM: {error}") from None
    return chain


def inspect(chain_pem: str | bytes) -> CertificateInfo:
    leaf = parse_chain(chain_pem)[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(serial=format(leaf.serial_number, "x"),
                           not_before=leaf.not_valid_before_utc,
                           not_after=leaf.not_valid_after_utc, names=names,
                           issuer=leaf.issuer.rfc4514_string())


def key_matches(private_key_pem: bytes, certificate: x509.Certificate) -> bool:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    return _public_bytes(key.public_key()) == _public_bytes(certificate.public_key())


def check_issued(chain_pem: str, private_key_pem: bytes, hostname: str) -> CertificateInfo:
    """The chain's details, once it is shown to be for `hostname` and our key."""
    info = inspect(chain_pem)
    if [name.lower() for name in info.names] != [hostname]:
        raise CertificateError(f"the certificate names {', '.join(info.names) or 'nothing'}, "
                               f"not {hostname}")
    if not key_matches(private_key_pem, parse_chain(chain_pem)[0]):
        raise CertificateError("the certificate is not for the key we asked with")
    return info


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
