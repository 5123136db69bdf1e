"""RFC 7208 SPF evaluation: `check_host()` for a client IP, as a receiving server would run it.

Pure: no network. DNS answers come through an injected `SpfLookup`, so the same evaluator runs
against the resolver adapter in production and an in-memory zone in tests (it is checked
against the RFC 7208 test suite published with pyspf, see tests/data/spf/).

A record is parsed whole before anything is evaluated, so a syntax error anywhere is a
permerror even when an earlier mechanism would have matched (§4.6). DNS work is bounded the
RFC's way: at most 10 terms that query DNS across all nested include/redirect evaluations, at
most 2 of them "void" (no answer), at most 10 MX names per `mx` and 10 PTR names per `ptr`
(§4.6.4). A lookup that failed is `DnsTemporaryError` (→ temperror); NXDOMAIN and NODATA are an
empty answer, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Protocol
from urllib.parse import quote

from app.core.spf_merge import is_modifier, mechanism_parts

PASS, FAIL, SOFTFAIL, NEUTRAL = "pass", "fail", "softfail", "neutral"
NONE, PERMERROR, TEMPERROR = "none", "permerror", "temperror"

MAX_DNS_LOOKUPS = 10  # RFC 7208 §4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4, the recommended default
MAX_NAMES_PER_LOOKUP = 10  # RFC 7208 §4.6.4: MX names per `mx`, PTR names per `ptr`
MAX_DOMAIN_LENGTH = 253  # RFC 7208 §7.3 truncation, RFC 1035 name length
MAX_LABEL_LENGTH = 63

QUALIFIER_RESULTS = {"": PASS, "+": PASS, "-": FAIL, "~": SOFTFAIL, "?": NEUTRAL}  # §4.6.2
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})

# RFC 7208 §7.1: c, r and t only make sense in explanation text.
DOMAIN_MACRO_LETTERS = frozenset("slodiphv")
ALL_MACRO_LETTERS = frozenset("slodiphvcrt")
MACRO_DELIMITERS = frozenset(".-+,/_=")

_TOPLABEL = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9]", re.IGNORECASE)
_DUAL_CIDR = re.compile(r"(?P<spec>.*?)(?:/(?P<v4>\d+))?(?://(?P<v6>\d+))?", re.DOTALL)
_CIDR_NUMBER = re.compile(r"0|[1-9][0-9]*")
_MACRO_BODY = re.compile(r"(?P<letter>[a-z])(?P<digits>[0-9]*)(?P<reverse>r?)(?P<delimiters>.*)",
                         re.IGNORECASE | re.DOTALL)

IPAddress = IPv4Address | IPv6Address


class DnsTemporaryError(Exception):
    """The lookup failed (timeout, SERVFAIL, refused): the answer is unknown, not empty."""

    def __init__(self, message: str = "the DNS lookup failed", code: str = "DNS_TIMEOUT") -> None:
        super().__init__(message)
        self.code = code


class SpfLookup(Protocol):
    """The DNS answers check_host needs. NXDOMAIN and NODATA return an empty sequence.

    `txt` returns one string per TXT record, its character-strings already joined with nothing
    between them (§3.3); `mx` returns exchange names; `ptr` takes the client address.
    """

    def txt(self, name: str) -> Sequence[str]: ...

    def a(self, name: str) -> Sequence[str]: ...

    def aaaa(self, name: str) -> Sequence[str]: ...

    def mx(self, name: str) -> Sequence[str]: ...

    def ptr(self, ip: IPAddress) -> Sequence[str]: ...


class SpfSyntaxError(ValueError):
    """The record breaks the RFC 7208 grammar; the message names the term and the rule."""


@dataclass(frozen=True)
class Macro:
    """One `%{...}` expansion (§7.1): letter, right-hand part count, reversal, delimiters."""

    letter: str
    keep: int | None
    reverse: bool
    delimiters: str
    url_escape: bool


MacroString = tuple[str | Macro, ...]


@dataclass(frozen=True)
class Mechanism:
    qualifier: str
    name: str
    term: str
    domain_spec: MacroString | None = None
    network: IPv4Network | IPv6Network | None = None  # ip4 / ip6 only
    cidr4: int = 32
    cidr6: int = 128

    @property
    def result(self) -> str:
        return QUALIFIER_RESULTS[self.qualifier]


@dataclass(frozen=True)
class SpfRecord:
    mechanisms: tuple[Mechanism, ...]
    redirect: MacroString | None = None
    explanation: MacroString | None = None
    unknown_modifiers: tuple[str, ...] = ()

    @property
    def has_all(self) -> bool:
        return any(mechanism.name == "all" for mechanism in self.mechanisms)


@dataclass(frozen=True)
class SpfResult:
    """What check_host() concluded. `code` and `problem` say why for permerror / temperror.

    `mechanism` is the term that decided (an `include:` for what it included, the target's
    term after a redirect), "default" when nothing matched, None when there was no decision.
    `explanation` is the expanded exp= text, only for fail and only when the record gives one.
    """

    result: str
    explanation: str | None = None
    mechanism: str | None = None
    lookups: int = 0
    void_lookups: int = 0
    code: str | None = None
    problem: str | None = None


def is_spf_record(text: str) -> bool:
    """RFC 7208 §4.5: `v=spf1` in any case, then a space or the end of the record."""
    return text[:6].lower() == "v=spf1" and text[6:7] in ("", " ")


def sender_identity(mail_from: str, helo: str) -> tuple[str, str]:
    """(sender, domain) to check: MAIL FROM, or postmaster@HELO for a null reverse-path (§2.4)."""
    sender = mail_from or f"postmaster@{helo}"
    local, at, domain = sender.rpartition("@")
    if not at:
        domain = sender
    return f"{local or 'postmaster'}@{domain}", domain


def parse_record(text: str) -> SpfRecord:
    """The parsed record, or SpfSyntaxError for the first term that breaks the grammar (§4.6)."""
    version, *terms = [term for term in text.split(" ") if term] or [""]  # §4.6.1: SP only
    if version.lower() != "v=spf1":
        raise SpfSyntaxError(f"the record starts with {version!r}, not v=spf1")
    mechanisms: list[Mechanism] = []
    modifiers: dict[str, MacroString] = {}
    unknown: list[str] = []
    for term in terms:
        invisible = next((char for char in term if not "!" <= char <= "~"), None)
        if invisible is not None:
            raise SpfSyntaxError(f"{term!r} contains {invisible!r}; terms are visible ASCII "
                                 "separated by spaces (RFC 7208 §3.1, §4.6.1)")
        if not is_modifier(term):
            mechanisms.append(_parse_mechanism(term))
            continue
        name, _, value = term.partition("=")
        name = name.lower()
        if name in ("redirect", "exp"):
            if name in modifiers:
                raise SpfSyntaxError(f"{name}= appears more than once (RFC 7208 §6)")
            modifiers[name] = _parse_domain_spec(value, term)
        else:
            _parse_macro_string(value, ALL_MACRO_LETTERS)  # unknown modifiers: ignored, if valid
            unknown.append(term)
    return SpfRecord(tuple(mechanisms), modifiers.get("redirect"), modifiers.get("exp"),
                     tuple(unknown))


def check_host(ip: str | IPAddress, domain: str, sender: str, helo: str, lookup: SpfLookup, *,
               receiver: str = "unknown", timestamp: int = 0) -> SpfResult:
    """RFC 7208 §4 check_host(). `receiver` and `timestamp` feed the %{r} and %{t} macros."""
    sender, _ = sender_identity(sender, helo)
    evaluation = _Evaluation(_client_ip(ip), sender, helo, lookup, receiver, timestamp)
    domain = domain.removesuffix(".")
    if not _is_checkable_domain(domain):
        # §4.3: a malformed or single-label domain has no SPF policy to find.
        return SpfResult(NONE, problem=f"{domain!r} is not a fully qualified domain name")
    try:
        outcome = evaluation.check(domain)
    except _Abort as abort:
        return SpfResult(abort.result, lookups=evaluation.lookups,
                         void_lookups=evaluation.void_lookups, code=abort.code,
                         problem=str(abort))
    explanation = evaluation.explanation(outcome) if outcome.result == FAIL else None
    return SpfResult(outcome.result, explanation, outcome.mechanism, evaluation.lookups,
                     evaluation.void_lookups)


def expand_macros(text: str, ip: str | IPAddress, domain: str, sender: str, helo: str,
                  lookup: SpfLookup, *, explanation: bool = False, receiver: str = "unknown",
                  timestamp: int = 0) -> str:
    """A macro-string expanded as check_host would (§7); explanation text allows c, r, t."""
    letters = ALL_MACRO_LETTERS if explanation else DOMAIN_MACRO_LETTERS
    tokens, _ = _parse_macro_string(text, letters, allow_space=explanation)
    sender, _ = sender_identity(sender, helo)
    evaluation = _Evaluation(_client_ip(ip), sender, helo, lookup, receiver, timestamp)
    return evaluation.expand(tokens, domain)


class _Abort(Exception):
    """Ends the whole evaluation with permerror or temperror, through any nesting."""

    def __init__(self, result: str, code: str, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.code = code


@dataclass(frozen=True)
class _Outcome:
    result: str
    mechanism: str | None = None
    explanation: MacroString | None = None
    domain: str = ""


@dataclass
class _Evaluation:
    ip: IPAddress
    sender: str
    helo: str
    lookup: SpfLookup
    receiver: str
    timestamp: int
    lookups: int = 0
    void_lookups: int = 0
    chain: list[str] = field(default_factory=list)

    def check(self, domain: str) -> _Outcome:
        """§4.4-4.7 for one domain: its record's first matching mechanism, else redirect."""
        text = self._record(domain)
        if text is None:
            return _Outcome(NONE)
        try:
            record = parse_record(text)
        except SpfSyntaxError as error:
            raise _Abort(PERMERROR, "SPF_SYNTAX", f"SPF record at {domain}: {error}") from error
        self.chain.append(domain.lower())
        try:
            for mechanism in record.mechanisms:
                if self._matches(mechanism, domain):
                    return _Outcome(mechanism.result, mechanism.term, record.explanation, domain)
            if record.redirect is None:
                return _Outcome(NEUTRAL, "default")  # §4.7
            # §6.1: reached only when nothing matched, so never beside `all`.
            outcome = self._nested(record.redirect, domain, "redirect")
            if outcome.result == NONE:
                raise _Abort(PERMERROR, "SPF_REDIRECT_NO_RECORD",
                             f"redirect from {domain} leads to a domain with no SPF record")
            return outcome
        finally:
            self.chain.pop()

    def explanation(self, outcome: _Outcome) -> str | None:
        """§6.2: the exp= text, or None when it is missing, ambiguous or malformed."""
        if outcome.explanation is None:
            return None
        try:
            records = self._ask(self.lookup.txt, self._target(outcome.explanation, outcome.domain))
            if len(records) != 1:
                return None
            tokens, _ = _parse_macro_string(records[0], ALL_MACRO_LETTERS, allow_space=True)
        except (DnsTemporaryError, SpfSyntaxError):
            return None
        return self.expand(tokens, outcome.domain)

    def expand(self, tokens: MacroString, domain: str) -> str:
        """§7.3: each macro's value split on its delimiters, reversed, cut, joined with dots."""
        expanded = []
        for token in tokens:
            if isinstance(token, str):
                expanded.append(token)
                continue
            delimiters = re.escape(token.delimiters or ".")
            parts = re.split(f"[{delimiters}]", self._macro_value(token.letter, domain))
            if token.reverse:
                parts.reverse()
            if token.keep is not None:
                parts = parts[-token.keep:]
            value = ".".join(parts)
            expanded.append(quote(value, safe="") if token.url_escape else value)
        return "".join(expanded)

    def _record(self, domain: str) -> str | None:
        try:
            texts = self._ask(self.lookup.txt, domain)
        except DnsTemporaryError as error:
            raise _Abort(TEMPERROR, error.code, f"TXT lookup for {domain}: {error}") from error
        records = [text for text in texts if is_spf_record(text)]
        if len(records) > 1:
            raise _Abort(PERMERROR, "SPF_MULTIPLE_RECORDS",
                         f"{domain} publishes {len(records)} SPF records; only one is allowed "
                         "(RFC 7208 §4.5)")
        return records[0] if records else None

    def _matches(self, mechanism: Mechanism, domain: str) -> bool:
        if mechanism.name == "all":
            return True
        if mechanism.name in ("ip4", "ip6"):
            return self.ip in mechanism.network
        if mechanism.name == "include":
            # §5.2: only pass matches; none is an error of the including record.
            outcome = self._nested(mechanism.domain_spec, domain, mechanism.term)
            if outcome.result == NONE:
                raise _Abort(PERMERROR, "SPF_INCLUDE_NO_RECORD",
                             f"{mechanism.term} names a domain with no SPF record")
            return outcome.result == PASS
        self._count_lookup(mechanism.term)  # a, mx, ptr, exists (§4.6.4)
        target = self._target(mechanism.domain_spec, domain)
        if mechanism.name == "ptr":
            return self._matches_ptr(target)
        try:
            if mechanism.name == "a":
                return self._in_addresses(self._void_checked(self._addresses(target)), mechanism)
            if mechanism.name == "mx":
                return self._matches_mx(target, mechanism)
            return bool(self._void_checked(self._ask(self.lookup.a, target)))  # exists: A only
        except DnsTemporaryError as error:
            raise _Abort(TEMPERROR, error.code, f"{mechanism.term}: {error}") from error

    def _nested(self, domain_spec: MacroString, domain: str, term: str) -> _Outcome:
        self._count_lookup(term)
        target = self._target(domain_spec, domain)
        if target.lower() in self.chain:
            # Evaluating a domain inside itself can only repeat until the lookup limit ends it
            # in permerror (§4.6.4); saying "loop" is the same verdict, explained better.
            raise _Abort(PERMERROR, "SPF_INCLUDE_LOOP",
                         f"{term} at {domain} leads back to {target}, which is already being "
                         "evaluated")
        return self.check(target)

    def _matches_mx(self, target: str, mechanism: Mechanism) -> bool:
        exchanges = self._void_checked(self._ask(self.lookup.mx, target))
        if len(exchanges) > MAX_NAMES_PER_LOOKUP:
            raise _Abort(PERMERROR, "SPF_TOO_MANY_LOOKUPS",
                         f"{mechanism.term}: {target} has {len(exchanges)} MX records, more "
                         f"than the {MAX_NAMES_PER_LOOKUP} allowed (RFC 7208 §4.6.4)")
        names = (exchange.removesuffix(".") for exchange in exchanges)
        return any(self._in_addresses(self._addresses(name), mechanism)
                   for name in names if name)  # "" and "." are a null MX (RFC 7505)

    def _matches_ptr(self, target: str) -> bool:
        """§5.5: a PTR name of the client, within `target`, that resolves back to the client."""
        try:
            names = self._void_checked(self.lookup.ptr(self.ip))
        except DnsTemporaryError:
            return False  # §5.5: a failed PTR lookup is no match, not an error
        return any(self._validates(name)
                   for name in _names(names)[:MAX_NAMES_PER_LOOKUP] if _within(name, target))

    def _validated_name(self, domain: str) -> str:
        """%{p} (§7.3): a validated PTR name, preferring `domain` or its subdomains."""
        try:
            names = _names(self.lookup.ptr(self.ip))[:MAX_NAMES_PER_LOOKUP]
        except DnsTemporaryError:
            return "unknown"
        preferred = sorted(names, key=lambda name: not _within(name, domain))
        return next((name for name in preferred if self._validates(name)), "unknown")

    def _validates(self, name: str) -> bool:
        try:
            return self.ip in self._addresses(name)
        except DnsTemporaryError:
            return False  # §5.5: a name whose addresses cannot be fetched is skipped

    def _addresses(self, name: str) -> list[IPAddress]:
        """A for an IPv4 client, AAAA for IPv6 (§5): one query, never both."""
        query = self.lookup.a if self.ip.version == 4 else self.lookup.aaaa
        addresses = []
        for value in self._ask(query, name):
            try:
                addresses.append(ip_address(str(value)))
            except ValueError:
                continue
        return addresses

    def _in_addresses(self, addresses: list[IPAddress], mechanism: Mechanism) -> bool:
        prefix = mechanism.cidr4 if self.ip.version == 4 else mechanism.cidr6
        return any(address.version == self.ip.version
                   and self.ip in ip_network((address, prefix), strict=False)
                   for address in addresses)

    def _ask(self, query: Callable[[str], Sequence[str]], name: str) -> Sequence[str]:
        # A name that cannot be put in a query (empty or over-long label) does not exist.
        return query(name) if _is_dns_name(name) else ()

    def _count_lookup(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_LOOKUPS:
            raise _Abort(PERMERROR, "SPF_TOO_MANY_LOOKUPS",
                         f"{term} is DNS lookup {self.lookups}; RFC 7208 §4.6.4 allows "
                         f"{MAX_DNS_LOOKUPS} per check, counted through include and redirect")

    def _void_checked(self, answer: Sequence[str]) -> Sequence[str]:
        if not answer:
            self.void_lookups += 1
            if self.void_lookups > MAX_VOID_LOOKUPS:
                raise _Abort(PERMERROR, "SPF_VOID_LOOKUPS",
                             f"{self.void_lookups} lookups found nothing; RFC 7208 §4.6.4 "
                             f"allows {MAX_VOID_LOOKUPS}")
        return answer

    def _target(self, domain_spec: MacroString | None, domain: str) -> str:
        """The expanded target name: no trailing dot, cut from the left to 253 chars (§7.3)."""
        if domain_spec is None:
            return domain
        name = self.expand(domain_spec, domain).removesuffix(".")
        while len(name) > MAX_DOMAIN_LENGTH and "." in name:
            name = name.partition(".")[2]
        return name

    def _macro_value(self, letter: str, domain: str) -> str:
        local, _, sender_domain = self.sender.rpartition("@")
        if letter == "s":
            return self.sender
        if letter == "l":
            return local or "postmaster"  # §4.3
        if letter == "o":
            return sender_domain
        if letter == "d":
            return domain
        if letter == "i":
            return _dotted(self.ip)
        if letter == "p":
            return self._validated_name(domain)
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            return self.receiver
        return str(self.timestamp)  # "t"; the parser admits no other letter


def _parse_mechanism(term: str) -> Mechanism:
    qualifier, name, _ = mechanism_parts(term)
    rest = term[len(qualifier) + len(name):]
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"{term!r} is not a mechanism or a name=value modifier "
                             "(RFC 7208 §5, §6)")
    mechanism = Mechanism(qualifier, name, term)
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"{term!r}: all takes no argument (RFC 7208 §5.1)")
        return mechanism
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{term!r}: {name} needs :domain (RFC 7208 §5.2, §5.7)")
        return Mechanism(qualifier, name, term, _parse_domain_spec(rest[1:], term))
    if name == "ptr":
        if rest and not rest.startswith(":"):
            raise SpfSyntaxError(f"{term!r}: ptr takes only :domain (RFC 7208 §5.5)")
        spec = _parse_domain_spec(rest[1:], term) if rest else None
        return Mechanism(qualifier, name, term, spec)
    if name in ("a", "mx"):
        return _parse_address_mechanism(qualifier, name, term, rest)
    return _parse_ip_mechanism(qualifier, name, term, rest)


def _parse_address_mechanism(qualifier: str, name: str, term: str, rest: str) -> Mechanism:
    """a / mx [":" domain-spec] [ "/" ip4-cidr ] [ "//" ip6-cidr ] (§5.3, §5.4)."""
    has_domain = rest.startswith(":")
    parts = _DUAL_CIDR.fullmatch(rest[1:] if has_domain else rest)
    if not has_domain and parts["spec"]:
        raise SpfSyntaxError(f"{term!r}: expected {name}[:domain][/ip4-cidr][//ip6-cidr] "
                             "(RFC 7208 §5.3, §5.4)")
    spec = _parse_domain_spec(parts["spec"], term) if has_domain else None
    return Mechanism(qualifier, name, term, spec,
                     cidr4=_cidr(parts["v4"], 32, term), cidr6=_cidr(parts["v6"], 128, term))


def _parse_ip_mechanism(qualifier: str, name: str, term: str, rest: str) -> Mechanism:
    """ip4:network[/cidr], ip6:network[/cidr] (§5.6), written out in full."""
    address, slash, length = rest[1:].partition("/")
    kind = IPv4Address if name == "ip4" else IPv6Address
    try:
        if not rest.startswith(":") or "%" in address:
            raise ValueError
        network = kind(address)
    except ValueError:
        raise SpfSyntaxError(f"{term!r}: {address!r} is not a full {name} address "
                             "(RFC 7208 §5.6)") from None
    prefix = _cidr(length if slash else None, network.max_prefixlen, term)
    return Mechanism(qualifier, name, term, network=ip_network((network, prefix), strict=False))


def _cidr(digits: str | None, maximum: int, term: str) -> int:
    if digits is None:
        return maximum
    if not _CIDR_NUMBER.fullmatch(digits) or int(digits) > maximum:
        raise SpfSyntaxError(f"{term!r}: prefix length /{digits} must be 0-{maximum} without "
                             "leading zeros (RFC 7208 §5.6)")
    return int(digits)


def _parse_domain_spec(text: str, term: str) -> MacroString:
    """§7.1: domain-spec = macro-string domain-end, which is a macro or "." toplabel ["."]."""
    if not text:
        raise SpfSyntaxError(f"{term!r}: the domain is empty")
    tokens, tail = _parse_macro_string(text, DOMAIN_MACRO_LETTERS)
    if tail:
        _, dot, toplabel = tail.removesuffix(".").rpartition(".")
        if not dot or not _TOPLABEL.fullmatch(toplabel):
            raise SpfSyntaxError(f"{term!r}: {text!r} does not end in a valid top-level label "
                                 "(RFC 7208 §7.1)")
    return tokens


def _parse_macro_string(text: str, letters: frozenset[str], *,
                        allow_space: bool = False) -> tuple[MacroString, str]:
    """(tokens, the literal text after the last macro) of a macro-string (§7.1).

    %%, %_ and %- become their literal text at once; anything else after % is an error.
    """
    tokens: list[str | Macro] = []
    literal: list[str] = []
    tail_start = 0
    position = 0
    while position < len(text):
        char = text[position]
        if char != "%":
            if not ("!" <= char <= "~" or (allow_space and char == " ")):
                raise SpfSyntaxError(f"{text!r} contains {char!r}, which is not visible ASCII")
            literal.append(char)
            position += 1
            continue
        following = text[position + 1:position + 2]
        if following in ("%", "_", "-"):
            literal.append({"%": "%", "_": " ", "-": "%20"}[following])
            position += 2
        elif following == "{":
            end = text.find("}", position)
            if end < 0:
                raise SpfSyntaxError(f"{text!r}: %{{ is never closed with }}")
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append(_parse_macro(text[position + 2:end], letters, text))
            position = end + 1
        else:
            raise SpfSyntaxError(f"{text!r}: % must be followed by {{, %, _ or - "
                                 "(RFC 7208 §7.1); write %% for a literal %")
        tail_start = position
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens), text[tail_start:]


def _parse_macro(body: str, letters: frozenset[str], text: str) -> Macro:
    parts = _MACRO_BODY.fullmatch(body)
    if (parts is None or parts["letter"].lower() not in letters
            or not set(parts["delimiters"]) <= MACRO_DELIMITERS
            or parts["digits"][:1] == "0"):
        allowed = ", ".join(sorted(letters))
        raise SpfSyntaxError(f"{text!r}: %{{{body}}} is not a valid macro; letters allowed "
                             f"here are {allowed}, then digits (not 0), r, delimiters "
                             "(RFC 7208 §7.1)")
    letter = parts["letter"]
    return Macro(letter.lower(), int(parts["digits"]) if parts["digits"] else None,
                 bool(parts["reverse"]), parts["delimiters"], letter.isupper())


def _client_ip(ip: str | IPAddress) -> IPAddress:
    """The client address; an IPv4-mapped IPv6 address is the IPv4 address (§5)."""
    address = ip_address(str(ip))
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _dotted(ip: IPAddress) -> str:
    """%{i} (§7.3): dotted quad, or dot-separated nibbles for IPv6."""
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _is_dns_name(name: str) -> bool:
    labels = name.split(".")
    return (0 < len(name) <= MAX_DOMAIN_LENGTH
            and all(0 < len(label) <= MAX_LABEL_LENGTH for label in labels))


def _is_checkable_domain(domain: str) -> bool:
    return _is_dns_name(domain) and "." in domain and not domain.startswith("[")


def _names(answer: Sequence[str]) -> list[str]:
    return [name.removesuffix(".") for name in answer]


def _within(name: str, domain: str) -> bool:
    name, domain = name.lower().removesuffix("."), domain.lower().removesuffix(".")
    return name == domain or name.endswith("." + domain)
