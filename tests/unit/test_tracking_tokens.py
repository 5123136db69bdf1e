"""Click and open tokens: signed ids that cannot be forged, edited or swapped."""

from __future__ import annotations

import pytest

from app.core.tracking_tokens import TrackingTokens

TOKENS = TrackingTokens("a-secret-key")


def test_a_click_token_names_its_link():
    token = TOKENS.click_token(42)
    assert TOKENS.link_id(token) == 42
    assert "/" not in token and "?" not in token  # safe in a URL path


def test_an_open_token_names_its_message():
    assert TOKENS.message_id(TOKENS.open_token(7)) == 7


def test_a_token_for_another_id_cannot_be_made_by_editing_one():
    token = TOKENS.click_token(42)
    signature = token.split(".", 1)[1]
    assert TOKENS.link_id(f"43.{signature}") is None


def test_a_click_token_is_not_an_open_token_and_back():
    assert TOKENS.message_id(TOKENS.click_token(5)) is None
    assert TOKENS.link_id(TOKENS.open_token(5)) is None


def test_tokens_of_another_secret_are_refused():
    assert TOKENS.link_id(TrackingTokens("another-secret").click_token(42)) is None


@pytest.mark.parametrize("token", ["", "42", "42.", ".abc", "x" * 500, "42.\u00e9\u00e9",
                                   "\x00", "0.aaaa", "-1.aaaa"])
def test_malformed_tokens_name_nothing(token):
    assert TOKENS.link_id(token) is None and TOKENS.message_id(token) is None


def test_ids_outside_the_databases_range_name_nothing():
    assert TOKENS.link_id(TOKENS.click_token(2**31)) is None
    assert TOKENS.link_id(TOKENS.click_token(0)) is None
