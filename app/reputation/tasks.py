"""The periodic roll-up job: recompute the daily roll-ups of the days that got new events.

The job remembers (in Redis) when its last successful run started; the next run redoes the
(domain, day) pairs that received events since then, less `ARRIVAL_OVERLAP` so a request that
was still committing its batch when the last run looked is not missed. Redoing a day is
idempotent, so the overlap and a lost watermark only cost time. One run at a time.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from app.core.clock import utcnow
from app.extensions import redis_connection
from app.jobs.runtime import job
from app.reputation import ingest, rollup
from app.uow import commit

WATERMARK_KEY = "reputation:rolled-up-since"
LOCK_KEY = "reputation:roll-up:lock"
LOCK_SECONDS = 1800  # the job's timeout: a crashed run frees the lock by then
ARRIVAL_OVERLAP = timedelta(minutes=5)


@job
def roll_up_recent_days() -> dict:
    """Roll up every (domain, day) that received events since the last run."""
    lock = secrets.token_hex(8)
    redis = redis_connection()
    if not redis.set(LOCK_KEY, lock, nx=True, ex=LOCK_SECONDS):
        return {"skipped": "another roll-up is still running"}
    try:
        started = utcnow()
        pairs = rollup.touched_since(_watermark(started) - ARRIVAL_OVERLAP)
        rollup.roll_up(pairs)
        # Committed before the lock goes, or a next run could write the same days beside
        # ours; and only once committed may the next run skip these arrivals.
        commit()
        redis.set(WATERMARK_KEY, started.isoformat())
        return {"days": len({day for _, day in pairs}), "domain_days": len(pairs)}
    finally:
        if redis.get(LOCK_KEY) == lock.encode():
            redis.delete(LOCK_KEY)


def _watermark(now: datetime) -> datetime:
    """When the last successful run started; with none, far enough back to cover every event
    ingestion still accepts."""
    stored = redis_connection().get(WATERMARK_KEY)
    if stored is None:
        return now - ingest.MAX_EVENT_AGE - ARRIVAL_OVERLAP
    return datetime.fromisoformat(stored.decode())
