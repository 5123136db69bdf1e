"""The reputation score: rates against the providers' thresholds, caps, bands, attribution."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from app.core import reputation as core
from app.core.reputation import EventCounts, Standing


def sent(delivered: int, *, hard: int = 0, soft: int = 0, complained: int = 0) -> EventCounts:
    return EventCounts(delivered=delivered, bounced=hard + soft, hard_bounced=hard,
                       soft_bounced=soft, complained=complained)


def test_an_identity_that_sent_nothing_has_no_score():
    assert core.score(EventCounts(deferred=5, opened=3)) is None


def test_clean_mail_scores_a_perfect_good():
    result = core.score(sent(10_000))
    assert (result.score, result.band, result.deductions) == (100, "good", [])


def test_complaints_just_under_the_warning_level_cost_nothing():
    result = core.score(sent(100_000, complained=99))  # 0.099 %
    assert result.score == 100


def test_complaints_at_the_providers_warning_level_cost_points_and_keep_the_score_off_good():
    result = core.score(sent(100_000, complained=100))  # 0.1 %
    assert result.deductions[0].cause == core.COMPLAINTS
    assert result.deductions[0].points == 21  # 20 points, then the cap at 79
    assert (result.score, result.band) == (79, "fair")


def test_complaints_between_the_thresholds_cost_more_as_they_rise():
    lower = core.score(sent(100_000, complained=150)).score
    higher = core.score(sent(100_000, complained=290)).score
    assert higher < lower <= 79


def test_complaints_at_the_providers_limit_make_the_score_bad():
    result = core.score(sent(100_000, complained=300))  # 0.3 %
    assert (result.score, result.band) == (39, "bad")
    assert [d.cause for d in result.deductions] == [core.COMPLAINTS]


def test_hard_bounces_weigh_more_than_soft_bounces_at_the_same_rate():
    hard = core.score(sent(9_700, hard=300))  # 3 %
    soft = core.score(sent(9_700, soft=300))
    assert hard.score < soft.score


def test_bounce_rates_cost_nothing_up_to_their_start_and_the_most_at_their_top():
    assert core.score(sent(9_950, hard=50)).score == 100  # 0.5 %
    assert core.score(sent(9_000, hard=1_000)).score == 60  # 10 %: all 40 points
    assert core.score(sent(9_800, soft=200)).score == 100  # 2 %
    assert core.score(sent(8_000, soft=2_000)).score == 90  # 20 %: all 10 points


def test_below_the_minimum_volume_rates_do_not_count():
    result = core.score(sent(core.MIN_VOLUME - 10, hard=9))
    assert result.low_volume and result.score == 100


def test_a_blacklisting_keeps_the_score_at_most_poor():
    result = core.score(sent(10_000), Standing(blacklistings=1))
    assert (result.score, result.band) == (59, "poor")
    assert result.deductions == [core.Deduction(core.BLACKLIST, 41, "listed on 1 DNS blocklist")]


def test_each_further_blacklist_costs_more_up_to_a_maximum():
    scores = [core.score(sent(10_000), Standing(blacklistings=n)).score for n in (2, 3, 4, 9)]
    assert scores == [59, 50, 50, 50]


def test_dns_health_costs_a_fifth_of_what_it_lacks():
    assert core.score(sent(10_000), Standing(dns_health=60)).score == 92
    assert core.score(sent(10_000), Standing(dns_health=None)).score == 100


@pytest.mark.parametrize("hard,soft,complained,listings,health", list(itertools.product(
    (0, 80, 600), (0, 400, 3_000), (0, 12, 40), (0, 1, 3), (None, 100, 31))))
def test_every_point_lost_is_attributed(hard, soft, complained, listings, health):
    result = core.score(sent(10_000, hard=hard, soft=soft, complained=complained),
                        Standing(blacklistings=listings, dns_health=health))
    assert sum(d.points for d in result.deductions) == 100 - result.score
    assert 0 <= result.score <= 100
    assert all(d.points > 0 for d in result.deductions)
    assert result.band == core.band(result.score)


def test_bands():
    assert [core.band(s) for s in (100, 80, 79, 60, 59, 40, 39, 0)] == [
        "good", "good", "fair", "fair", "poor", "poor", "bad", "bad"]


def test_the_subtree_score_weighs_members_by_volume():
    assert core.subtree_score([(100, 9_000), (0, 1_000)]) == 90
    assert core.subtree_score([]) is None


def test_trailing_windows_match_summing_every_window_afresh():
    first = date(2026, 1, 1)
    daily = {first + timedelta(days=n): sent(n + 1, complained=n % 3) for n in range(0, 80, 2)}
    days = core.days_between(first + timedelta(days=35), first + timedelta(days=70))
    windows = core.trailing_windows(daily, days, window_days=30)
    for day in days:
        expected = EventCounts()
        for back in range(30):
            expected += daily.get(day - timedelta(days=back), EventCounts())
        assert windows[day] == expected
