"""Daily roll-ups: a (domain, UTC day)'s events counted by type, by aggregate SQL.

Rolling up a day replaces that domain's rows for the day (delete, then INSERT … SELECT …
GROUP BY), so running it twice, or after late events arrived, gives the same rows as running
it once on everything. Which days to redo is found from the events' arrival times.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, delete, func, insert, literal, null, or_, select
from sqlalchemy.types import Date, String

from app.core import reputation as core
from app.extensions import db
from app.reputation.models import EventType, ReputationEvent, ReputationStat, StatScope

DOMAINS_PER_STATEMENT = 1000
Event = ReputationEvent
STATS = ReputationStat.__table__  # plain Core statements, not the ORM's bulk paths


def touched_since(since: datetime) -> set[tuple[int, date]]:
    """The (domain, UTC day) pairs that received events after `since`."""
    rows = db.session.execute(select(Event.domain_id, _utc_day(Event.occurred_at))
                              .where(Event.received_at > since).distinct())
    return {(domain_id, day if isinstance(day, date) else date.fromisoformat(day))
            for domain_id, day in rows}


def roll_up(pairs: Iterable[tuple[int, date]]) -> None:
    """Recompute the roll-ups of the given (domain, day) pairs."""
    domains_by_day: dict[date, list[int]] = defaultdict(list)
    for domain_id, day in pairs:
        domains_by_day[day].append(domain_id)
    for day, domain_ids in sorted(domains_by_day.items()):
        ordered = sorted(set(domain_ids))
        for start in range(0, len(ordered), DOMAINS_PER_STATEMENT):
            _roll_up_day(day, ordered[start:start + DOMAINS_PER_STATEMENT])


def _roll_up_day(day: date, domain_ids: list[int]) -> None:
    db.session.execute(delete(STATS).where(STATS.c.day == day, STATS.c.domain_id.in_(domain_ids)))
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    of_the_day = (Event.domain_id.in_(domain_ids), Event.occurred_at >= start,
                  Event.occurred_at < start + timedelta(days=1))
    for scope, key in ((StatScope.ALL, None), (StatScope.REGION, Event.region),
                       (StatScope.IP, Event.ip)):
        keys = (key,) if key is not None else ()
        query = (select(Event.workspace_id, Event.domain_id, literal(day, Date),
                        literal(scope.value, String),
                        Event.region if scope is StatScope.REGION else null(),
                        Event.ip if scope is StatScope.IP else null(), *_counts())
                 .where(*of_the_day, *(k.is_not(None) for k in keys))
                 .group_by(Event.workspace_id, Event.domain_id, *keys))
        db.session.execute(insert(STATS).from_select(
            ["workspace_id", "domain_id", "day", "scope", "region", "ip", *core.COUNT_FIELDS],
            query))


def _counts() -> list:
    """One SUM(CASE …) per count column, in `core.COUNT_FIELDS` order."""
    hard = Event.bounce_class.in_(core.HARD_BOUNCE_CLASSES)
    bounced = Event.type == EventType.BOUNCED
    conditions = {
        **{kind.value: Event.type == kind for kind in EventType},
        "hard_bounced": and_(bounced, hard),
        "soft_bounced": and_(bounced, or_(Event.bounce_class.is_(None), ~hard)),
    }
    return [func.coalesce(func.sum(case((conditions[name], 1), else_=0)), 0)
            for name in core.COUNT_FIELDS]


def _utc_day(column):
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps the UTC text UtcDateTime wrote
