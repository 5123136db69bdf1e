"""RQ worker entry point.

    python worker.py                 # work on every queue until stopped
    python worker.py --burst         # process everything queued, then exit
    python worker.py --queues mail   # only some queues
    python worker.py --cron          # run the periodic-job scheduler instead
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rq import Queue, Worker
from rq.cron import CronScheduler

from app import create_app
from app.extensions import db, redis_connection
from app.jobs.queues import QUEUE_NAMES
from app.jobs.schedule import PERIODIC_JOBS


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_cron() -> None:
    scheduler = CronScheduler(connection=redis_connection(), name="penguinmails-cron")
    for periodic in PERIODIC_JOBS:
        scheduler.register(_resolve(periodic.func), periodic.queue, name=periodic.name,
                           interval=periodic.interval_seconds, job_timeout=periodic.timeout_seconds)
    scheduler.start()


def run_worker(queue_names: list[str], burst: bool) -> bool:
    # A forked work-horse must not reuse the parent's database connections.
    os.register_at_fork(after_in_child=lambda: [e.dispose(close=False) for e in db.engines.values()])
    connection = redis_connection()
    queues = [Queue(name, connection=connection) for name in queue_names]
    worker = Worker(queues, connection=connection)
    return worker.work(burst=burst, with_scheduler=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument("--queues", default=",".join(QUEUE_NAMES),
                        help=f"comma-separated queue names (default: {','.join(QUEUE_NAMES)})")
    parser.add_argument("--cron", action="store_true", help="run the periodic-job scheduler")
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
        run_worker(queue_names, args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
