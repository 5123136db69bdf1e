"""DKIM keys and key records: generate, publish, parse, compare, sign.

Pure: no Flask, database or network. The DNS side (fetching `<selector>._domainkey`) lives in
the resolver adapter; this module only reads what it is handed.

Records are parsed per RFC 6376 §3.2 (tag-list) and §3.6.1 (key record), so what users
publish is judged by its tags and key bytes: whitespace, quoting, string splitting, tag order,
trailing `;` and the case of case-insensitive values never make a correct record look wrong.

Ed25519 (RFC 8463) is supported for *dual signing only*: many receivers still ignore
ed25519-sha256 signatures, so a domain signed with Ed25519 alone would look unsigned to them.
Every domain keeps an RSA key; an Ed25519 key is an extra signature beside it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import dkim as dkimpy
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

DEFAULT_RSA_BITS = 2048
ALLOWED_RSA_BITS = (2048, 3072, 4096)
ALGORITHMS = ("rsa", "ed25519")

_SIGNATURE_ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}

# Headers signed when present. RFC 6376 §5.4.1 recommends these; List-Unsubscribe(-Post)
# must be covered for one-click unsubscribe (RFC 8058 §4).
SIGNED_HEADERS = (
    "from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding",
    "list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
)
# Signed once more than they occur ("over-signing", RFC 6376 §8.15), so nobody can add a
# second From or Subject that a mail client would show instead of the signed one.
OVERSIGNED_HEADERS = (
    "from", "reply-to", "subject", "date", "to", "cc", "message-id",
    "list-unsubscribe", "list-unsubscribe-post",
)

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # RFC 6376 §3.2 tag-name
_FWS = re.compile(r"[ \t\r\n]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


class DkimError(ValueError):
    """A DKIM problem a caller can act on: a stable `code`, a plain `message`, a `fix`."""

    def __init__(self, code: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix


class DkimSyntaxError(DkimError):
    """The TXT value is not a valid DKIM key record (RFC 6376 §3.6.1)."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__("DKIM_SYNTAX", message, fix)


# --- Key generation -----------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedKey:
    """A fresh key pair. The private half goes to the key store and nowhere else."""

    algorithm: str
    bits: int
    private_key_pem: bytes = field(repr=False)  # PKCS#8, unencrypted
    public_key_b64: str  # exactly what goes in p=

    def record_value(self) -> str:
        return dkim_record_value(self.public_key_b64, self.algorithm)


def generate_key(algorithm: str = "rsa", bits: int | None = None) -> GeneratedKey:
    """RSA-2048 unless asked for 3072/4096; Ed25519 (dual signing only) has no size choice."""
    algorithm = algorithm.lower()
    if algorithm == "rsa":
        bits = DEFAULT_RSA_BITS if bits is None else bits
        if bits not in ALLOWED_RSA_BITS:
            raise DkimError(
                "DKIM_KEY_SIZE_REFUSED",
                f"RSA keys of {bits} bits are not issued; "
                f"new keys are {', '.join(map(str, ALLOWED_RSA_BITS))} bits.",
                fix="Use 2048 bits (the default), or 3072/4096 if your DNS host accepts long TXT.",
            )
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        public_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    elif algorithm == "ed25519":
        if bits not in (None, 256):
            raise DkimError("DKIM_KEY_SIZE_REFUSED",
                            f"Ed25519 keys are always 256 bits, not {bits}.",
                            fix="Leave the size unset for Ed25519.")
        bits = 256
        private = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463 §4.2: p= is the raw 32-byte public key, not a SubjectPublicKeyInfo.
        public_der = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raise _unsupported_algorithm(algorithm)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return GeneratedKey(algorithm=algorithm, bits=bits, private_key_pem=private_pem,
                        public_key_b64=base64.b64encode(public_der).decode("ascii"))


def dkim_record_value(public_key_b64: str, algorithm: str = "rsa") -> str:
    """The TXT value to publish at `<selector>._domainkey.<domain>`, joined (not split)."""
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise _unsupported_algorithm(algorithm)
    return f"v=DKIM1; k={algorithm}; p={public_key_b64}"


def _unsupported_algorithm(algorithm: str) -> DkimError:
    return DkimError("DKIM_ALGORITHM_UNSUPPORTED",
                     f"DKIM key algorithm {algorithm!r} is not supported.",
                     fix="Use 'rsa' (or 'ed25519' as an extra signature beside RSA).")


# --- Key records --------------------------------------------------------------------------


@dataclass(frozen=True)
class DkimRecord:
    """A parsed DKIM key record. Absent tags hold their RFC 6376 §3.6.1 defaults."""

    version: str | None  # "DKIM1" or None when v= is absent (it is optional)
    key_type: str  # k=, lower-case, default "rsa"; may be a type we do not know
    public_key_bytes: bytes  # p= decoded: SubjectPublicKeyInfo DER (rsa), raw 32 bytes (ed25519)
    hash_algorithms: tuple[str, ...] | None  # h=, lower-case; None means any
    flags: frozenset[str]  # t=, lower-case: "y" testing, "s" strict identity
    service_types: tuple[str, ...]  # s=, lower-case, default ("*",)
    notes: str | None  # n=, as published
    tags: Mapping[str, str] = field(repr=False)  # every tag as published (FWS-collapsed)

    @property
    def revoked(self) -> bool:
        # RFC 6376 §3.6.1: "An empty value means that this public key has been revoked."
        return not self.public_key_bytes

    @property
    def testing(self) -> bool:
        return "y" in self.flags

    @property
    def sha1_only(self) -> bool:
        """Only rsa-sha1 may verify, which receivers now treat as no signature (RFC 8301)."""
        return self.hash_algorithms is not None and "sha256" not in self.hash_algorithms

    def public_key(self) -> PublicKey:
        """The key p= holds; `DkimError("DKIM_KEY_INVALID")` when p= is not one."""
        if self.revoked:
            raise DkimError("DKIM_KEY_INVALID", "p= is empty: this key has been revoked.",
                            fix="Publish the current public key in p=.")
        return _load_public_key(self.key_type, self.public_key_bytes)

    def key_bits(self) -> int | None:
        """RSA modulus size; None for a revoked key or Ed25519 (fixed strength, not comparable)."""
        if self.revoked or self.key_type == "ed25519":
            return None
        key = self.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key.key_size


PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def _load_public_key(key_type: str, key_bytes: bytes) -> PublicKey:
    if key_type == "rsa":
        return _rsa_public_key(key_bytes)
    if key_type == "ed25519":
        if len(key_bytes) != 32:
            raise DkimError(
                "DKIM_KEY_INVALID",
                f"An ed25519 p= must hold 32 bytes (RFC 8463), this one holds {len(key_bytes)}.",
                fix="Publish the raw 32-byte Ed25519 public key, base64-encoded.")
        return ed25519.Ed25519PublicKey.from_public_bytes(key_bytes)
    raise DkimError("DKIM_KEY_INVALID", f"k={key_type} is not a key type verifiers know.",
                    fix="Use k=rsa (or k=ed25519).")


def _rsa_public_key(der: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise DkimError("DKIM_KEY_INVALID", "p= is valid base64 but not an RSA public key.",
                        fix="Copy the whole p= value again; it was probably cut short.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError("DKIM_KEY_INVALID",
                        "p= holds a public key that is not RSA although k=rsa.",
                        fix="Publish the RSA public key, or set k= to the key's type.")
    # A bare PKCS#1 RSAPublicKey is read too: RFC 6376 §3.6.1's text names that format, while
    # key generators publish SubjectPublicKeyInfo; dkimpy accepts both, and so do we.
    return key


def parse_dkim_record(txt: str | bytes | Sequence[str | bytes]) -> DkimRecord:
    """Parse a key record given as the TXT's character-strings or as one joined value.

    A joined value may still carry zone-file quoting (`"v=DKIM1; " "p=MIIB..."`), as users
    paste it from their DNS host; the strings are unquoted and concatenated (RFC 6376
    §3.6.2.2) before the tag-list is read.
    """
    value = txt_value(txt)
    if not value.strip():
        raise DkimSyntaxError("The TXT record is empty.",
                              fix="Publish the DKIM record value from the DNS instructions.")
    tags = parse_tag_list(value)
    names = list(tags)
    if "v" in tags:
        if names[0] != "v":
            raise DkimSyntaxError("v= must be the first tag of a DKIM key record.",
                                  fix="Move v=DKIM1 to the front, or drop it (it is optional).")
        if tags["v"] != "DKIM1":
            raise DkimSyntaxError(f"v= must be exactly DKIM1, found v={tags['v']}.",
                                  fix="Write v=DKIM1.")
    if "p" not in tags:
        misspelt = " (tag names are case-sensitive: P= is not p=)" if "P" in tags else ""
        raise DkimSyntaxError(f"The record has no p= tag{misspelt}; p= holds the public key.",
                              fix="Publish the full record, including p=<public key>.")
    return DkimRecord(
        version=tags.get("v"),
        key_type=tags.get("k", "rsa").lower(),
        public_key_bytes=_decode_p(tags["p"]),
        hash_algorithms=_colon_list(tags["h"], "h") if "h" in tags else None,
        flags=frozenset(_colon_list(tags["t"], "t")) if "t" in tags else frozenset(),
        service_types=_colon_list(tags["s"], "s") if "s" in tags else ("*",),
        notes=tags.get("n"),
        tags=MappingProxyType(tags),
    )


def parse_tag_list(value: str) -> dict[str, str]:
    """RFC 6376 §3.2 tag=value list; tag names are case-sensitive, duplicates invalid."""
    specs = value.split(";")
    if len(specs) > 1 and not specs[-1].strip():
        specs.pop()  # one trailing ";" is allowed
    tags: dict[str, str] = {}
    for position, spec in enumerate(specs, start=1):
        name, equals, raw_value = spec.partition("=")
        name = name.strip(" \t\r\n")
        if not equals:
            what = "is empty" if not spec.strip() else f"({spec.strip()!r}) has no '='"
            raise DkimSyntaxError(f"Tag {position} of the record {what}.",
                                  fix="Write tags as name=value separated by single ';'.")
        if not _TAG_NAME.match(name):
            raise DkimSyntaxError(f"{name!r} is not a valid tag name.",
                                  fix="Tag names are a letter followed by letters, digits or '_'.")
        if name in tags:
            raise DkimSyntaxError(f"The tag {name}= appears more than once (RFC 6376 §3.2).",
                                  fix=f"Keep a single {name}= tag.")
        tag_value = _FWS.sub(" ", raw_value).strip(" ")
        bad = [char for char in tag_value if char != " " and not "!" <= char <= "~"]
        if bad:
            raise DkimSyntaxError(f"The {name}= value contains {bad[0]!r}, which is not allowed.",
                                  fix="Use plain printable ASCII in the record.")
        tags[name] = tag_value
    return tags


def txt_value(txt: str | bytes | Sequence[str | bytes]) -> str:
    if isinstance(txt, (str, bytes)):
        text = _ascii(txt)
        stripped = text.strip()
        if stripped.startswith(("\"", "(")):
            return _unquote_presentation(stripped)
        return text
    return "".join(_ascii(part) for part in txt)


def _ascii(part: str | bytes) -> str:
    try:
        if isinstance(part, bytes):
            return part.decode("ascii")
        part.encode("ascii")
        return part
    except UnicodeError:
        raise DkimSyntaxError("The record contains non-ASCII characters.",
                              fix="Copy the record again; the value is plain ASCII.") from None


def _unquote_presentation(text: str) -> str:
    """Zone-file form: quoted strings (with \\X and \\DDD escapes), optionally in ( )."""
    strings: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t\r\n()":
            index += 1
            continue
        if char != "\"":
            raise DkimSyntaxError(
                f"Unexpected {char!r} outside the quoted strings of the record.",
                fix="Paste either the value alone or its quoted strings, nothing around them.")
        index += 1
        current: list[str] = []
        while True:
            if index >= len(text):
                raise DkimSyntaxError("A quoted string in the record is not closed.",
                                      fix="Add the closing '\"' or paste the value unquoted.")
            char = text[index]
            if char == "\"":
                index += 1
                break
            if char == "\\" and index + 1 < len(text):
                digits = text[index + 1:index + 4]
                if len(digits) == 3 and digits.isdigit():
                    current.append(chr(int(digits)))
                    index += 4
                else:
                    current.append(text[index + 1])
                    index += 2
                continue
            current.append(char)
            index += 1
        strings.append("".join(current))
    return "".join(strings)


def _decode_p(value: str) -> bytes:
    compact = value.replace(" ", "")  # RFC 6376 §3.6.1: p= is base64string, FWS allowed within
    if not _BASE64.match(compact):
        raise DkimSyntaxError("p= is not valid base64: it contains characters base64 does not use.",
                              fix="Copy the whole p= value again from the DNS instructions.")
    if len(compact) % 4:
        raise DkimSyntaxError(
            f"p= is not valid base64: its length ({len(compact)}) is not a multiple of 4, "
            "so it was probably cut short.",
            fix="Copy the whole p= value again from the DNS instructions.")
    return base64.b64decode(compact)


def _colon_list(value: str, name: str) -> tuple[str, ...]:
    items = tuple(item.strip().lower() for item in value.split(":"))
    if not all(items):
        raise DkimSyntaxError(f"{name}= has an empty entry: {name}={value}.",
                              fix=f"Separate {name}= values with single ':'.")
    return items


def same_public_key(record: DkimRecord, other: DkimRecord | bytes) -> bool:
    """Whether two records (or a record and key bytes as in p=) hold the same key.

    Compared by key material (RSA modulus and exponent, Ed25519 raw bytes), so two
    encodings of one key match and a revoked or invalid key never matches anything.
    """
    if isinstance(other, DkimRecord):
        if other.key_type != record.key_type or other.revoked:
            return False
        other = other.public_key_bytes
    try:
        mine = record.public_key()
        theirs = _load_public_key(record.key_type, other)
    except DkimError:
        return False
    if isinstance(mine, rsa.RSAPublicKey):
        return mine.public_numbers() == theirs.public_numbers()
    raw = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return mine.public_bytes(*raw) == theirs.public_bytes(*raw)


# --- Signing ------------------------------------------------------------------------------


def sign_message(message: bytes, *, domain: str, selector: str, private_key_pem: bytes,
                 algorithm: str = "rsa") -> bytes:
    """The message with a DKIM-Signature header prepended (relaxed/relaxed, RFC 6376 §3.4).

    For dual signing, sign the RSA-signed output again with the Ed25519 key: h= never
    includes DKIM-Signature, so both signatures cover the same headers and body.
    """
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise _unsupported_algorithm(algorithm)
    key = _private_key(private_key_pem, algorithm)
    linesep = b"\r\n" if b"\r\n" in message else b"\n"
    signer = dkimpy.DKIM(message, signature_algorithm=_SIGNATURE_ALGORITHMS[algorithm],
                         linesep=linesep)
    present = {name.decode("ascii", "replace").lower() for name, _ in signer.headers}
    if "from" not in present:
        raise DkimError("DKIM_MESSAGE_NO_FROM", "A message without a From header cannot be signed.",
                        fix="Add a From header (RFC 5322 §3.6 requires one).")
    include = [name for name in SIGNED_HEADERS if name in present]
    include += [name for name in OVERSIGNED_HEADERS if name in present]
    try:
        signature = signer.sign(_ascii_label(selector, "selector"), _ascii_label(domain, "domain"),
                                key, canonicalize=(b"relaxed", b"relaxed"),
                                include_headers=[name.encode("ascii") for name in include])
    except dkimpy.DKIMException as exc:
        raise DkimError("DKIM_SIGNING_FAILED", f"The message could not be signed: {exc}") from None
    return signature + message


def _private_key(private_key_pem: bytes, algorithm: str) -> bytes:
    """Key bytes as dkimpy wants them: PEM for RSA, the base64 32-byte seed for Ed25519."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise DkimError("DKIM_SIGNING_KEY_INVALID",
                        "The private key is not an unencrypted PEM key.") from None
    if algorithm == "rsa" and isinstance(key, rsa.RSAPrivateKey):
        return private_key_pem
    if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        return base64.b64encode(seed)
    raise DkimError("DKIM_SIGNING_KEY_INVALID",
                    f"The private key does not match the algorithm {algorithm!r}.")


def _ascii_label(value: str, what: str) -> bytes:
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise DkimError("DKIM_SIGNING_FAILED",
                        f"The {what} {value!r} must be in ASCII (A-label) form.") from None
