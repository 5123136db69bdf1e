"""What DNS says about a tracking host: does its CNAME reach us, and does CAA let our CA issue.

The DNS side only; judging is pure and lives in `app.core.tracking_hosts` and
`app.core.tracking_caa`. No database or Flask here: the check job calls this holding no session.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.adapters.dns import Resolver
from app.core import tracking_caa
from app.core.findings import Finding
from app.core.tracking_hosts import dns_failure, is_dns_failure, judge_cname
from app.domains.checks import observation_of


def host_findings(resolver: Resolver, hostname: str, platform_host: str,
                  caa_identities: Sequence[str], account_uri: str | None) -> list[Finding]:
    """Everything that stops a certificate for `hostname`; empty when nothing does."""
    findings = []
    # An A query follows the whole CNAME chain: the host may alias an alias of ours.
    cname = judge_cname(hostname, platform_host,
                        observation_of(resolver.query(hostname, "A")))
    if cname is not None:
        if is_dns_failure(cname):
            return [cname]  # the host's DNS does not answer: asking it for CAA tells no more
        findings.append(cname)
    caa = caa_finding(resolver, hostname, caa_identities, account_uri)
    if caa is not None:
        findings.append(caa)
    return findings


def caa_finding(resolver: Resolver, hostname: str, identities: Sequence[str],
                account_uri: str | None) -> Finding | None:
    """The relevant CAA RRset is the first one found from the host upwards (RFC 8659 §3); a
    failed lookup is a finding too, since a CA must not issue when it cannot read CAA."""
    if not identities:
        return None  # the operator runs a CA without CAA identities: nothing to compare with
    for name in tracking_caa.relevant_names(hostname):
        answer = resolver.query(name, "CAA")
        if answer.failed:
            return dns_failure(name, "CAA", observation_of(answer))
        if answer.ok and answer.records:
            verdict = tracking_caa.evaluate(answer.records, identities, account_uri=account_uri)
            return None if verdict.permitted else tracking_caa.forbidding_finding(
                hostname, name, verdict, identities[0])
    return None
