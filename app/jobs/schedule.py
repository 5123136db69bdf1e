"""Every periodic job, declared once as data with a stable name.

The cron scheduler (`python worker.py --cron`) registers exactly this list, so a
re-deploy never duplicates a schedule. Features add their rows here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    queue: str
    interval_seconds: int
    timeout_seconds: int


PERIODIC_JOBS: tuple[PeriodicJob, ...] = ()
