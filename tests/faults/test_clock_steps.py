"""A clock that steps back or forward (core.clock set_clock with a ManualClock that jumps), SQLite and PostgreSQL:
the ledger keeps its order by sequence (its `at` may go back) and verifies; a withdrawal recorded after a grant
supersedes it although the clock then said an earlier time; deadlines computed from the clock show no negative
duration while running, and an alert is raised once however the clock jumps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.actors import system_actor
from core.cases import AgeBand, CaseCreate
from core.clock import set_clock
from core.crypto.texts import show_text
from core.ledger import EventKind, LedgerEntry, decode
from policies import cases, consent, deadlines
from policies.checkpoint import decide
from policies.consent import ConsentDecisionCreate, Decision, Method
from policies.deadlines import Alert, ClockName, ClockStatus
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff
from tests.evidence_support import EXAMINER
from tests.faults.checks import assert_ledger_verifies

WATCH = system_actor("deadline-watch")


class JumpingClock:
    """A wall clock as NTP or an operator may leave it: set() jumps anywhere, back included."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The current (possibly stepped) time."""
        return self._now

    def set(self, when: datetime) -> None:
        """Step to `when`, earlier or later."""
        self._now = when


@pytest.fixture
def clock() -> Iterator[JumpingClock]:
    """A jumping clock installed process-wide (core.clock.set_clock) for the test."""
    c = JumpingClock(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    previous = set_clock(c)
    yield c
    set_clock(previous)


def _decide(session, case_id, scope, decision, ref):
    return consent.record_decision(session, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
        scope=scope, decision=decision, method=Method.WRITTEN, form_ref=ref))


def test_a_clock_stepping_back_reorders_neither_the_ledger_nor_consent(session, engine, clock):
    case = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction="default"))
    t0 = clock.now()
    _decide(session, case.id, S.PHOTO_RECORD, Decision.GRANTED, "F-GRANT")
    clock.set(t0 - timedelta(hours=2))  # NTP steps the clock back two hours
    _decide(session, case.id, S.PHOTO_RECORD, Decision.WITHDRAWN, "F-WITHDRAW")
    clock.set(t0 + timedelta(hours=1))  # and forward again
    _decide(session, case.id, S.MEDICAL_CARE, Decision.GRANTED, "F-LATER")
    session.commit()

    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.id)
                              .where(LedgerEntry.kind == EventKind.CONSENT_RECORDED.value)
                              .order_by(LedgerEntry.seq)).all()
    # the entries hold commitments to the form references, kept sealed under the case key
    assert [show_text(session, case.id, decode(e)["data"]["form_ref"]) for e in entries] == [
        "F-GRANT", "F-WITHDRAW", "F-LATER"]
    ats = [decode(e)["at"] for e in entries]
    assert ats[1] < ats[0] < ats[2], "the entries keep the clock's times, out of order, in sequence order"
    session.commit()  # end the read (on SQLite every transaction holds the write lock)
    assert assert_ledger_verifies(engine) >= 3
    assert show_text(session, case.id, consent.list_decisions(session, case.id)[-1].form_ref) == "F-LATER"

    state = consent.consent_state(session, case.id)[S.PHOTO_RECORD]
    assert state.status.value == "withdrawn" and state.ledger_seq == entries[1].seq
    assert not decide(session, actor=EXAMINER, case_id=case.id, handoff=Handoff.PHOTO_VIEW).allowed
    session.commit()


def test_deadlines_and_alerts_survive_a_clock_jumping_both_ways(session, engine, clock):
    """A minor's mandatory report (24 h, reminded 6 h before): jumps back and forth raise each alert once."""
    case = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction="us-tx", age_band=AgeBand.AGE_14_15))
    opened = clock.now()
    _decide(session, case.id, S.REPORT_POLICE, Decision.DECLINED, "F-MR")
    raised = []
    for step in (19, -10, 9, 1, -30, 40, -40, 40):  # hours: into the lead, back out, in, past due, …
        clock.set(clock.now() + timedelta(hours=step))
        raised += [a for a in deadlines.scan_deadlines(session, actor=WATCH) if a.case_id == case.id]
        [mr] = [c for c in deadlines.case_clocks(session, case.id) if c.name is ClockName.MANDATORY_REPORT]
        assert mr.starts_at == opened
        if mr.status is ClockStatus.RUNNING:
            assert mr.remaining(clock.now()) > timedelta(0), "a running clock showed a negative time left"
        for alert in raised:
            assert "-" not in alert.message.split("—")[-1], f"a negative duration in {alert.message!r}"
    session.commit()
    assert [a.message.split("— ")[-1] for a in raised] == ["due in 5 h", "overdue"]
    rows = session.scalars(select(Alert).where(Alert.case_id == case.id)).all()
    alert_entries = session.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.id)
                                    .where(LedgerEntry.kind == EventKind.ALERT_RAISED.value)).all()
    assert len(rows) == len(alert_entries) == 2
    session.commit()
    assert_ledger_verifies(engine)
