"""Check now: one domain's health check, queued for someone who will not wait for the sweep.

The check itself is `app.monitoring.tasks.check_domain` on the dns queue; this module queues it
after the request commits and tells the pages whether it is still on its way.
"""

from __future__ import annotations

import secrets

from app.audit import service as audit
from app.domains.models import Domain
from app.jobs.queues import enqueue_after_commit, get_queue
from app.workspaces.actor import Actor

CHECK_JOB = "app.monitoring.tasks.check_domain"
CHECK_QUEUE = "dns"
# RQ job states of a check that has not finished: the page keeps polling through them.
IN_FLIGHT = ("queued", "started", "deferred", "scheduled")


def request_check(actor: Actor, domain: Domain) -> str:
    """Queue a health check of `domain` now (members and above); returns the job id."""
    actor.require_write()
    job_id = f"health-{domain.id}-{secrets.token_hex(6)}"
    audit.record(actor, "domain.health_check_requested", "domain", domain.id)
    enqueue_after_commit(CHECK_JOB, domain.id, queue=CHECK_QUEUE, job_id=job_id)
    return job_id


def check_in_flight(domain: Domain, job_id: str | None) -> bool:
    """Whether the check `job_id` of this domain is still queued or running. Only this
    domain's check ids count: a job id from a URL names nothing else."""
    if not job_id or not job_id.startswith(f"health-{domain.id}-"):
        return False
    job = get_queue(CHECK_QUEUE).fetch_job(job_id)
    return job is not None and job.get_status(refresh=False) in IN_FLIGHT
