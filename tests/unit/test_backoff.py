"""The re-check schedule of a domain waiting to be verified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.backoff import next_check_in

WINDOW = timedelta(hours=72)


@pytest.mark.parametrize("waited, expected", [
    (timedelta(0), timedelta(minutes=1)),
    (timedelta(minutes=9), timedelta(minutes=1)),
    (timedelta(minutes=10), timedelta(minutes=5)),
    (timedelta(hours=2), timedelta(minutes=15)),
    (timedelta(hours=12), timedelta(minutes=30)),
    (timedelta(hours=30), timedelta(hours=1)),
])
def test_checks_thin_out_as_the_wait_grows(waited, expected):
    assert next_check_in(waited, WINDOW) == expected


def test_the_last_check_lands_exactly_at_the_end_of_the_window():
    assert next_check_in(WINDOW - timedelta(minutes=20), WINDOW) == timedelta(minutes=20)


@pytest.mark.parametrize("waited", [WINDOW, WINDOW + timedelta(seconds=1), timedelta(days=30)])
def test_no_check_is_scheduled_once_the_window_is_over(waited):
    assert next_check_in(waited, WINDOW) is None


def test_a_short_window_is_respected_from_the_first_check():
    assert next_check_in(timedelta(0), timedelta(seconds=30)) == timedelta(seconds=30)
