"""Job functions that exist only for the worker tests (enqueued by dotted path)."""

from __future__ import annotations

from app.audit import service as audit
from app.extensions import redis_connection
from app.jobs.runtime import job

ATTEMPTS_KEY = "pm:test:attempts"


@job
def record_run(queue_name: str) -> str:
    """Leaves an audit row behind, so a test sees the job ran and its unit of work committed."""
    audit.append("test.job_ran", "queue", queue_name, workspace_id=None, actor_id=None,
                 actor_label="worker test")
    return queue_name


@job
def fail_every_time() -> None:
    """Counts its attempts in Redis, then fails like a DNS server that never answers."""
    redis_connection().incr(ATTEMPTS_KEY)
    raise ConnectionError("upstream did not answer")
