"""Pure rules of the agency compliance report: readable durations and lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies.deadlines.compliance import lateness, readable_duration


def test_readable_duration() -> None:
    assert readable_duration(timedelta(days=1, hours=18, minutes=59)) == "1 d 18 h"
    assert readable_duration(timedelta(days=3)) == "3 d"
    assert readable_duration(timedelta(hours=5, minutes=10)) == "5 h"
    assert readable_duration(timedelta(minutes=35, seconds=50)) == "35 min"
    assert readable_duration(timedelta(seconds=-5)) == "0 min"


def test_lateness() -> None:
    due = datetime(2026, 3, 1, tzinfo=UTC)
    assert lateness(due, None, due - timedelta(hours=1)) is None  # not yet due
    assert lateness(due, None, due + timedelta(hours=2)) == timedelta(hours=2)  # not done, past due
    assert lateness(due, due - timedelta(days=1), due + timedelta(days=9)) is None  # done in time
    assert lateness(due, due + timedelta(hours=3), due + timedelta(days=9)) == timedelta(hours=3)  # done late
