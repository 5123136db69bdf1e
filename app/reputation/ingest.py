"""Delivery events from the MTA, in batches: checked row by row, stored in bulk, once each.

A batch is never all-or-nothing: good rows are stored, bad ones come back with their index,
a stable code and a message, so a sender resends only what it must fix. The event id is the
sender's idempotency key: a replayed row (in a later batch or twice in one) is counted as a
duplicate and stored once.

Speed matters (an MTA reports every delivery), so the domain names of a batch are resolved
in one query and the rows go in with one INSERT … ON CONFLICT DO NOTHING per batch: on
PostgreSQL as parameter arrays unnested server-side (no 65,535-parameter limit, one short
statement to parse), elsewhere as one executemany. Never an ORM object per row.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite

from app.core import reputation as core
from app.core.clock import utcnow
from app.core.names import DomainNameError, normalise_domain
from app.domains.models import Domain
from app.errors import AppError
from app.extensions import db
from app.reputation.models import ReputationEvent

MAX_BATCH = 10_000
MAX_BODY_BYTES = 16 * 1024 * 1024  # a full batch of generous rows is about 3 MB
CLOCK_SKEW = timedelta(minutes=5)  # an MTA's clock may run a little ahead of ours
MAX_EVENT_AGE = timedelta(days=90)  # older events could not move any score or chart we show
MAX_EVENT_ID = 100
MAX_ACCOUNT = 320
REGION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
FIELDS = frozenset({"id", "domain", "account", "region", "ip", "type", "bounce_class", "at"})
EVENT_TYPES = frozenset(core.EVENT_TYPES)
BOUNCE_CLASSES = frozenset(core.BOUNCE_CLASSES)


class BatchTooLarge(AppError):
    status = 413
    code = "batch_too_large"


class BadBatch(AppError):
    status = 422
    code = "events_not_a_list"


@dataclass(frozen=True)
class Rejection:
    index: int
    code: str
    message: str


@dataclass
class BatchResult:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"received": self.received, "accepted": self.accepted,
                "duplicates": self.duplicates,
                "rejected": [rejection.__dict__ for rejection in self.rejected]}


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def events_of(body: object) -> list:
    """The batch's rows, or the reason the body as a whole cannot be taken."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise BadBatch('Send a JSON object with an "events" list: '
                       '{"events": [{"id", "domain", "type", "at", …}]}.')
    unknown = sorted(set(body) - {"events"})
    if unknown:
        raise BadBatch(f"Unknown top-level field(s): {', '.join(unknown)}; only \"events\" is "
                       "read.", code="unknown_field")
    events = body["events"]
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"A batch holds at most {MAX_BATCH:,} events; this one has "
                            f"{len(events):,}. Split it; nothing was stored.")
    return events


def ingest(workspace_id: int, events: list, *, now: datetime | None = None) -> BatchResult:
    """Store the batch's valid rows for the workspace; the caller commits."""
    now = now or utcnow()
    result = BatchResult(received=len(events))
    domains = _domain_ids(workspace_id, events)
    rows = []
    for index, event in enumerate(events):
        try:
            rows.append(_row(event, domains, now))
        except _Invalid as invalid:
            result.rejected.append(Rejection(index, invalid.code, invalid.message))
    if rows:
        result.accepted = _insert(workspace_id, rows, now)
    result.duplicates = len(rows) - result.accepted
    return result


def _domain_ids(workspace_id: int, events: list) -> dict[str, int]:
    """The workspace's domains named in the batch, by the name as sent: one query."""
    names = {event["domain"] for event in events
             if isinstance(event, dict) and isinstance(event.get("domain"), str)}
    canonical = {name: _canonical(name) for name in names}
    wanted = {fqdn for fqdn in canonical.values() if fqdn}
    if not wanted:
        return {}
    found = dict(db.session.execute(select(Domain.fqdn, Domain.id).where(
        Domain.workspace_id == workspace_id, Domain.fqdn.in_(wanted))).all())
    return {name: found[fqdn] for name, fqdn in canonical.items() if fqdn in found}


def _canonical(name: str) -> str | None:
    if name.isascii():
        return name.strip().rstrip(".").lower()
    try:
        return normalise_domain(name)
    except DomainNameError:
        return None


def _row(event: object, domains: dict[str, int], now: datetime) -> tuple:
    if not isinstance(event, dict):
        raise _Invalid("not_an_object", "Each event must be a JSON object.")
    unknown = event.keys() - FIELDS
    if unknown:
        raise _Invalid("unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}; "
                                        f"allowed: {', '.join(sorted(FIELDS))}.")
    event_id = event.get("id")
    if event_id is None:
        raise _Invalid("missing_id", "Give every event an `id`: replays with the same id are "
                                     "stored once.")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        raise _Invalid("bad_id", f"`id` must be a string of 1 to {MAX_EVENT_ID} characters.")
    name = event.get("domain")
    if not isinstance(name, str) or not name:
        raise _Invalid("missing_domain", "Name the sending domain in `domain`.")
    domain_id = domains.get(name)
    if domain_id is None:
        raise _Invalid("unknown_domain", f"{name[:253]!r} is not a domain of this workspace.")
    kind = event.get("type")
    if kind is None:
        raise _Invalid("missing_type", "Give the event's `type`.")
    if kind not in EVENT_TYPES:
        raise _Invalid("bad_type", f"`type` must be one of {', '.join(core.EVENT_TYPES)}.")
    return (event_id, domain_id, kind, _account(event.get("account")),
            _region(event.get("region")), _ip(event.get("ip")),
            _bounce_class(event.get("bounce_class"), kind), _moment(event.get("at"), now))


def _account(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "@" not in value or len(value) > MAX_ACCOUNT:
        raise _Invalid("bad_account", "`account` must be the sending address "
                                      f"(local@domain, at most {MAX_ACCOUNT} characters).")
    return value.lower()


def _region(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not REGION_PATTERN.fullmatch(value.lower()):
        raise _Invalid("bad_region", "`region` must be a region code such as `eu-west` "
                                     "(letters, digits and hyphens, at most 32).")
    return value.lower()


def _ip(value: object) -> str | None:
    if value is None:
        return None
    normal = _normal_ip(value) if isinstance(value, str) else None
    if normal is not None:
        return normal
    raise _Invalid("bad_ip", "`ip` must be the sending IPv4 or IPv6 address, e.g. 192.0.2.10.")


@functools.lru_cache(maxsize=4096)
def _normal_ip(value: str) -> str | None:
    """Cached: a batch names the same few sending IPs thousands of times."""
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


def _bounce_class(value: object, kind: str) -> str | None:
    if value is None:
        return None
    if kind != "bounced":
        raise _Invalid("bounce_class_not_a_bounce",
                       "`bounce_class` belongs to bounced events only; leave it out here.")
    if value not in BOUNCE_CLASSES:
        raise _Invalid("bad_bounce_class",
                       f"`bounce_class` must be one of {', '.join(core.BOUNCE_CLASSES)}.")
    return value


def _moment(value: object, now: datetime) -> datetime:
    if value is None:
        raise _Invalid("missing_at", "Give the time the event happened in `at` (ISO 8601 with a "
                                     "zone, e.g. 2026-05-01T12:00:00Z).")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _Invalid("bad_at", "`at` must be an ISO 8601 time with a zone, e.g. "
                                 "2026-05-01T12:00:00Z or 2026-05-01T14:00:00+02:00.")
    if moment > now + CLOCK_SKEW:
        raise _Invalid("at_in_future", f"`at` is more than {CLOCK_SKEW.seconds // 60} minutes "
                                       "in the future: check the sender's clock.")
    if moment < now - MAX_EVENT_AGE:
        raise _Invalid("too_old", f"`at` is more than {MAX_EVENT_AGE.days} days ago; such "
                                  "events no longer count for reputation.")
    return moment


_PG_INSERT = text("""
    INSERT INTO reputation_events (event_id, workspace_id, domain_id, type, account, region,
                                   ip, bounce_class, occurred_at, received_at)
    SELECT e.event_id, :workspace_id, e.domain_id, e.type, e.account, e.region, e.ip,
           e.bounce_class, e.occurred_at, :received_at
    FROM unnest(CAST(:event_ids AS varchar[]), CAST(:domain_ids AS integer[]),
                CAST(:types AS varchar[]), CAST(:accounts AS varchar[]),
                CAST(:regions AS varchar[]), CAST(:ips AS varchar[]),
                CAST(:bounce_classes AS varchar[]), CAST(:occurred AS timestamptz[]))
         AS e(event_id, domain_id, type, account, region, ip, bounce_class, occurred_at)
    ON CONFLICT (workspace_id, event_id) DO NOTHING
""")
_ARRAYS = ("event_ids", "domain_ids", "types", "accounts", "regions", "ips", "bounce_classes",
           "occurred")


def _insert(workspace_id: int, rows: list[tuple], now: datetime) -> int:
    """Insert what is new; returns how many rows were (the rest were already there)."""
    if db.session.get_bind().dialect.name == "postgresql":
        columns = dict(zip(_ARRAYS, map(list, zip(*rows))))
        return db.session.execute(_PG_INSERT, {"workspace_id": workspace_id,
                                               "received_at": now, **columns}).rowcount
    names = ("event_id", "domain_id", "type", "account", "region", "ip", "bounce_class",
             "occurred_at")
    statement = sqlite.insert(ReputationEvent.__table__).on_conflict_do_nothing(
        index_elements=["workspace_id", "event_id"])
    return db.session.execute(statement, [
        {**dict(zip(names, row)), "workspace_id": workspace_id, "received_at": now}
        for row in rows]).rowcount

