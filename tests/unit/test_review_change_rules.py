"""Pure rules of changing a case review (policies.review.rules): a review is scheduled, held once a decision is
recorded, or cancelled; only a scheduled review moves (to a new time after now) or is cancelled; a cancelled one
takes no decision, action item or participant change; a review keeps at least one participant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, ValidationFailed
from policies.review.rules import (
    MAX_PARTICIPANTS,
    ReviewState,
    check_add,
    check_cancel,
    check_not_cancelled,
    check_removal,
    check_reschedule,
    is_upcoming,
    review_state,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)


@given(cancelled=st.booleans(), decided=st.booleans())
def test_state_cancelled_wins_and_a_decision_means_it_has_met(cancelled, decided):
    state = review_state(cancelled=cancelled, decided=decided)
    assert state == (ReviewState.CANCELLED if cancelled else ReviewState.HELD if decided else ReviewState.SCHEDULED)


def test_a_scheduled_review_moves_to_any_other_time_after_now():
    check_reschedule(state=ReviewState.SCHEDULED, current=LATER, new=LATER + timedelta(hours=1), now=NOW)
    check_reschedule(state=ReviewState.SCHEDULED, current=NOW - timedelta(days=1), new=LATER, now=NOW)  # missed


@pytest.mark.parametrize(("state", "words"), [(ReviewState.CANCELLED, "was cancelled"),
                                              (ReviewState.HELD, "has met")])
def test_a_held_or_cancelled_review_does_not_move(state, words):
    with pytest.raises(Conflict, match=words):
        check_reschedule(state=state, current=LATER, new=LATER + timedelta(hours=1), now=NOW)


@pytest.mark.parametrize("new", [NOW, NOW - timedelta(minutes=1), LATER])
def test_the_new_time_is_after_now_and_different(new):
    with pytest.raises(ValidationFailed, match="has passed|already scheduled"):
        check_reschedule(state=ReviewState.SCHEDULED, current=LATER, new=new, now=NOW)


def test_only_a_scheduled_review_is_cancelled():
    check_cancel(ReviewState.SCHEDULED)
    with pytest.raises(Conflict, match="already cancelled"):
        check_cancel(ReviewState.CANCELLED)
    with pytest.raises(Conflict, match="has met"):
        check_cancel(ReviewState.HELD)


@pytest.mark.parametrize("state", list(ReviewState))
def test_a_cancelled_review_takes_nothing_more(state):
    if state == ReviewState.CANCELLED:
        with pytest.raises(Conflict, match="decisions can no longer be recorded.*schedule a new review"):
            check_not_cancelled(state, "decisions")
    else:
        check_not_cancelled(state, "decisions")


def test_participants_added_once_up_to_the_limit_and_never_the_last_removed():
    check_add(already_in=False, seated=MAX_PARTICIPANTS - 1)
    with pytest.raises(Conflict, match="already takes part"):
        check_add(already_in=True, seated=1)
    with pytest.raises(ValidationFailed, match=f"at most {MAX_PARTICIPANTS}"):
        check_add(already_in=False, seated=MAX_PARTICIPANTS)
    check_removal(taking_part=True, remaining=1)
    with pytest.raises(ValidationFailed, match="does not take part"):
        check_removal(taking_part=False, remaining=3)
    with pytest.raises(ValidationFailed, match="last participant: cancel"):
        check_removal(taking_part=True, remaining=0)


def test_upcoming_is_not_cancelled_and_not_past():
    assert is_upcoming(scheduled_for=LATER, cancelled=False, now=NOW)
    assert is_upcoming(scheduled_for=NOW, cancelled=False, now=NOW)
    assert not is_upcoming(scheduled_for=LATER, cancelled=True, now=NOW)
    assert not is_upcoming(scheduled_for=NOW - timedelta(seconds=1), cancelled=False, now=NOW)
