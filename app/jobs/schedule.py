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
    # A config key in minutes that overrides interval_seconds (operators tune sweeps).
    interval_setting: str | None = None

    def interval(self, config) -> int:
        if self.interval_setting is None:
            return self.interval_seconds
        return int(config[self.interval_setting]) * 60


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(name="dkim-advance-rotations", func="app.domains.tasks.advance_key_rotations",
                queue="keys", interval_seconds=600, timeout_seconds=900),
    PeriodicJob(name="dkim-rotate-due-keys", func="app.domains.tasks.rotate_due_keys",
                queue="keys", interval_seconds=3600, timeout_seconds=600),
    PeriodicJob(name="dns-health-sweep", func="app.monitoring.tasks.sweep_verified_domains",
                queue="dns", interval_seconds=900, timeout_seconds=3600,
                interval_setting="HEALTH_SWEEP_MINUTES"),
    PeriodicJob(name="tracking-renew-certificates",
                func="app.tracking.tasks.renew_due_certificates",
                queue="default", interval_seconds=3600, timeout_seconds=1800),
    PeriodicJob(name="reputation-roll-up", func="app.reputation.tasks.roll_up_recent_days",
                queue="default", interval_seconds=600, timeout_seconds=1800),
)
