"""When to look at a domain's DNS again while it waits to be verified.

People publish records within minutes of reading the instructions, but DNS hosts and
caches can take hours; checks are frequent at first and thin out as the wait grows.
"""

from __future__ import annotations

from datetime import timedelta

# (while the wait is shorter than this, check this often)
SCHEDULE: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(minutes=10), timedelta(minutes=1)),
    (timedelta(hours=1), timedelta(minutes=5)),
    (timedelta(hours=6), timedelta(minutes=15)),
    (timedelta(hours=24), timedelta(minutes=30)),
)
LATER = timedelta(hours=1)


def next_check_in(waited: timedelta, window: timedelta) -> timedelta | None:
    """How long until the next check, or None once the verification window is over."""
    if waited >= window:
        return None
    for limit, interval in SCHEDULE:
        if waited < limit:
            return min(interval, window - waited)
    return min(LATER, window - waited)
