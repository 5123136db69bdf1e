"""Named queues and the one way jobs are enqueued.

Jobs are enqueued by dotted path so the web process never imports worker-only code,
and always after the surrounding transaction commits (`enqueue_after_commit`).
"""

from __future__ import annotations

from flask import current_app
from rq import Queue, Retry

from app.extensions import redis_connection
from app.uow import after_commit

# Workers listen in this order: user-facing mail first, slow DNS and key work after.
QUEUE_NAMES = ("mail", "default", "dns", "keys")


def get_queue(name: str) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; known: {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=redis_connection())


def enqueue(func_path: str, *args: object, queue: str = "default", job_id: str | None = None,
            **kwargs: object) -> str:
    """Enqueue now, with the configured retry back-off; returns the job id."""
    intervals = current_app.config["JOB_RETRY_INTERVALS"]
    retry = Retry(max=len(intervals), interval=intervals) if intervals else None
    job = get_queue(queue).enqueue(
        func_path, args=args, kwargs=kwargs, retry=retry, failure_ttl=30 * 24 * 3600,
        job_id=job_id,
    )
    return job.id


def enqueue_after_commit(func_path: str, *args: object, queue: str = "default",
                         job_id: str | None = None, **kwargs: object) -> None:
    after_commit(lambda: enqueue(func_path, *args, queue=queue, job_id=job_id, **kwargs))
