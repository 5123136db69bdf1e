"""Checking a domain's expected records against DNS, record by record.

The DNS side of verification: every record is asked of each authoritative nameserver (fresher
than a cache, and it shows whether all of them already serve the new value); the judging is
pure and lives in `app.core.verification`. No database or Flask here: the job calls this
while holding no session.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from app.adapters.dns import Answer, Resolver
from app.core.names import DomainNameError, organisational_domain
from app.core.records import DnsRecord, Purpose
from app.core.verification import (
    MISSING,
    Observation,
    RecordCheck,
    SpfLookup,
    check,
    check_on_nameservers,
    combined_spf,
    spf_records,
    with_inherited_dmarc,
)

MAX_PARALLEL_RECORDS = 8  # a record set is 5 to 8 records; each may wait a full DNS lifetime


class SpfLookupFailed(RuntimeError):
    """The SPF record could not be read; the `answer` says why (timeout, SERVFAIL, …)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"SPF lookup of {answer.name} failed: {answer.status} {answer.detail}")
        self.answer = answer


def run_checks(records: Sequence[DnsRecord], resolver: Resolver, *,
               spf_include: str | None = None) -> list[RecordCheck]:
    """One RecordCheck per expected record, in the same order.

    Records are checked side by side, so a domain whose nameservers time out takes one DNS
    lifetime, not one per record. `spf_include` is the platform's SPF host; without it every
    include: of the expected SPF record must be reachable from the published one.
    """
    lookup_spf = _cached_txt_lookup(resolver)

    def one(record: DnsRecord) -> RecordCheck:
        return _check_record(record, resolver, spf_include, lookup_spf)

    if len(records) < 2:
        return [one(record) for record in records]
    with ThreadPoolExecutor(max_workers=min(len(records), MAX_PARALLEL_RECORDS)) as pool:
        return list(pool.map(one, records))


def observed_spf(resolver: Resolver, domain: str) -> str | None:
    """The SPF record `domain` publishes now, for merging our include into; None if it has none.

    Several records (a permerror) come back combined into one, since that one is what the owner
    must publish anyway. A failed lookup raises SpfLookupFailed: taking it for "no SPF" would
    tell the owner to publish a second record beside the one they have.
    """
    answer = resolver.txt(domain)
    if answer.failed:
        raise SpfLookupFailed(answer)
    records = spf_records(answer.txt_values())
    if not records:
        return None
    return records[0] if len(records) == 1 else combined_spf(records)


def observation_of(answer: Answer) -> Observation:
    return Observation(status=answer.status, txt=answer.txt_strings, records=answer.records,
                       cname_chain=answer.cname_chain, server=answer.server,
                       detail=answer.detail)


def _check_record(record: DnsRecord, resolver: Resolver, spf_include: str | None,
                  lookup_spf: SpfLookup) -> RecordCheck:
    # The record's own type: a CNAME query returns the alias itself (its first target), not
    # whatever the target resolves to, which is ours to serve, not the customer's.
    answers = resolver.query_each_authoritative(record.host, record.type)
    if not answers:
        # The nameservers could not be found: ask the resolver, whose status says why.
        verdict = check(record, observation_of(resolver.query(record.host, record.type)),
                        spf_include=spf_include, lookup_spf=lookup_spf)
    else:
        verdict = check_on_nameservers(record, [observation_of(answer) for answer in answers],
                                       spf_include=spf_include, lookup_spf=lookup_spf)
    if verdict.purpose == Purpose.DMARC and verdict.status == MISSING:
        return _inherited_dmarc(verdict, record, resolver)
    return verdict


def _inherited_dmarc(verdict: RecordCheck, record: DnsRecord, resolver: Resolver) -> RecordCheck:
    """A subdomain without a DMARC record of its own may be covered by its organisational
    domain's sp=; asked through the resolver, as receivers do."""
    domain = record.host.removeprefix("_dmarc.")
    try:
        organisational = organisational_domain(domain)
    except DomainNameError:
        return verdict
    if organisational == domain:
        return verdict
    answer = resolver.query(f"_dmarc.{organisational}", "TXT")
    return with_inherited_dmarc(verdict, domain, organisational, observation_of(answer))


def _cached_txt_lookup(resolver: Resolver) -> SpfLookup:
    """TXT values by name for following SPF includes, each name asked once per run.

    Includes are followed through the ordinary resolver, as receivers do; one run asks about
    the same provider records (e.g. _spf.google.com) for several nameservers' answers.
    """
    seen: dict[str, list[str] | Observation] = {}

    def lookup(name: str) -> list[str] | Observation:
        if name not in seen:
            answer = resolver.txt(name)
            seen[name] = answer.txt_values() if answer.ok else observation_of(answer)
        return seen[name]

    return lookup
