"""The domain health score (0-100): a documented formula over the findings, that explains itself.

How the score is computed, in plain words:

1. Start at 100.
2. Each finding costs points by its kind (the group of its code) and its severity, from
   `WEIGHTS` below: an SPF/DKIM error costs 35, a DMARC error 30, a blacklisting 40, a
   delivery-record or DNS error 30; warnings cost 5 to 15; `info` findings cost nothing.
3. The score never goes below 0.
4. Any `error` caps the score at 69, so a domain with an error is never "healthy" or
   "warning": the points needed to reach 69 are charged to the worst error (the costliest,
   then the first by code and host).
5. Bands: 90-100 healthy, 70-89 warning, 0-69 critical.

Every point lost is attributed to a finding: the deductions add up to exactly 100 - score.
Findings are charged worst first; once the score reaches 0, later findings are listed with 0
points. Adding a finding never raises the score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from app.core.findings import (
    DELIVERY,
    DKIM,
    DMARC,
    DNS,
    DNSBL,
    ERROR,
    FINDING_KINDS,
    INFO,
    SPF,
    WARNING,
    Finding,
)

PERFECT = 100
ERROR_CAP = 69  # any error keeps the score below 70
HEALTHY_FROM, WARNING_FROM = 90, 70  # band thresholds; below WARNING_FROM is critical
OTHER = "other"  # codes this deploy does not know (a snapshot from a newer one)

# Points a finding costs, by group of its code and by severity. Rendered on the score page and
# in the README, so it is data rather than branches.
WEIGHTS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    group: MappingProxyType({ERROR: error, WARNING: warning, INFO: 0})
    for group, error, warning in (
        (SPF, 35, 10),
        (DKIM, 35, 10),
        (DMARC, 30, 10),
        (DELIVERY, 30, 5),
        (DNS, 30, 5),
        (DNSBL, 40, 15),
        (OTHER, 30, 10),
    )
})
BANDS = (("healthy", HEALTHY_FROM), ("warning", WARNING_FROM), ("critical", 0))


class Deduction(NamedTuple):
    """Points one finding took off the score."""

    code: str
    host: str
    points: int


@dataclass(frozen=True)
class HealthScore:
    score: int
    band: str
    deductions: list[Deduction]

    def to_dict(self) -> dict:
        return {"score": self.score, "band": self.band,
                "deductions": [deduction._asdict() for deduction in self.deductions]}


def weight(found: Finding) -> int:
    """What one finding costs before the floor and the cap."""
    kind = FINDING_KINDS.get(found.code)
    return WEIGHTS[kind.group if kind else OTHER][found.severity]


def band(score_value: int) -> str:
    return next(name for name, lowest in BANDS if score_value >= lowest)


def score(findings: Iterable[Finding]) -> HealthScore:
    """The health score of one domain from all its findings (see the module docstring)."""
    charged = sorted(((weight(found), found) for found in findings),
                     key=lambda pair: (-pair[0], _severity_rank(pair[1]), pair[1].code,
                                       pair[1].record_host))
    remaining = PERFECT
    deductions = []
    for points, found in charged:
        taken = min(points, remaining)
        remaining -= taken
        deductions.append(Deduction(found.code, found.record_host, taken))
    errors = [index for index, (_, found) in enumerate(charged) if found.severity == ERROR]
    if errors and remaining > ERROR_CAP:
        worst = deductions[errors[0]]
        deductions[errors[0]] = worst._replace(points=worst.points + remaining - ERROR_CAP)
        remaining = ERROR_CAP
    return HealthScore(score=remaining, band=band(remaining), deductions=deductions)


def _severity_rank(found: Finding) -> int:
    return (ERROR, WARNING, INFO).index(found.severity)
