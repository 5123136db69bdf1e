"""RQ worker entry point.

    python worker.py                 # work on every queue until stopped
    python worker.py --burst         # process everything queued, then exit
    python worker.py --queues mail   # only some queues
    python worker.py --queues keys --worker-class simple   # no fork per job (see --help)
    python worker.py --cron          # run the periodic-job scheduler instead
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import sys

from flask import current_app
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from sqlalchemy.orm import configure_mappers

from app import create_app
from app.extensions import db, redis_connection
from app.jobs.queues import QUEUE_NAMES
from app.jobs.schedule import PERIODIC_JOBS

# fork: RQ's default, a fresh work horse per job, so a job cannot leave state (or a crash)
# behind. simple: jobs run in the worker process itself and reuse its database and Redis
# connections; for queues of short CPU-bound jobs (keys), where a fork and a new database
# connection per job cost a sizeable share of the job.
WORKER_CLASSES = {"fork": Worker, "simple": SimpleWorker}


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_cron() -> None:
    scheduler = CronScheduler(connection=redis_connection(), name="penguinmails-cron")
    for periodic in PERIODIC_JOBS:
        scheduler.register(_resolve(periodic.func), periodic.queue, name=periodic.name,
                           interval=periodic.interval(current_app.config),
                           job_timeout=periodic.timeout_seconds)
    scheduler.start()


def warm_up() -> None:
    """Do once, before the first job, what every forked work horse would otherwise redo.

    Jobs are enqueued by dotted path, so without this each horse imports its job's module
    (and the DNS, DKIM and mail libraries with it), configures the ORM mappers and lets the
    database dialect query the server about itself, then throws it all away when it exits:
    more CPU than generating an RSA-2048 key.
    """
    package = importlib.import_module("app")
    for feature in pkgutil.iter_modules(package.__path__):
        if feature.ispkg and importlib.util.find_spec(f"app.{feature.name}.tasks"):
            importlib.import_module(f"app.{feature.name}.tasks")
    configure_mappers()
    for engine in db.engines.values():
        engine.connect().close()  # the dialect's first-connect queries, once
        engine.dispose()  # keep no idle connection: each horse opens its own


def run_worker(queue_names: list[str], burst: bool, worker_class: str = "fork") -> bool:
    # A forked work-horse (or the scheduler process) must not reuse the parent's database
    # connections.
    os.register_at_fork(after_in_child=lambda: [e.dispose(close=False) for e in db.engines.values()])
    warm_up()
    connection = redis_connection()
    queues = [Queue(name, connection=connection) for name in queue_names]
    worker = WORKER_CLASSES[worker_class](queues, connection=connection)
    return worker.work(burst=burst, with_scheduler=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument("--queues", default=",".join(QUEUE_NAMES),
                        help=f"comma-separated queue names (default: {','.join(QUEUE_NAMES)})")
    parser.add_argument("--cron", action="store_true", help="run the periodic-job scheduler")
    parser.add_argument("--worker-class", choices=sorted(WORKER_CLASSES), default="fork",
                        help="fork (default): a fresh process per job; simple: jobs run in the "
                             "worker process, reusing its connections (for the keys queue)")
    args = parser.parse_args(argv)
    queue_names = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queue_names) - set(QUEUE_NAMES))
    if unknown:
        parser.error(f"unknown queue(s): {', '.join(unknown)}; known: {', '.join(QUEUE_NAMES)}")
    app = create_app()
    with app.app_context():
        if args.cron:
            run_cron()
            return 0
        run_worker(queue_names, args.burst, args.worker_class)
    return 0


if __name__ == "__main__":
    sys.exit(main())
