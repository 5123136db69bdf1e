"""Adding the platform's SPF include to a domain's existing SPF record without breaking it.

A domain may publish only one SPF record: with two, every SPF check ends in permerror
(RFC 7208 §4.5), which is worse than having none. So when a customer already has SPF we hand
back their record with one `include:` added, and everything else exactly as they had it. The
record is read as whitespace-separated terms (RFC 7208 §4.6.1), never edited as raw text.
"""

from __future__ import annotations

QUALIFIERS = "+-~?"  # RFC 7208 §4.6.2
PASS_QUALIFIERS = ("", "+")


class SpfMergeError(ValueError):
    """The existing record cannot be merged; `code` is stable, `message` says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def merge_spf(existing: str | None, include_host: str) -> str:
    """The one SPF record to publish: `existing` (its TXT strings joined) with our include added.

    The include goes before `all` (later mechanisms are never evaluated, RFC 7208 §5.1) or,
    with no `all`, before `redirect=`; every other term and the `all` qualifier are kept. An
    existing include of ours is left alone, so merging twice changes nothing.
    """
    if existing is None:
        # `~all` rather than `-all`: a domain with no SPF may still have senders nobody has
        # listed yet, and softfail lets their mail through while the owner finds them.
        return f"v=spf1 include:{include_host} ~all"
    terms = _terms(existing)
    if not _includes(terms, include_host):
        position = _insertion_point(terms)
        terms = [*terms[:position], f"include:{include_host}", *terms[position:]]
    return " ".join(terms)


def _terms(record: str) -> list[str]:
    """The version and terms of an SPF record, or SpfMergeError if it is not one (RFC 7208 §4.5)."""
    terms = record.split()
    if not terms or terms[0].lower() != "v=spf1":
        raise SpfMergeError(
            "not_spf",
            "The record given as your SPF record does not start with v=spf1, so it is not "
            "one. Use the TXT record at your domain that starts with v=spf1; if there is "
            "none, a new SPF record is made for you.",
        )
    return terms


def is_modifier(term: str) -> bool:
    """`name=value` with a valid modifier name before any `:` or `/` (RFC 7208 §4.6.1)."""
    name, equals, _ = term.partition("=")
    return (
        bool(equals)
        and name[:1].isascii()
        and name[:1].isalpha()
        and all(char.isascii() and (char.isalnum() or char in "-_.") for char in name)
    )


def mechanism_parts(term: str) -> tuple[str, str, str]:
    """(qualifier, lower-case name, argument after `:`) of a mechanism term.

    `-ip4:192.0.2.0/24` → ('-', 'ip4', '192.0.2.0/24'); `mx/24` → ('', 'mx', '').
    """
    qualifier = term[0] if term[0] in QUALIFIERS else ""
    body = term[len(qualifier) :]
    name_end = min((i for i in (body.find(":"), body.find("/")) if i >= 0), default=len(body))
    argument = body[name_end + 1 :] if body[name_end : name_end + 1] == ":" else ""
    return qualifier, body[:name_end].lower(), argument


def _includes(terms: list[str], include_host: str) -> bool:
    """Whether an `include:` of our host is already there; refuse one that would not pass."""
    wanted = _comparable(include_host)
    for term in terms[1:]:
        if is_modifier(term):
            continue
        qualifier, name, argument = mechanism_parts(term)
        if name != "include" or _comparable(argument) != wanted:
            continue
        if qualifier not in PASS_QUALIFIERS:
            # Adding a second, passing include after it would never be reached (first match
            # wins, RFC 7208 §4.6.2), so the owner has to decide about this term.
            raise SpfMergeError(
                "platform_include_not_pass",
                f"The existing record has {term}, which makes mail sent through PenguinMails "
                f"fail SPF instead of pass. Change it to include:{include_host}.",
            )
        return True
    return False


def _insertion_point(terms: list[str]) -> int:
    directives = list(enumerate(terms))[1:]
    for index, term in directives:
        if not is_modifier(term) and mechanism_parts(term)[1] == "all":
            return index
    for index, term in directives:
        if is_modifier(term) and term.partition("=")[0].lower() == "redirect":
            return index
    return len(terms)


def _comparable(host: str) -> str:
    return host.lower().removesuffix(".")
