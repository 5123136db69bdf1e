"""The reputation score (0-100) of one sending identity, from its delivery events.

How the score is computed, in plain words (the README repeats this):

1. Look at the identity's own daily roll-ups over the last `WINDOW_DAYS` days (a subdomain's
   events count for that subdomain only, never for its parent or siblings). Messages *sent*
   are those with an outcome: delivered + bounced.
2. No message sent in the window: no score (None) — there is nothing to judge yet.
3. Start at 100 and take off points, each attributed to its cause:
   * **hard bounces** (class `hard` or `block`: the address or the sender was refused for
     good) per message sent: nothing up to 0.5 %, then linearly up to 40 points at 5 %;
   * **soft bounces** (every other bounce) per message sent: nothing up to 2 %, then linearly
     up to 10 points at 10 %;
   * **complaints** per message delivered, against the mailbox providers' bulk-sender
     thresholds (Gmail and Yahoo, 2024): under 0.1 % nothing; from 0.1 % (warn) 20 points,
     rising linearly to 40 just under 0.3 %; at 0.3 % (critical) and above 60 points;
   * **blacklisting**: 30 points for an open DNSBL listing, 10 more for each further list
     (at most 50);
   * **DNS health**: a fifth of what the domain's DNS health score lacks (health 60 → 8
     points; not checked yet → nothing).
   Bounce and complaint rates count only from `MIN_VOLUME` messages sent in the window;
   below that, a few unlucky messages would swing the score, so only blacklisting and DNS
   health count and the score says `low_volume`.
4. Caps, charged to their cause like the points above: a complaint rate at the warn
   threshold keeps the score at most 79 (never "good"), at the critical threshold at most
   39 ("bad"); a blacklisting keeps it at most 59 ("poor" or worse).
5. The score never goes below 0. Bands: 80-100 good, 60-79 fair, 40-59 poor, 0-39 bad.

Every point lost is attributed: the deductions add up to exactly 100 - score.

A parent's *subtree* score is separate from its own: the volume-weighted mean (by messages
sent in the window) of the own scores of the parent and all its descendants that have one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import NamedTuple

PERFECT = 100
WINDOW_DAYS = 30
MIN_VOLUME = 100  # messages sent in the window before bounce and complaint rates count

EVENT_TYPES = ("delivered", "bounced", "deferred", "complained", "opened", "clicked",
               "unsubscribed")
# What an MTA may say about a bounce. `hard` and `block` weigh as hard bounces; `soft` and
# `undetermined` (and a bounce without a class) as soft ones.
BOUNCE_CLASSES = ("hard", "soft", "block", "undetermined")
HARD_BOUNCE_CLASSES = ("hard", "block")

# (rate where points start, rate where they reach the maximum, maximum points)
HARD_BOUNCE_RAMP = (0.005, 0.05, 40)
SOFT_BOUNCE_RAMP = (0.02, 0.10, 10)
COMPLAINT_WARN, COMPLAINT_CRITICAL = 0.001, 0.003  # Gmail / Yahoo bulk sender guidance
COMPLAINT_WARN_POINTS, COMPLAINT_WARN_TOP, COMPLAINT_CRITICAL_POINTS = 20, 40, 60
COMPLAINT_WARN_CAP, COMPLAINT_CRITICAL_CAP = 79, 39
BLACKLIST_POINTS, BLACKLIST_EXTRA_POINTS, BLACKLIST_MAX_POINTS = 30, 10, 50
BLACKLIST_CAP = 59
DNS_HEALTH_SHARE = 0.2  # of the points the DNS health score lacks

GOOD_FROM, FAIR_FROM, POOR_FROM = 80, 60, 40
BANDS = (("good", GOOD_FROM), ("fair", FAIR_FROM), ("poor", POOR_FROM), ("bad", 0))

# Deduction causes, in the order they are charged when several apply.
HARD_BOUNCES, SOFT_BOUNCES, COMPLAINTS, BLACKLIST, DNS_HEALTH = (
    "hard_bounces", "soft_bounces", "complaints", "blacklist", "dns_health")


@dataclass(frozen=True)
class EventCounts:
    """What a day (or a window of days) of one identity's events adds up to."""

    delivered: int = 0
    bounced: int = 0
    hard_bounced: int = 0  # class hard or block
    soft_bounced: int = 0  # class soft, undetermined or none
    deferred: int = 0
    complained: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0

    @property
    def sent(self) -> int:
        return self.delivered + self.bounced

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(*(getattr(self, name) + getattr(other, name) for name in COUNT_FIELDS))

    def __sub__(self, other: EventCounts) -> EventCounts:
        return EventCounts(*(getattr(self, name) - getattr(other, name) for name in COUNT_FIELDS))

    @classmethod
    def from_mapping(cls, row: Mapping) -> EventCounts:
        return cls(*(int(row[name] or 0) for name in COUNT_FIELDS))

    def rates(self) -> Rates:
        sent, delivered = self.sent, self.delivered
        return Rates(bounce=_ratio(self.bounced, sent), hard_bounce=_ratio(self.hard_bounced, sent),
                     soft_bounce=_ratio(self.soft_bounced, sent),
                     complaint=_ratio(self.complained, delivered))


COUNT_FIELDS = tuple(f.name for f in fields(EventCounts))


class Rates(NamedTuple):
    """Fractions (0.002 is 0.2 %); None when there is nothing to divide by."""

    bounce: float | None
    hard_bounce: float | None
    soft_bounce: float | None
    complaint: float | None


class Deduction(NamedTuple):
    cause: str
    points: int
    detail: str


@dataclass(frozen=True)
class ReputationScore:
    score: int
    band: str
    deductions: list[Deduction]
    counts: EventCounts
    low_volume: bool

    def to_dict(self) -> dict:
        return {"score": self.score, "band": self.band, "low_volume": self.low_volume,
                "rates": self.counts.rates()._asdict(),
                "deductions": [deduction._asdict() for deduction in self.deductions]}


@dataclass(frozen=True)
class Standing:
    """What besides the events counts: open blacklistings and the DNS health score."""

    blacklistings: int = 0
    dns_health: int | None = None


@dataclass
class _Charge:
    cause: str
    points: int
    detail: str
    cap: int | None = None


def band(score_value: int) -> str:
    return next(name for name, lowest in BANDS if score_value >= lowest)


def score(counts: EventCounts, standing: Standing = Standing()) -> ReputationScore | None:
    """The identity's score over a window (see the module docstring); None when it sent
    nothing in the window."""
    if counts.sent == 0:
        return None
    low_volume = counts.sent < MIN_VOLUME
    charges = [] if low_volume else _rate_charges(counts)
    charges += _standing_charges(standing)
    remaining = PERFECT
    for charge in charges:
        charge.points = min(charge.points, remaining)
        remaining -= charge.points
    # The strictest cap wins; the points to reach it go to the cause that set it.
    capped = [charge for charge in charges if charge.cap is not None and remaining > charge.cap]
    if capped:
        strictest = min(capped, key=lambda charge: charge.cap)
        strictest.points += remaining - strictest.cap
        remaining = strictest.cap
    deductions = [Deduction(c.cause, c.points, c.detail) for c in charges if c.points]
    return ReputationScore(score=remaining, band=band(remaining), deductions=deductions,
                           counts=counts, low_volume=low_volume)


def subtree_score(members: Iterable[tuple[int, int]]) -> int | None:
    """The volume-weighted mean of (score, messages sent) pairs; None when none has volume."""
    weighted = total = 0
    for member_score, sent in members:
        weighted += member_score * sent
        total += sent
    return round(weighted / total) if total else None


def _rate_charges(counts: EventCounts) -> list[_Charge]:
    rates = counts.rates()
    charges = []
    hard = _ramp(rates.hard_bounce, *HARD_BOUNCE_RAMP)
    if hard:
        charges.append(_Charge(HARD_BOUNCES, hard,
                               f"{_percent(rates.hard_bounce)} hard bounces of messages sent"))
    soft = _ramp(rates.soft_bounce, *SOFT_BOUNCE_RAMP)
    if soft:
        charges.append(_Charge(SOFT_BOUNCES, soft,
                               f"{_percent(rates.soft_bounce)} soft bounces of messages sent"))
    complaint = rates.complaint
    if complaint is not None and complaint >= COMPLAINT_CRITICAL:
        charges.append(_Charge(COMPLAINTS, COMPLAINT_CRITICAL_POINTS,
                               f"{_percent(complaint)} complaints: at or over the providers' "
                               f"{_percent(COMPLAINT_CRITICAL)} limit",
                               cap=COMPLAINT_CRITICAL_CAP))
    elif complaint is not None and complaint >= COMPLAINT_WARN:
        between = (complaint - COMPLAINT_WARN) / (COMPLAINT_CRITICAL - COMPLAINT_WARN)
        points = COMPLAINT_WARN_POINTS + round(
            between * (COMPLAINT_WARN_TOP - COMPLAINT_WARN_POINTS))
        charges.append(_Charge(COMPLAINTS, points,
                               f"{_percent(complaint)} complaints: over the providers' "
                               f"{_percent(COMPLAINT_WARN)} warning level",
                               cap=COMPLAINT_WARN_CAP))
    return charges


def _standing_charges(standing: Standing) -> list[_Charge]:
    charges = []
    if standing.blacklistings:
        points = min(BLACKLIST_MAX_POINTS,
                     BLACKLIST_POINTS + BLACKLIST_EXTRA_POINTS * (standing.blacklistings - 1))
        lists = "list" if standing.blacklistings == 1 else "lists"
        charges.append(_Charge(BLACKLIST, points,
                               f"listed on {standing.blacklistings} DNS block{lists}",
                               cap=BLACKLIST_CAP))
    if standing.dns_health is not None and standing.dns_health < PERFECT:
        points = round((PERFECT - standing.dns_health) * DNS_HEALTH_SHARE)
        if points:
            charges.append(_Charge(DNS_HEALTH, points,
                                   f"DNS health score {standing.dns_health}"))
    return charges


def _ramp(rate: float | None, start: float, full: float, maximum: int) -> int:
    if rate is None or rate <= start:
        return 0
    return round(min(1.0, (rate - start) / (full - start)) * maximum)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f} %"


# --- roll-up arithmetic -------------------------------------------------------------------

def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def window_start(last_day: date, window_days: int = WINDOW_DAYS) -> date:
    """The first day of the window that ends with (and includes) `last_day`."""
    return last_day - timedelta(days=window_days - 1)


def trailing_windows(daily: Mapping[date, EventCounts], days: Sequence[date],
                     window_days: int = WINDOW_DAYS) -> dict[date, EventCounts]:
    """For each of `days` (consecutive), the sum of the `window_days` days ending with it.

    `daily` must hold the days from `window_start(days[0])` on (missing days count as
    nothing); a running sum keeps this linear in the number of days.
    """
    if not days:
        return {}
    running = EventCounts()
    for day in days_between(window_start(days[0], window_days), days[0]):
        running += daily.get(day, EventCounts())
    windows = {days[0]: running}
    for day in days[1:]:
        running = (running + daily.get(day, EventCounts())
                   - daily.get(day - timedelta(days=window_days), EventCounts()))
        windows[day] = running
    return windows
