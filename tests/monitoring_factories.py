"""Rows of the health monitor, written directly: a domain's health, findings, snapshots, tags.

`health_of` stores what a check with the given findings would leave behind (score, band and
worst finding from app.core.health, one open DomainFinding each), so dashboard and page tests
choose exactly the state they need without running DNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import factory

from app.core.clock import utcnow
from app.core.findings import ERROR, SEVERITIES, WARNING, Finding, finding
from app.core.health import score, weight
from app.domains.models import Domain, DomainTag
from app.extensions import db
from app.monitoring.models import DomainFinding, DomainHealth, HealthSnapshot
from tests.factories import DomainFactory, _Base


class HealthSnapshotFactory(_Base):
    """A stored snapshot; `findings` holds Finding.to_dict() items, `records` the answers."""

    class Meta:
        model = HealthSnapshot

    workspace_id = factory.LazyAttribute(lambda row: row.domain.workspace_id)
    domain_id = factory.LazyAttribute(lambda row: row.domain.id)
    taken_at = factory.LazyFunction(utcnow)
    score = 100
    records = factory.LazyFunction(dict)
    findings = factory.LazyFunction(list)
    digest = factory.Sequence(lambda n: f"{n:064x}")

    class Params:
        domain = None  # pass domain=…: workspace_id and domain_id follow it


def problem(code: str, domain: Domain | str, severity: str | None = None,
            host: str | None = None, record_type: str = "TXT") -> Finding:
    """A finding of `code` about `domain`'s record (or `host`)."""
    fqdn = domain if isinstance(domain, str) else domain.fqdn
    return finding(code, host or fqdn, record_type, f"{code} seen at {host or fqdn}.",
                   f"Fix {code}.", severity=severity)


def health_of(domain: Domain, findings: Sequence[Finding] = (), *,
              previous_score: int | None = None, checked_at: datetime | None = None,
              resolved: Sequence[Finding] = ()) -> DomainHealth:
    """The state a check finding `findings` leaves: DomainHealth and one open row each;
    `resolved` findings are stored as closed an hour ago."""
    checked_at = checked_at or utcnow()
    result = score(findings)
    worst = min(findings, default=None,
                key=lambda found: (SEVERITIES.index(found.severity), -weight(found), found.code))
    health = DomainHealth(
        domain_id=domain.id, workspace_id=domain.workspace_id, score=result.score,
        band=result.band, previous_score=previous_score,
        worst_code=worst.code if worst else None,
        worst_severity=worst.severity if worst else None,
        error_count=sum(1 for found in findings if found.severity == ERROR),
        warning_count=sum(1 for found in findings if found.severity == WARNING),
        checked_at=checked_at, changed_at=checked_at, digest="")
    db.session.add(health)
    for found, resolved_at in [*((f, None) for f in findings),
                               *((f, checked_at - timedelta(hours=1)) for f in resolved)]:
        db.session.add(DomainFinding(
            workspace_id=domain.workspace_id, domain_id=domain.id, code=found.code,
            severity=found.severity, record_host=found.record_host,
            record_type=found.record_type, message=found.message, fix=found.fix,
            first_seen=checked_at - timedelta(days=1), last_seen=checked_at,
            resolved_at=resolved_at))
    db.session.flush()
    return health


def tag(domain: Domain, *tags: str) -> None:
    for name in tags:
        db.session.add(DomainTag(domain_id=domain.id, tag=name, workspace_id=domain.workspace_id))
    db.session.flush()


def checked_domain(workspace, fqdn: str, codes: Sequence[str] = (), **health) -> Domain:
    """A domain of `workspace` whose last check found one finding per code."""
    domain = DomainFactory(workspace=workspace, fqdn=fqdn)
    health_of(domain, [problem(code, domain) for code in codes], **health)
    return domain
