"""Recording health checks: each domain's current health, its findings over time, snapshots
of what changed, and the alerts that drift raises.

`record_report` is the one way a validation result enters the database, for the sweep and for
"Check now" alike. One check of one domain raises at most one alert, summarising everything
that moved (findings opened, worsened, improved or resolved, and the DNS answers that
changed): a record edit usually moves several findings at once, and one message saying so
reads better than a burst of them. Nothing is alerted about:

* the first check of a domain (the baseline: there is nothing to drift from; its findings
  are on the dashboard),
* a domain that is not verified (it is still being set up; the wizard shows its progress),
* a finding that is still open with the same severity (it alerted when it opened),
* info findings coming or going on their own (they are not problems),
* a DNS name looked up in only one of the two checks (whatever made us ask differently, an
  edited SPF include or a rotated key, is compared in its own right; a failed lookup is
  nothing changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.core.clock import utcnow
from app.core.drift import (DRIFT, RESOLVED, FindingChanges, FindingKey, RecordChange,
                            alert_kind, answered_both_times, carry_unread, diff_findings,
                            diff_records, digest, finding_key, unread_names, worst_by_key)
from app.core.findings import ERROR, SEVERITIES, WARNING, Finding
from app.core.health import weight
from app.domains.models import Domain, DomainStatus
from app.extensions import db, redis_connection
from app.monitoring.alerts import public_url, raise_alert
from app.monitoring.models import Alert, DomainFinding, DomainHealth, HealthSnapshot
from app.monitoring.validator import ValidationReport, by_severity

SWEEP_PROGRESS_KEY = "monitoring:sweep"
SUBJECT_CODES = 3  # finding codes named in an alert's subject before "and N more"


@dataclass(frozen=True)
class RecordedCheck:
    """What one check changed; `alert` is None when it was nothing to tell anyone about."""

    health: DomainHealth
    findings: FindingChanges
    records: list[RecordChange]
    snapshot: HealthSnapshot | None
    alert: Alert | None
    baseline: bool


def record_report(domain_id: int, report: ValidationReport, *,
                  now: datetime | None = None) -> RecordedCheck | None:
    """Store one check of a domain and raise its alert, if any; None if the domain is gone.

    Flushes only: the sweep commits per batch, "Check now" per job. Safe to repeat with the
    same report: the second time nothing differs, so nothing is stored or alerted.
    """
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        return None
    now = now or utcnow()
    health = db.session.get(DomainHealth, domain_id)
    baseline = health is None
    open_rows = _open_rows(domain_id)
    changes = diff_findings([row.as_finding() for row in open_rows.values()], report.findings)
    _update_finding_rows(domain, open_rows, report.findings, now)

    previous = _latest_snapshot(domain_id)
    unread = unread_names(report.findings)
    records = carry_unread(previous.records if previous else {}, report.records, unread)
    record_changes = (answered_both_times(diff_records(previous.records or {}, report.records))
                      if previous is not None else [])
    new_digest = digest(records, report.findings)
    snapshot = None
    if baseline or health.digest != new_digest:
        snapshot = HealthSnapshot(workspace_id=domain.workspace_id, domain_id=domain_id,
                                  taken_at=now, score=report.health.score, records=records,
                                  findings=[found.to_dict()
                                            for found in by_severity(report.findings)],
                                  digest=new_digest)
        db.session.add(snapshot)

    score_before = None if baseline else health.score
    if baseline:
        health = DomainHealth(domain_id=domain_id, workspace_id=domain.workspace_id,
                              changed_at=now)
        db.session.add(health)
    elif health.score != report.health.score or changes.any:
        if health.score != report.health.score:
            health.previous_score = health.score
        health.changed_at = now
    _summarise(health, report, new_digest, now)
    db.session.flush()

    alert = None
    kind = alert_kind(changes, record_changes)
    if kind and not baseline and domain.status == DomainStatus.VERIFIED:
        alert = raise_alert(domain.workspace_id, kind=kind,
                            subject=_subject(domain, kind, changes, record_changes),
                            payload=_payload(domain, health, score_before, changes,
                                             record_changes),
                            domain_id=domain_id)
    return RecordedCheck(health, changes, record_changes, snapshot, alert, baseline)


def _open_rows(domain_id: int) -> dict[FindingKey, DomainFinding]:
    rows: dict[FindingKey, DomainFinding] = {}
    for row in db.session.scalars(select(DomainFinding)
                                  .where(DomainFinding.domain_id == domain_id,
                                         DomainFinding.resolved_at.is_(None))
                                  .order_by(DomainFinding.id)):
        rows.setdefault(finding_key(row.as_finding()), row)
    return rows


def _update_finding_rows(domain: Domain, open_rows: dict[FindingKey, DomainFinding],
                         findings: list[Finding], now: datetime) -> None:
    """Open a row per new finding, refresh the ones still seen, resolve the ones gone."""
    current = worst_by_key(findings)
    for key, found in current.items():
        row = open_rows.get(key)
        if row is None:
            db.session.add(DomainFinding(
                workspace_id=domain.workspace_id, domain_id=domain.id, code=found.code,
                severity=found.severity, record_host=found.record_host,
                record_type=found.record_type, message=found.message, fix=found.fix,
                first_seen=now, last_seen=now))
        else:
            row.severity, row.message, row.fix = found.severity, found.message, found.fix
            row.last_seen = now
    for key, row in open_rows.items():
        if key not in current:
            row.resolved_at = now


def _latest_snapshot(domain_id: int) -> HealthSnapshot | None:
    return db.session.scalar(select(HealthSnapshot).where(HealthSnapshot.domain_id == domain_id)
                             .order_by(HealthSnapshot.taken_at.desc(), HealthSnapshot.id.desc())
                             .limit(1))


def _summarise(health: DomainHealth, report: ValidationReport, new_digest: str,
               now: datetime) -> None:
    health.score = report.health.score
    health.band = report.health.band
    worst = min(report.findings, default=None,
                key=lambda found: (SEVERITIES.index(found.severity), -weight(found),
                                   found.code, found.record_host))
    health.worst_code = worst.code if worst else None
    health.worst_severity = worst.severity if worst else None
    health.error_count = sum(1 for found in report.findings if found.severity == ERROR)
    health.warning_count = sum(1 for found in report.findings if found.severity == WARNING)
    health.checked_at = now
    health.digest = new_digest


def _subject(domain: Domain, kind: str, changes: FindingChanges,
             record_changes: list[RecordChange]) -> str:
    if kind == DRIFT:
        moved = [*changes.opened, *(now for _, now in changes.worsened)]
        noun = "DNS problem" if len(moved) == 1 else "DNS problems"
        return f"{domain.fqdn}: {len(moved)} new or worse {noun} ({_codes(moved)})"
    if kind == RESOLVED:
        fixed = [*changes.resolved, *(now for _, now in changes.improved)]
        noun = "DNS problem" if len(fixed) == 1 else "DNS problems"
        return f"{domain.fqdn}: {len(fixed)} {noun} resolved or eased ({_codes(fixed)})"
    names = len(record_changes)
    return f"{domain.fqdn}: DNS records changed ({names} name{'s' if names != 1 else ''})"


def _codes(findings: list[Finding]) -> str:
    codes = list(dict.fromkeys(found.code for found in by_severity(findings)))
    shown = ", ".join(codes[:SUBJECT_CODES])
    return shown + (f" and {len(codes) - SUBJECT_CODES} more" if len(codes) > SUBJECT_CODES
                    else "")


def _payload(domain: Domain, health: DomainHealth, score_before: int | None,
             changes: FindingChanges, record_changes: list[RecordChange]) -> dict:
    """The webhook's `data` and the email's content: every change of this check."""

    def moved(pairs: list[tuple[Finding, Finding]]) -> list[dict]:
        return [{**now.to_dict(), "previous_severity": before.severity} for before, now in pairs]

    return {
        "domain": {"id": domain.id, "name": domain.fqdn},
        "score": health.score, "previous_score": score_before, "band": health.band,
        "opened": [found.to_dict() for found in by_severity(changes.opened)],
        "worsened": moved(changes.worsened),
        "improved": moved(changes.improved),
        "resolved": [found.to_dict() for found in by_severity(changes.resolved)],
        "records_changed": [change.to_dict() for change in record_changes],
        "url": domain_health_url(domain),
    }


def domain_health_url(domain: Domain) -> str:
    return public_url("monitoring.domain", slug=domain.workspace.slug, domain_id=domain.id)


# --- reading --------------------------------------------------------------------------------

def open_findings(domain: Domain) -> list[DomainFinding]:
    """The domain's findings still open, worst first."""
    rows = db.session.scalars(select(DomainFinding).where(
        DomainFinding.domain_id == domain.id, DomainFinding.resolved_at.is_(None))).all()
    return sorted(rows, key=lambda row: (SEVERITIES.index(row.severity)
                                         if row.severity in SEVERITIES else len(SEVERITIES),
                                         row.code, row.record_host))


# --- sweep progress (Redis) -----------------------------------------------------------------

def start_sweep_progress(total: int, now: datetime | None = None) -> None:
    redis_connection().hset(SWEEP_PROGRESS_KEY, mapping={
        "started_at": (now or utcnow()).isoformat(), "finished_at": "", "total": total,
        "done": 0})


def advance_sweep_progress(done: int) -> None:
    redis_connection().hincrby(SWEEP_PROGRESS_KEY, "done", done)


def finish_sweep_progress(now: datetime | None = None) -> None:
    redis_connection().hset(SWEEP_PROGRESS_KEY, "finished_at", (now or utcnow()).isoformat())


def sweep_progress() -> dict:
    """The latest sweep for the live dashboard: `started_at` / `finished_at` (ISO 8601, or
    None), `total` and `done` domains, and `running`; all None/0 before the first sweep."""
    raw = {key.decode(): value.decode()
           for key, value in redis_connection().hgetall(SWEEP_PROGRESS_KEY).items()}
    started, finished = raw.get("started_at") or None, raw.get("finished_at") or None
    return {"started_at": started, "finished_at": finished,
            "total": int(raw.get("total") or 0), "done": int(raw.get("done") or 0),
            "running": started is not None and finished is None}
