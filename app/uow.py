"""The unit of work: services flush, the outermost caller commits once.

Side effects that other processes observe (enqueued jobs, emails) are registered with
`after_commit()` and run only once the rows they refer to are committed, so a worker
never looks for a row that is not there yet.
"""

from __future__ import annotations

from collections.abc import Callable

from app.extensions import db

_KEY = "after_commit_callbacks"


def after_commit(callback: Callable[[], object]) -> None:
    db.session.info.setdefault(_KEY, []).append(callback)


def commit() -> None:
    db.session.commit()
    callbacks = db.session.info.pop(_KEY, [])
    for callback in callbacks:
        callback()


def rollback() -> None:
    db.session.rollback()
    db.session.info.pop(_KEY, None)
