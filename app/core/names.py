"""Sending-domain names: what a user may type in "Add domain", and how we store and show it.

A stored name is lower-case, in IDNA 2008 A-label (punycode) form with UTS #46 mapping, and has
no trailing dot, so `Bücher.Example.`, `bücher.example` and `xn--bcher-kva.example` are one row.

What counts as a registrable name comes from the Public Suffix List shipped inside the
`publicsuffixlist` package (nothing is fetched). Its *private* section counts too: under
`github.io` or `herokuapp.com` every name belongs to a different owner, so `github.io` is a
suffix nobody can send as, and `user.github.io` is an organisational domain of its own. A name
whose top-level label is not on the list is treated like any other TLD (the PSL's implicit `*`
rule), so reserved test names such as `bücher.example` are accepted.
"""

from __future__ import annotations

import functools
import ipaddress
import string
from urllib.parse import urlsplit

import idna
from publicsuffixlist import PublicSuffixList

MAX_LABEL_OCTETS = 63  # RFC 1035 §2.3.4
MAX_NAME_OCTETS = 253  # RFC 1035 §2.3.4: 255 on the wire is 253 in text without the final dot

LDH_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-")


class DomainNameError(ValueError):
    """A name the user typed that we cannot accept; `code` is stable, `message` says the fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    """Parsed on first use rather than at import: the list has about ten thousand rules."""
    return PublicSuffixList()


def normalise_domain(raw: str) -> str:
    """The stored form of a domain typed into "Add domain", or a DomainNameError saying why not."""
    text = raw.strip()
    if not text:
        raise DomainNameError("empty", "Enter a domain name, for example example.com.")
    _reject_url_or_address(text)
    name = text.removesuffix(".")
    _reject_ip_literal(name)
    _reject_port(name)
    labels = [_a_label(label) for label in _mapped_labels(name)]
    fqdn = ".".join(labels)
    _reject_numeric_top_level(labels)
    if len(fqdn) > MAX_NAME_OCTETS:
        raise DomainNameError(
            "name_too_long",
            f"This name is {len(fqdn)} characters long; a domain name can be at most "
            f"{MAX_NAME_OCTETS}.",
        )
    _reject_public_suffix(fqdn, labels)
    return fqdn


def organisational_domain(fqdn: str) -> str:
    """The registrable domain above `fqdn` (RFC 7489 §3.2): `mail.example.co.uk` → `example.co.uk`.

    DMARC policy and alignment are decided at this name. A public suffix has none.
    """
    organisational = _public_suffix_list().privatesuffix(_canonical(fqdn))
    if organisational is None:
        raise DomainNameError("public_suffix", _public_suffix_message(_canonical(fqdn)))
    return organisational


def is_subdomain_of(child: str, parent: str) -> bool:
    """True when `child` lies strictly below `parent`, compared label by label.

    Strict because a Domain is never its own parent; `badexample.com` is not under `example.com`.
    """
    child_labels = _canonical(child).split(".")
    parent_labels = _canonical(parent).split(".")
    return (
        len(child_labels) > len(parent_labels)
        and child_labels[-len(parent_labels) :] == parent_labels
    )


def display_name(fqdn: str) -> str:
    """The Unicode form to show people (`xn--bcher-kva.example` → `bücher.example`).

    A label that is not valid punycode is shown as stored rather than failing the page.
    """
    return ".".join(_display_label(label) for label in _canonical(fqdn).split("."))


def is_ldh_label(label: str) -> bool:
    """Letters, digits and inner hyphens, at most 63 characters (RFC 1123 §2.1).

    What DKIM selectors and the host labels we ask customers to create must be made of.
    """
    return (
        0 < len(label) <= MAX_LABEL_OCTETS
        and set(label.lower()) <= LDH_CHARACTERS
        and not label.startswith("-")
        and not label.endswith("-")
    )


def _canonical(name: str) -> str:
    return name.strip().lower().removesuffix(".")


def _display_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return idna.ulabel(label)
    except idna.IDNAError:
        return label


def _reject_url_or_address(text: str) -> None:
    if "@" in text:
        domain = text.rsplit("@", 1)[1].strip().strip("/")
        raise DomainNameError(
            "url_not_domain",
            "That looks like an email address. Enter only the domain, the part after the @"
            + (f": {domain}" if domain else "")
            + ".",
        )
    if "://" in text or any(mark in text for mark in "/?#"):
        host = urlsplit(text if "://" in text else f"//{text}").hostname
        raise DomainNameError(
            "url_not_domain",
            "That looks like a web address. Enter only the domain name, without http://, "
            "paths or slashes" + (f": {host}" if host else "") + ".",
        )


def _reject_ip_literal(name: str) -> None:
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return
    raise DomainNameError(
        "ip_address",
        "That is an IP address. Mail is sent from a domain name: enter a domain such as "
        "example.com.",
    )


def _reject_port(name: str) -> None:
    host, colon, _ = name.partition(":")
    if colon:
        raise DomainNameError(
            "url_not_domain",
            "Enter only the domain name, without a colon or port number"
            + (f": {host}" if host else "")
            + ".",
        )


def _mapped_labels(name: str) -> list[str]:
    """UTS #46 mapping first (case folding, full-width dots, NFC), then split into labels."""
    try:
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
    except idna.IDNAError:
        raise DomainNameError(
            "not_a_hostname",
            "The name contains characters that cannot appear in a domain name.",
        ) from None
    return mapped.split(".")


def _a_label(label: str) -> str:
    """One label in A-label form, with a specific message for each way it can be wrong."""
    if not label:
        raise DomainNameError(
            "not_a_hostname",
            "The name has an empty part: remove the extra dot (two dots in a row, or a dot at "
            "the start).",
        )
    if "_" in label:
        raise DomainNameError(
            "not_a_hostname",
            f'"{label}" contains an underscore. Underscore names are for service records '
            "such as _dmarc; a domain that sends mail cannot have one.",
        )
    if label.startswith("-") or label.endswith("-"):
        raise DomainNameError(
            "not_a_hostname", f'"{label}" starts or ends with a hyphen, which is not allowed.'
        )
    if label.isascii() and not set(label) <= LDH_CHARACTERS:
        raise DomainNameError(
            "not_a_hostname",
            f'"{label}" contains characters that cannot appear in a domain name; use letters, '
            "digits and hyphens.",
        )
    encoded_length = len(label) if label.isascii() else len("xn--") + len(label.encode("punycode"))
    if encoded_length > MAX_LABEL_OCTETS:
        raise DomainNameError(
            "label_too_long",
            f'The part "{label}" is {encoded_length} characters long'
            + ("" if label.isascii() else " once encoded for DNS")
            + f"; each part between dots can be at most {MAX_LABEL_OCTETS}.",
        )
    try:
        # IDNA 2008 validity: permitted code points, bidi and joiner rules, valid punycode in
        # xn-- labels, and no "--" in positions 3-4 of other labels (RFC 5891 §4.2.3.1).
        return idna.alabel(label).decode("ascii")
    except idna.IDNAError:
        raise DomainNameError("not_a_hostname", _idna_failure_message(label)) from None


def _idna_failure_message(label: str) -> str:
    if label.isascii() and label[2:4] == "--" and not label.startswith("xn--"):
        return (
            f'"{label}" has hyphens in its third and fourth places, which DNS reserves for '
            "encoded international names (xn--)."
        )
    return f'"{label}" is not a valid part of an international domain name (IDNA 2008).'


def _reject_numeric_top_level(labels: list[str]) -> None:
    # RFC 3696 §2: a top-level domain is never all-numeric; all-numeric names are IPv4 shorthand.
    if not labels[-1].isdigit():
        return
    if all(label.isdigit() for label in labels):
        raise DomainNameError(
            "ip_address",
            "That looks like an IP address. Mail is sent from a domain name: enter a domain "
            "such as example.com.",
        )
    raise DomainNameError(
        "not_a_hostname", f'"{labels[-1]}" is not a top-level domain: it cannot be only digits.'
    )


def _reject_public_suffix(fqdn: str, labels: list[str]) -> None:
    psl = _public_suffix_list()
    if len(labels) == 1 and psl.publicsuffix(fqdn, accept_unknown=False) is None:
        raise DomainNameError(
            "not_a_hostname",
            f'"{fqdn}" is a single name with no dot. Enter the full domain, such as example.com.',
        )
    if psl.privatesuffix(fqdn) is None:
        raise DomainNameError("public_suffix", _public_suffix_message(fqdn))


def _public_suffix_message(fqdn: str) -> str:
    return (
        f"{display_name(fqdn)} is a public suffix: anyone can register names under it, so it "
        f"cannot be a sending domain. Enter your own domain, such as "
        f"yourcompany.{display_name(fqdn)}."
    )
