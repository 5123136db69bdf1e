"""Drift: what changed between two validations of a domain, as values.

Pure. A finding is the same finding from one sweep to the next when its code and the record it
is about (host and type) match; its message may change (a count, a seen value) without it being
new. `diff_findings` tells the monitor which findings opened, worsened, improved or resolved, and
`diff_records` which DNS answers changed, so each change alerts exactly once; `alert_kind`
says what one check of one domain should tell its workspace, if anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.core.findings import INFO, SEVERITIES, Finding

# What one check of one domain tells its workspace (Alert.kind): the worst thing that moved.
DRIFT = "drift"  # a finding opened or worsened
RESOLVED = "resolved"  # findings went away or got milder, and nothing got worse
RECORDS_CHANGED = "records_changed"  # DNS answers changed, the judgement did not
# Lookups that failed leave their name out of ValidationReport.records; these finding codes
# name the record that could not be read (see `carry_unread`).
LOOKUP_FAILURE_CODES = frozenset({"DNS_TIMEOUT", "DNS_SERVFAIL"})

FindingKey = tuple[str, str, str]  # code, record host, record type


def finding_key(found: Finding) -> FindingKey:
    return (found.code, found.record_host.lower(), found.record_type.upper())


def _rank(severity: str) -> int:
    """Higher is worse; an unknown severity ranks as the mildest."""
    return len(SEVERITIES) - SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True)
class FindingChanges:
    opened: list[Finding] = field(default_factory=list)
    worsened: list[tuple[Finding, Finding]] = field(default_factory=list)  # (before, now)
    improved: list[tuple[Finding, Finding]] = field(default_factory=list)  # (before, now)
    resolved: list[Finding] = field(default_factory=list)
    unchanged: list[Finding] = field(default_factory=list)  # still there, same severity

    @property
    def any(self) -> bool:
        return bool(self.opened or self.worsened or self.improved or self.resolved)


def diff_findings(before: Iterable[Finding], now: Iterable[Finding]) -> FindingChanges:
    """Match findings by `finding_key`; duplicates of one key count once (the worst)."""
    old, new = worst_by_key(before), worst_by_key(now)
    changes = FindingChanges()
    for key, current in new.items():
        previous = old.get(key)
        if previous is None:
            changes.opened.append(current)
        elif _rank(current.severity) > _rank(previous.severity):
            changes.worsened.append((previous, current))
        elif _rank(current.severity) < _rank(previous.severity):
            changes.improved.append((previous, current))
        else:
            changes.unchanged.append(current)
    changes.resolved.extend(found for key, found in old.items() if key not in new)
    return changes


def worst_by_key(findings: Iterable[Finding]) -> dict[FindingKey, Finding]:
    """One finding per key: of findings about the same record with the same code, the worst."""
    worst: dict[FindingKey, Finding] = {}
    for found in findings:
        key = finding_key(found)
        if key not in worst or _rank(found.severity) > _rank(worst[key].severity):
            worst[key] = found
    return worst


@dataclass(frozen=True)
class RecordChange:
    """One DNS name/type whose answer changed: `before`/`after` are None when not observed."""

    name: str  # "<host> <TYPE>", as in ValidationReport.records
    before: list[str] | None
    after: list[str] | None

    @property
    def added(self) -> list[str]:
        return [value for value in self.after or [] if value not in (self.before or [])]

    @property
    def removed(self) -> list[str]:
        return [value for value in self.before or [] if value not in (self.after or [])]

    def to_dict(self) -> dict:
        return {"name": self.name, "before": self.before, "after": self.after,
                "added": self.added, "removed": self.removed}


def diff_records(before: Mapping[str, Sequence[str]],
                 after: Mapping[str, Sequence[str]]) -> list[RecordChange]:
    """Names whose values differ, in name order. A name observed only once (e.g. asked only
    because a new include appeared) counts as a change from or to "not observed"."""
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        old_values = sorted(old) if old is not None else None
        new_values = sorted(new) if new is not None else None
        if old_values != new_values:
            changes.append(RecordChange(name, old_values, new_values))
    return changes


def answered_both_times(changes: Iterable[RecordChange]) -> list[RecordChange]:
    """The changes worth an alert: names asked in both checks. A name asked only once came or
    went with whatever changed what we ask (an include added, a key rotated, a lookup that
    failed or a blocklist that refused us), and that cause is compared in its own right."""
    return [change for change in changes
            if change.before is not None and change.after is not None]


def digest(records: Mapping[str, Sequence[str]], findings: Iterable[Finding]) -> str:
    """A stable hash of what was observed and judged: equal digests mean nothing to store."""
    body = {"records": {name: sorted(values) for name, values in records.items()},
            "findings": sorted(list(finding_key(found)) + [found.severity, found.message]
                               for found in findings)}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def unread_names(findings: Iterable[Finding]) -> set[str]:
    """The `"<host> <TYPE>"` names whose lookup failed, from the DNS failure findings."""
    return {f"{found.record_host.lower().removesuffix('.')} {found.record_type.upper()}"
            for found in findings if found.code in LOOKUP_FAILURE_CODES}


def carry_unread(previous: Mapping[str, Sequence[str]], current: Mapping[str, Sequence[str]],
                 unread: Collection[str]) -> dict[str, list[str]]:
    """The records to remember after a check: what was read now, and the last known values of
    names that could not be read, so the next good answer is compared with the last one seen
    and a change made while DNS was failing still shows."""
    kept = {name: sorted(previous[name]) for name in unread
            if name in previous and name not in current}
    return {**kept, **{name: sorted(values) for name, values in current.items()}}


def alert_kind(changes: FindingChanges, records: Sequence[RecordChange]) -> str | None:
    """What one check should alert about, or None.

    Info findings (a blocklist refusing our query, say) are not problems and never alert on
    their own. A check that both fixes and breaks something is drift: the breakage is news.
    """
    if any(found.severity != INFO for found in changes.opened) or changes.worsened:
        return DRIFT
    if any(found.severity != INFO for found in changes.resolved) or changes.improved:
        return RESOLVED
    if records:
        return RECORDS_CHANGED
    return None
