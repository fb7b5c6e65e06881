"""PURE rules of the survivors' contact requests (evidence.contact_requests.rules): who sees which request, the
closed outcomes, the ledger data of a handling and the fold of handlings (the first one wins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.contact_requests.rules import (
    ContactOutcome,
    Handling,
    handled_index,
    handling_data,
    may_see,
    sees_every_case,
)
from policies.permissions import Role

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_outcomes_are_a_small_closed_set():
    assert [o.value for o in ContactOutcome] == ["reached", "left-message", "no-answer", "unreachable"]
    with pytest.raises(ValueError):
        ContactOutcome("called, she was upset")  # no free text


@pytest.mark.parametrize("role", list(Role))
def test_only_the_coordinator_sees_every_case(role):
    assert sees_every_case(role.value) is (role is Role.COORDINATOR)
    assert may_see(role.value, "C1", ["C1", "C2"])
    assert may_see(role.value, "C3", ["C1"]) is (role is Role.COORDINATOR)


def test_handling_data_holds_ids_an_enum_and_an_int_only():
    data = handling_data(42, ContactOutcome.NO_ANSWER, "U-ana")
    assert data == {"request_seq": 42, "outcome": "no-answer", "staff": "U-ana"}
    assert all(isinstance(v, int | str) for v in data.values())


def test_first_handling_of_a_request_wins_whatever_the_order_given():
    entries = [(9, T0 + timedelta(hours=2), handling_data(5, ContactOutcome.NO_ANSWER, "U-bo")),
               (7, T0, handling_data(5, ContactOutcome.REACHED, "U-ana")),
               (8, T0 + timedelta(hours=1), handling_data(6, ContactOutcome.UNREACHABLE, "U-bo")),
               (10, T0, {"unrelated": True})]
    assert handled_index(entries) == {5: Handling(ContactOutcome.REACHED, "U-ana", T0),
                                      6: Handling(ContactOutcome.UNREACHABLE, "U-bo", T0 + timedelta(hours=1))}


@given(st.lists(st.tuples(st.integers(1, 20), st.sampled_from(list(ContactOutcome))), max_size=30))
def test_every_handled_request_is_indexed_once_with_its_earliest_outcome(handlings):
    entries = [(i + 1, T0 + timedelta(minutes=i), handling_data(seq, outcome, f"U-{i}"))
               for i, (seq, outcome) in enumerate(handlings)]
    index = handled_index(list(reversed(entries)))
    assert set(index) == {seq for seq, _ in handlings}
    for seq, handling in index.items():
        first = next(i for i, (s, _) in enumerate(handlings) if s == seq)
        assert handling == Handling(handlings[first][1], f"U-{first}", T0 + timedelta(minutes=first))
