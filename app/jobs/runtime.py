"""What every job body runs inside: an app context and one unit of work."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

from app.extensions import db
from app.uow import commit, rollback

P = ParamSpec("P")
R = TypeVar("R")

_worker_app: list[Flask] = []


def _app_for_job() -> Flask:
    """The worker's app, created on the first job outside any app context."""
    if not _worker_app:
        from app import create_app

        _worker_app.append(create_app())
    return _worker_app[0]


def job(func: Callable[P, R]) -> Callable[P, R]:
    """Run a job body as one unit of work: commit on success, roll back on error."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A fresh app context per job gives it its own database session, so ending the job's
        # session never touches a caller's (a test, or a command that runs a job inline).
        app = current_app._get_current_object() if has_app_context() else _app_for_job()
        with app.app_context():
            return _run_unit(func, *args, **kwargs)

    return run


def _run_unit(func, *args, **kwargs):
    try:
        result = func(*args, **kwargs)
        commit()
        return result
    except BaseException:
        rollback()
        current_app.logger.exception("job %s failed", func.__qualname__)
        raise
    finally:
        db.session.remove()
