"""Pure rules of destruction notices (policies.notice.rules): the pack's period, due dates, which notice counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, ValidationFailed
from policies.jurisdictions import get_pack
from policies.notice import ChannelKind
from policies.notice.rules import Sent, check_channel, check_notice_period, counts, due_at, notice_days, task_state

T = datetime(2046, 3, 1, 12, 0, tzinfo=UTC)  # a kit's destruction date


@pytest.mark.parametrize("code", ["us-wa", "us-mi", "default"])
def test_the_packs_notice_period_is_60_days(code):
    assert notice_days(get_pack(code)) == 60


def test_notice_days_read_defensively():
    assert notice_days(SimpleNamespace(kit=SimpleNamespace(notice_days=90, destruction_notice_days=60))) == 90
    assert notice_days(SimpleNamespace(retention=SimpleNamespace(notice_days=45))) == 45
    assert notice_days(SimpleNamespace(notice_days=30)) == 30
    assert notice_days(SimpleNamespace(kit=SimpleNamespace(destruction_notice_days=75))) == 75
    assert notice_days(SimpleNamespace()) == 60


def test_the_task_is_due_exactly_notice_days_before_destruction():
    due = due_at(T, 60)
    assert due == T - timedelta(days=60)
    assert task_state(due - timedelta(seconds=1), due=due, destruction_from=T, sent=[]) == "upcoming"
    assert task_state(due, due=due, destruction_from=T, sent=[]) == "due"
    assert task_state(due, due=due, destruction_from=T, sent=[Sent(due, T)]) == "sent"


def test_a_notice_announcing_an_earlier_date_does_not_count_after_an_extension():
    old = Sent(at=T - timedelta(days=70), announced_until=T)
    later = T + timedelta(days=365)
    assert counts(old, T) and not counts(old, later)
    assert task_state(later, due=due_at(later, 60), destruction_from=later, sent=[old]) == "due"


def test_destruction_waits_for_the_notice_period_when_notice_was_asked_for():
    check_notice_period(T, requested=False, destruction_from=T, days=60, sent=[])  # no request: nothing to wait for
    with pytest.raises(Conflict, match="asked for notice"):
        check_notice_period(T, requested=True, destruction_from=T, days=60, sent=[])
    late = Sent(at=T - timedelta(days=55), announced_until=T)
    with pytest.raises(Conflict, match=r"cannot be destroyed before 2046-03-06 \(60 days' notice\)"):
        check_notice_period(T, requested=True, destruction_from=T, days=60, sent=[late])
    check_notice_period(T + timedelta(days=5), requested=True, destruction_from=T, days=60, sent=[late])


@given(days=st.integers(min_value=1, max_value=400), sent_before=st.integers(min_value=0, max_value=800))
def test_a_notice_sent_at_least_notice_days_before_always_suffices(days, sent_before):
    sent = [Sent(at=T - timedelta(days=sent_before), announced_until=T)]
    if sent_before >= days:
        check_notice_period(T, requested=True, destruction_from=T, days=days, sent=sent)
    else:
        with pytest.raises(Conflict):
            check_notice_period(T, requested=True, destruction_from=T, days=days, sent=sent)


CANARY = "canary-9z@example.org"


@pytest.mark.parametrize(("kind", "value", "no_contact"), [
    (None, None, False), (ChannelKind.EMAIL, "", False), (ChannelKind.EMAIL, "no at sign " + CANARY[:6], False),
    (ChannelKind.PHONE, "call " + CANARY, False), (ChannelKind.EMAIL, CANARY, True), (ChannelKind.NONE, CANARY, False),
])
def test_bad_channels_are_refused_without_repeating_the_value(kind, value, no_contact):
    with pytest.raises(ValidationFailed) as err:
        check_channel(kind, value, no_contact)
    assert CANARY not in str(err.value) and (not value or value not in str(err.value))


def test_good_channels():
    assert check_channel(ChannelKind.EMAIL, f" {CANARY} ", False) == (ChannelKind.EMAIL, CANARY)
    assert check_channel(ChannelKind.SMS, "+1 (206) 555-0100", False)[0] is ChannelKind.SMS
    assert check_channel(ChannelKind.POSTAL, "1 Main St, Springfield", False)[0] is ChannelKind.POSTAL
    assert check_channel(None, None, True) == (ChannelKind.NONE, None)
