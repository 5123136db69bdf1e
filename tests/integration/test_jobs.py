"""Background jobs: the invitation email, the queue wiring, retries with back-off, the worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.clock import utcnow
from app.extensions import db, redis_connection
from app.jobs.queues import QUEUE_NAMES, enqueue, get_queue
from app.uow import commit, rollback
from app.workspaces import service as workspaces
from app.workspaces.actor import Actor
from app.workspaces.models import Invitation
from app.workspaces.roles import Role
from app.workspaces.tasks import send_invitation_email
from tests.conftest import TEST_REDIS_URL
from tests.factories import member
from tests.jobs_for_tests import ATTEMPTS_KEY

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"https?://\S+/invitations/[\w.-]+")


def invite(email: str = "newcomer@example.com", role: Role = Role.MEMBER) -> tuple[int, str]:
    """An owner invites someone and the request commits; returns (invitation id, workspace name)."""
    owner = member(Role.OWNER, name="Olive Owner")
    workspace = owner.memberships[0].workspace
    invitation = workspaces.invite(Actor(user=owner, workspace=workspace, role=Role.OWNER),
                                   email, role)
    result = invitation.id, workspace.name
    commit()
    return result


def text_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def burst(*queue_names: str) -> None:
    """One real RQ worker, in this process, draining the queues once."""
    connection = redis_connection()
    queues = [get_queue(name) for name in queue_names or QUEUE_NAMES]
    SimpleWorker(queues, connection=connection).work(burst=True)


# --- the invitation email --------------------------------------------------------------------

def test_invitation_email_lands_in_the_outbox_with_a_working_link(app, client, outbox):
    invitation_id, workspace_name = invite("newcomer@example.com")
    where = send_invitation_email(invitation_id)
    [message] = outbox.messages()
    assert where == str(next(outbox.folder.glob("*.eml")))
    assert message["To"] == "newcomer@example.com"
    assert message["Subject"] == f"Olive Owner invited you to {workspace_name} on PenguinMails"
    [link] = LINK.findall(text_body(message))
    assert link.startswith(f"{app.config['PUBLIC_URL']}/invitations/")
    assert link in message.get_body(preferencelist=("html",)).get_content()
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert b"newcomer@example.com" in page.data and b"Create account and join" in page.data


def test_an_address_with_a_slash_still_lands_inside_the_outbox(outbox):
    invitation_id, _ = invite("sales/eu@example.com")  # "/" is a valid local-part character
    where = Path(send_invitation_email(invitation_id))
    assert where.parent == outbox.folder
    assert [m["To"] for m in outbox.messages()] == ["sales/eu@example.com"]


def test_invitation_email_goes_through_the_smtp_relay_when_configured(app, monkeypatch, outbox,
                                                                      smtp_server):
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    invitation_id, workspace_name = invite("relayed@example.com")
    where = send_invitation_email(invitation_id)
    assert where == f"smtp://127.0.0.1:{smtp_server.port}"
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["relayed@example.com"]
    assert message["To"] == "relayed@example.com"
    assert message["From"] == app.config["MAIL_FROM"]
    assert message["Subject"] == f"Olive Owner invited you to {workspace_name} on PenguinMails"
    assert LINK.search(text_body(message))
    assert outbox.messages() == []


def test_a_revoked_invitation_sends_nothing(outbox):
    invitation_id, _ = invite()
    invitation = db.session.get(Invitation, invitation_id)
    owner = invitation.invited_by
    workspaces.revoke_invitation(
        Actor(user=owner, workspace=invitation.workspace, role=Role.OWNER), invitation_id)
    commit()
    assert send_invitation_email(invitation_id) is None
    assert outbox.messages() == []


def test_an_expired_invitation_sends_nothing(outbox):
    invitation_id, _ = invite()
    db.session.get(Invitation, invitation_id).expires_at = utcnow() - timedelta(seconds=1)
    commit()
    assert send_invitation_email(invitation_id) is None
    assert outbox.messages() == []


def test_the_invitation_link_points_at_the_public_url(app, monkeypatch, outbox):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://portal.example.com")
    send_invitation_email(invite()[0])
    [message] = outbox.messages()
    assert LINK.search(text_body(message)).group().startswith(
        "https://portal.example.com/invitations/")


def test_a_deleted_invitation_sends_nothing(outbox):
    assert send_invitation_email(987654321) is None
    assert outbox.messages() == []


def test_sending_an_invitation_twice_is_safe_and_repeats_the_same_link(client, outbox):
    invitation_id, _ = invite()
    send_invitation_email(invitation_id)
    send_invitation_email(invitation_id)
    first, second = outbox.messages()
    assert LINK.findall(text_body(first)) == LINK.findall(text_body(second))
    assert db.session.get(Invitation, invitation_id).state == "pending"
    assert client.get(urlsplit(LINK.search(text_body(second)).group()).path).status_code == 200


# --- enqueueing and the workers --------------------------------------------------------------

def test_an_invitation_is_enqueued_only_when_its_transaction_commits():
    owner = member(Role.OWNER)
    actor = Actor(user=owner, workspace=owner.memberships[0].workspace, role=Role.OWNER)
    workspaces.invite(actor, "later@example.com", Role.VIEWER)
    assert get_queue("mail").count == 0
    rollback()
    assert get_queue("mail").count == 0

    invite("now@example.com")
    [job] = get_queue("mail").jobs
    assert job.func_name == "app.workspaces.tasks.send_invitation_email"


def test_a_mail_worker_sends_the_invitation_enqueued_at_commit(outbox):
    invite("queued@example.com")
    burst("mail")
    assert [m["To"] for m in outbox.messages()] == ["queued@example.com"]
    assert get_queue("mail").count == 0


def test_a_burst_worker_runs_jobs_from_every_queue():
    job_ids = {name: enqueue("tests.jobs_for_tests.record_run", name, queue=name)
               for name in QUEUE_NAMES}
    burst(*QUEUE_NAMES)
    for name, job_id in job_ids.items():
        job = Job.fetch(job_id, connection=redis_connection())
        assert job.get_status() == JobStatus.FINISHED, name
        assert job.return_value() == name
    ran = db.session.scalars(select(AuditEvent.object_id)
                             .where(AuditEvent.action == "test.job_ran")).all()
    assert sorted(ran) == sorted(QUEUE_NAMES)


def test_enqueueing_on_an_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        enqueue("tests.jobs_for_tests.record_run", "x", queue="nope")


# --- retries ---------------------------------------------------------------------------------

def test_a_failing_job_is_retried_after_each_configured_interval_then_fails(app, monkeypatch,
                                                                             redis_client):
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", [10, 60, 300])
    queue = get_queue("dns")
    scheduled = ScheduledJobRegistry(queue=queue)
    job_id = enqueue("tests.jobs_for_tests.fail_every_time", queue="dns")

    for attempt, (interval, retries_left) in enumerate([(10, 2), (60, 1), (300, 0)], start=1):
        before = utcnow()
        burst("dns")
        job = Job.fetch(job_id, connection=redis_connection())
        assert int(redis_client.get(ATTEMPTS_KEY)) == attempt
        assert job.get_status() == JobStatus.SCHEDULED
        assert job.retries_left == retries_left
        assert scheduled.get_job_ids() == [job_id]
        due = scheduled.get_scheduled_time(job_id)
        assert before + timedelta(seconds=interval - 1) <= due
        assert due <= utcnow() + timedelta(seconds=interval + 1)
        scheduled.requeue(job_id)  # as the scheduler does once the job is due

    burst("dns")
    assert int(redis_client.get(ATTEMPTS_KEY)) == 4
    job = Job.fetch(job_id, connection=redis_connection())
    assert job.get_status() == JobStatus.FAILED
    assert FailedJobRegistry(queue=queue).get_job_ids() == [job_id]
    assert scheduled.get_job_ids() == []


def test_without_retry_intervals_a_failing_job_fails_at_once(app, monkeypatch, redis_client):
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", [])
    job_id = enqueue("tests.jobs_for_tests.fail_every_time", queue="default")
    burst("default")
    job = Job.fetch(job_id, connection=redis_connection())
    assert int(redis_client.get(ATTEMPTS_KEY)) == 1
    assert job.get_status() == JobStatus.FAILED
    assert "upstream did not answer" in job.latest_result().exc_string
    assert FailedJobRegistry(queue=get_queue("default")).get_job_ids() == [job_id]
    assert ScheduledJobRegistry(queue=get_queue("default")).get_job_ids() == []


def test_zero_second_intervals_retry_at_once_until_exhausted(app, monkeypatch, redis_client):
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", [0, 0])
    job_id = enqueue("tests.jobs_for_tests.fail_every_time", queue="keys")
    burst("keys")
    assert int(redis_client.get(ATTEMPTS_KEY)) == 3
    assert FailedJobRegistry(queue=get_queue("keys")).get_job_ids() == [job_id]


# --- the worker process ----------------------------------------------------------------------

def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_worker_refuses_an_unknown_queue_by_name():
    result = _run([sys.executable, "worker.py", "--burst", "--queues", "mail,nope"],
                  dict(os.environ))
    assert result.returncode == 2
    assert "unknown queue(s): nope; known: mail, default, dns, keys" in result.stderr


@pytest.mark.no_transaction
def test_worker_process_delivers_mail_enqueued_by_the_cli(scratch_databases, suite_dialect,
                                                          tmp_path, redis_client):
    """Processes of their own: a test's transaction is invisible to them, so they share a
    scratch database migrated and filled by the real CLI."""
    database_url = scratch_databases.create(suite_dialect, prefix="pm_worker")
    env = {**os.environ, "DATABASE_URL": database_url,
           "REDIS_URL": TEST_REDIS_URL, "PENGUINMAILS_ENV": "test", "SMTP_URL": "",
           "INSTANCE_PATH": str(tmp_path / "instance"), "OUTBOX_DIR": str(tmp_path / "outbox"),
           "SECRET_KEY": "worker-test-secret", "FLASK_APP": "wsgi"}
    flask = [sys.executable, "-m", "flask"]
    for step in (["db", "upgrade"], ["demo", "seed"]):
        result = _run(flask + step, env)
        assert result.returncode == 0, result.stderr[-2000:]
    mail_queue = Queue("mail", connection=redis_client)
    assert mail_queue.count == 2  # one invitation per demo workspace

    result = _run([sys.executable, "worker.py", "--burst", "--queues", "mail"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    sent = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "outbox").glob("*.eml"))
    assert sent == ["newcomer_at_acme-agency.example.eml", "newcomer_at_globex.example.eml"]
    assert mail_queue.count == 0
