"""The outbox row's `resumed` column (core/outbox/delivery.py): "run_id:key" tokens, parsed and written back
within the column's length (pure rules, no database)."""

from __future__ import annotations

from core.outbox.delivery import _format_tokens, _tokens
from core.outbox.models import MAX_RESUMED_LEN


def test_tokens_parse_pairs_and_skip_malformed_ones():
    assert _tokens(None) == set()
    assert _tokens("") == set()
    assert _tokens("r1:release r2:exam  r3: :k nocolon") == {("r1", "release"), ("r2", "exam")}
    assert _tokens("r1:a:b") == {("r1", "a:b")}  # the key is everything after the first colon


def test_format_is_sorted_round_trips_and_is_none_when_empty():
    pairs = {("r2", "exam"), ("r1", "release")}
    assert _format_tokens(pairs) == "r1:release r2:exam"
    assert _tokens(_format_tokens(pairs)) == pairs
    assert _format_tokens(set()) is None


def test_format_keeps_what_fits_the_column():
    pairs = {(f"run-{i:04d}-{'x' * 30}", "release") for i in range(20)}
    text = _format_tokens(pairs)
    assert text is not None and len(text) <= MAX_RESUMED_LEN
    kept = _tokens(text)
    assert kept and kept < pairs
    assert max(pairs) in kept  # the oldest (first sorted) tokens are dropped first
