"""Reputation as the pages, the API and the tree read it: scores from the stored daily roll-ups.

Everything here reads `ReputationStat` (never the raw events), plus each domain's open DNSBL
listings and DNS health score, in a fixed number of queries whatever the number of domains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select

from app.core import reputation as core
from app.core.clock import utcnow
from app.db_types import id_in
from app.domains.models import Domain
from app.extensions import db
from app.monitoring.models import DomainFinding, DomainHealth
from app.reputation.models import ReputationStat, StatScope

BLACKLISTED_CODE = "DNSBL_LISTED"
COUNT_COLUMNS = tuple(getattr(ReputationStat, name) for name in core.COUNT_FIELDS)


@dataclass(frozen=True)
class ReputationSummary:
    """A domain's own score and, separately, its subtree's (itself and every descendant).

    Scores are None while the identity (or the whole subtree) sent nothing in the window.
    """

    score: int | None
    band: str | None
    subtree_score: int | None
    subtree_band: str | None
    sent: int = 0  # own messages sent in the window
    subtree_sent: int = 0
    low_volume: bool = False


def today() -> date:
    return utcnow().date()


def reputation_summaries(domain_ids: Iterable[int], *,
                         last_day: date | None = None) -> dict[int, ReputationSummary]:
    """Every given domain's summary over the window ending `last_day` (today): one query per
    tree level for the subtrees, then their window totals, blacklistings and DNS health."""
    ids = sorted(set(domain_ids))
    if not ids:
        return {}
    subtree_of = _subtrees(ids)
    members = set().union(*subtree_of.values())
    first_day = core.window_start(last_day or today())
    totals = window_totals(members, first_day, last_day or today())
    standings = standings_of(list(totals))  # only identities that sent get a score
    own = {member_id: core.score(counts, standings.get(member_id, core.Standing()))
           for member_id, counts in totals.items()}
    summaries = {}
    for domain_id in ids:
        mine = own.get(domain_id)
        scored = [(own[m].score, totals[m].sent) for m in subtree_of[domain_id] if own.get(m)]
        subtree = core.subtree_score(scored)
        summaries[domain_id] = ReputationSummary(
            score=mine.score if mine else None, band=mine.band if mine else None,
            subtree_score=subtree, subtree_band=core.band(subtree) if subtree is not None else None,
            sent=totals[domain_id].sent if domain_id in totals else 0,
            subtree_sent=sum(sent for _, sent in scored),
            low_volume=mine.low_volume if mine else False)
    return summaries


def _subtrees(ids: list[int]) -> dict[int, set[int]]:
    """Each given domain's members: itself and its descendants at any depth.

    Walked a level at a time with `parent_id IN (…)`, an index lookup per level; a recursive
    CTE made PostgreSQL scan every domain of the platform on each call (bench/tree.py).
    """
    parent_of: dict[int, int] = {}
    frontier, seen = set(ids), set(ids)
    while frontier:
        level = db.session.execute(select(Domain.id, Domain.parent_id)
                                   .where(_in(Domain.parent_id, frontier))).all()
        frontier = set()
        for child_id, parent_id in level:
            parent_of[child_id] = parent_id
            if child_id not in seen:
                seen.add(child_id)
                frontier.add(child_id)
    roots = set(ids)
    subtree_of: dict[int, set[int]] = {root: {root} for root in ids}
    for member in seen:
        ancestor = parent_of.get(member)
        while ancestor is not None:
            if ancestor in roots:
                subtree_of[ancestor].add(member)
            ancestor = parent_of.get(ancestor)
    return subtree_of


def _in(column, ids: Select | Iterable[int]):
    if isinstance(ids, Select):
        return column.in_(ids)
    return id_in(column, ids, db.session.get_bind().dialect.name)


def window_totals(domain_ids: Select | Iterable[int], first_day: date,
                  last_day: date) -> dict[int, core.EventCounts]:
    """Each domain's own counts summed over the days [first_day, last_day]; domains with
    no roll-up in the range are absent."""
    rows = db.session.execute(
        select(ReputationStat.domain_id, *(func.sum(column).label(column.key)
                                           for column in COUNT_COLUMNS))
        .where(_in(ReputationStat.domain_id, domain_ids),
               ReputationStat.scope == StatScope.ALL,
               ReputationStat.day >= first_day, ReputationStat.day <= last_day)
        .group_by(ReputationStat.domain_id)).mappings()
    return {row["domain_id"]: core.EventCounts.from_mapping(row) for row in rows}


def standings_of(domain_ids: Select | Iterable[int]) -> dict[int, core.Standing]:
    """Open DNSBL listings and the DNS health score of each domain that has either."""
    if not isinstance(domain_ids, Select):
        domain_ids = list(domain_ids)
        if not domain_ids:
            return {}
    listings = dict(db.session.execute(
        select(DomainFinding.domain_id, func.count())
        .where(_in(DomainFinding.domain_id, domain_ids), DomainFinding.code == BLACKLISTED_CODE,
               DomainFinding.resolved_at.is_(None))
        .group_by(DomainFinding.domain_id)).all())
    health = dict(db.session.execute(
        select(DomainHealth.domain_id, DomainHealth.score)
        .where(_in(DomainHealth.domain_id, domain_ids))).all())
    return {domain_id: core.Standing(blacklistings=listings.get(domain_id, 0),
                                     dns_health=health.get(domain_id))
            for domain_id in listings.keys() | health.keys()}


# --- one domain's reputation over a date range ----------------------------------------------

MAX_RANGE_DAYS = 366


class RangeError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return core.days_between(self.first, self.last)


def parse_range(raw_from: str | None, raw_to: str | None) -> DateRange:
    """`from`/`to` as YYYY-MM-DD (both included); by default the score window ending today."""
    fields = {}
    last = _parse_day(raw_to, "to", fields) or today()
    first = _parse_day(raw_from, "from", fields) or core.window_start(last)
    if not fields and first > last:
        fields["from"] = "`from` must be on or before `to`."
    if not fields and (last - first).days >= MAX_RANGE_DAYS:
        fields["from"] = f"Ask for at most {MAX_RANGE_DAYS} days at a time."
    if fields:
        raise RangeError(fields)
    return DateRange(first, last)


def _parse_day(raw: str | None, name: str, fields: dict) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        fields[name] = f"`{name}` must be a date like 2026-05-01."
        return None


@dataclass(frozen=True)
class DayPoint:
    day: date
    counts: core.EventCounts
    score: int | None  # over the window ending this day

    @property
    def rates(self) -> core.Rates:
        return self.counts.rates()


@dataclass(frozen=True)
class Breakdown:
    """A region's or a sending IP's counts over the range."""

    key: str
    counts: core.EventCounts


@dataclass(frozen=True)
class DomainReputation:
    date_range: DateRange
    current: core.ReputationScore | None  # over the window ending the range's last day
    standing: core.Standing
    summary: ReputationSummary
    daily: list[DayPoint]
    regions: list[Breakdown]
    ips: list[Breakdown]


def domain_reputation(domain: Domain, date_range: DateRange) -> DomainReputation:
    """The page's and the API's view of one domain (its own events only; its subtree only in
    the summary). Scores over time use today's blacklist and DNS health standing."""
    standing = standings_of([domain.id]).get(domain.id, core.Standing())
    daily_counts = _daily_counts(domain.id, core.window_start(date_range.first), date_range.last)
    windows = core.trailing_windows(daily_counts, date_range.days)
    daily = []
    for day in date_range.days:
        scored = core.score(windows[day], standing)
        daily.append(DayPoint(day, daily_counts.get(day, core.EventCounts()),
                              scored.score if scored else None))
    return DomainReputation(
        date_range=date_range, current=core.score(windows[date_range.last], standing),
        standing=standing,
        summary=reputation_summaries([domain.id], last_day=date_range.last)[domain.id],
        daily=daily, regions=_breakdown(domain.id, StatScope.REGION, date_range),
        ips=_breakdown(domain.id, StatScope.IP, date_range))


def _daily_counts(domain_id: int, first: date, last: date) -> dict[date, core.EventCounts]:
    rows = db.session.execute(
        select(ReputationStat.day, *COUNT_COLUMNS)
        .where(ReputationStat.domain_id == domain_id, ReputationStat.scope == StatScope.ALL,
               ReputationStat.day >= first, ReputationStat.day <= last)).mappings()
    return {row["day"]: core.EventCounts.from_mapping(row) for row in rows}


def _breakdown(domain_id: int, scope: StatScope, date_range: DateRange) -> list[Breakdown]:
    key = ReputationStat.region if scope is StatScope.REGION else ReputationStat.ip
    rows = db.session.execute(
        select(key.label("key"), *(func.sum(column).label(column.key)
                                   for column in COUNT_COLUMNS))
        .where(ReputationStat.domain_id == domain_id, ReputationStat.scope == scope,
               ReputationStat.day >= date_range.first, ReputationStat.day <= date_range.last)
        .group_by(key).order_by(key)).mappings()
    return [Breakdown(row["key"], core.EventCounts.from_mapping(row)) for row in rows]
