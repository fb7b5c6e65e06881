"""Follow-ups through the survivor's pathway on a real Prefect server (`python -m flows.serve` in a subprocess),
on SQLite and PostgreSQL, with one clock shared by the test and the runner (COC_CLOCK_FILE): after the exam the
run suspends until each follow-up date; the assigned advocate gets the 1-week, 6-week and 3-month tasks in turn
(GET /tasks' work queue), records them, and the run ends after the last."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session

from core import outbox
from core.actors import Actor
from core.cases import CaseCreate, Reporting
from core.clock import FileClock, as_utc, get_clock, set_clock, utcnow
from core.db import make_engine, transaction
from core.ledger import EventKind
from evidence import worklist
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from policies import advocacy_followups, clinical
from policies.authz import UserCreate, assign, create_user
from policies.cases import open_case
from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision
from policies.handoffs import ConsentScope as S
from policies.permissions import Role
from tests.e2e.pathway_stack import (
    ADMIN,
    Runner,
    at_retention,
    drain,
    ledger_kinds,
    make_staff,
    other_waits,
    wait_for,
    waits,
)
from tests.evidence_support import ensure_agency

pytestmark = pytest.mark.e2e


@pytest.fixture
def shared_clock(tmp_path) -> Iterator[FileClock]:
    clock = FileClock(tmp_path / "clock")
    previous = get_clock()
    set_clock(clock)
    yield clock
    set_clock(previous)


def _waiting_until(engine, case_id: str, when) -> bool:
    """Whether the case's run waits (suspended) for `when`."""
    with Session(engine) as s:
        return any(w.wake_at is not None and abs((as_utc(w.wake_at) - as_utc(when)).total_seconds()) < 1
                   for w in outbox.waits_for(s, case_id))


def _case(engine, examiner: Actor) -> tuple[str, Actor]:
    """A case with its exam on record, the sharing release for a year, a kit, a declined police release and an
    assigned advocate: the only thing the pathway waits for is the follow-up dates."""
    with Session(engine, expire_on_commit=False) as s:
        case = open_case(s, actor=examiner, data=CaseCreate(reporting=Reporting.UNRESTRICTED))
        grants = {S.MEDICAL_CARE: None, S.FORENSIC_EXAM: None, S.SHARE_ADVOCATE: utcnow() + timedelta(days=365)}
        for scope, expires in grants.items():
            record_decision(s, actor=examiner, case_id=case.id, data=ConsentDecisionCreate(
                scope=scope, decision=Decision.GRANTED, method=Method.WRITTEN, form_ref="F-1", expires_at=expires))
        record_decision(s, actor=examiner, case_id=case.id, data=ConsentDecisionCreate(
            scope=S.RELEASE_LAW_ENFORCEMENT, decision=Decision.DECLINED, method=Method.WRITTEN, form_ref="F-2"))
        clinical.record_exam(s, actor=examiner, case_id=case.id, data=clinical.ExamCreate(
            started_at=utcnow() - timedelta(hours=1), ended_at=utcnow(), narrative="n"))
        collect_item(s, actor=examiner, case_id=case.id,
                     data=EvidenceItemCreate(kind=ItemKind.KIT, description="sexual assault kit"))
        user = create_user(s, actor=ADMIN, data=UserCreate(username=f"advocate-{case.id[-6:]}", role=Role.ADVOCATE,
                                                           agency=ensure_agency(s, "centre"),
                                                           subject=f"sub-adv-{case.id}"))
        assign(s, actor=ADMIN, case_id=case.id, user_id=user.id)
        outbox.enqueue(s, case_id=case.id, kind=outbox.OutboxKind.START_PATHWAY)
        s.commit()
        return case.id, Actor(user.id, "advocate")


# End to end through Prefect once, on one database (the e2e pathway files alternate); the steps' database work
# runs on both in tests/integration/.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_advocate_gets_the_1_week_6_week_and_3_month_follow_ups_in_turn(db_url, prefect_api, tmp_path,
                                                                             shared_clock):
    engine = make_engine(db_url)
    runner = Runner(prefect_api, tmp_path / "runner", db_url, tmp_path / "data",
                    extra_env={"COC_CLOCK_FILE": str(shared_clock.path)})
    session = lambda: Session(engine, expire_on_commit=False)  # noqa: E731

    def deliver() -> None:
        wait_for(lambda: drain(engine, prefect_api)[1] == 0, timeout=120,
                 what=lambda: f"the outbox to drain\n{runner.log_tail()}")

    def queue() -> list[worklist.Task]:
        with session() as s:
            return worklist.work_queue(s, actor=advocate)

    def due_entries() -> list[dict]:
        return [d for k, d in ledger_kinds(engine, case_id) if k == EventKind.FOLLOW_UP_DUE]

    try:
        staff = make_staff(engine, tmp_path.name[-12:])
        case_id, advocate = _case(engine, staff.examiner)
        deliver()
        key = wait_for(lambda: next((k for k in waits(engine, case_id) if k.startswith("follow-up")), None),
                       timeout=180, what=lambda: f"a wait for the first follow-up\n{runner.log_tail()}")
        with session() as s:
            ups = advocacy_followups.list_follow_ups(s, case_id)
        assert [u.name for u in ups] == ["1-week", "6-weeks", "3-months"]
        assert queue() == [] and due_entries() == []

        for n, (days, follow_up) in enumerate(zip((7, 42, 90), ups, strict=True), start=1):
            shared_clock.advance(as_utc(follow_up.due_at) - utcnow() + timedelta(minutes=1))
            with transaction(session) as s:  # what the runner's drain loop sweeps every few seconds
                outbox.wake_due(s)
            deliver()
            wait_for(lambda n=n: len(due_entries()) >= n, timeout=180,
                     what=lambda days=days: f"the follow-up task at {days} days\n{runner.log_tail()}")
            tasks = queue()
            assert [(t.kind, t.ref) for t in tasks] == [("follow-up-due", str(follow_up.id))], tasks
            assert tasks[0].what.startswith(follow_up.name)
            with transaction(session) as s:
                advocacy_followups.record_follow_up_outcome(s, actor=advocate, case_id=case_id,
                                                            follow_up_id=follow_up.id, outcome="done")
            assert queue() == []
            if n < 3:
                wait_for(lambda at=ups[n].due_at: _waiting_until(engine, case_id, at), timeout=180,
                         what=lambda: f"the run to wait for the next follow-up\n{runner.log_tail()}")

        # After the last follow-up the run moves on to its retention stage (it waits there for years).
        wait_for(lambda: at_retention(engine, case_id) and not any(k.startswith("follow-up-")
                                                                    for k in other_waits(engine, case_id)),
                 timeout=180, what=lambda: f"the pathway to reach its retention stage\n{runner.log_tail()}")
        assert [d["follow_up"] for d in due_entries()] == [u.id for u in ups]  # each raised once, in turn
        assert key.startswith("follow-up-")
    finally:
        runner.stop()
        engine.dispose()
