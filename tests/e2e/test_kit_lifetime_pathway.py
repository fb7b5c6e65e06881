"""The life of a kit with a notice request through the pathway on a real Prefect server (flows.serve in a
subprocess, SQLite and PostgreSQL, the COC_CLOCK_FILE clock shared with the runner): after the last handoff the
run waits at its retention stage for the notice date, wakes on it and waits for destruction; the survivor's
extension wakes it early and it waits for the NEW notice date; it wakes on that, the notice is sent; on the new
destruction date two people destroy the kit and the run reaches its last step (`retention`) and ends.

The run waits until destruction is DUE (flows.retention_stage), not for the destruction itself: the item is
destroyed by people, after which nothing of the case is left to wait for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core import outbox
from core.actors import Actor
from core.clock import FileClock, as_utc, set_clock
from core.db import make_engine
from core.ledger import EventKind, LedgerEntry
from evidence.custody import TransferClose, decline_transfer
from evidence.custody.inbox import open_offers_for
from evidence.items import EvidenceItem, ItemStatus, get_custody
from evidence.notice_tasks import record_notice_sent
from evidence.preservation import extend_preservation
from flows.retention_stage import TIMER_DESTRUCTION, TIMER_NOTICE
from policies.handoffs import ConsentScope
from policies.notice import ChannelKind, NoticeRequestCreate, request_notice
from tests.e2e.pathway_stack import Runner, case_at_release_checkpoint, drain, make_staff, record, steps, wait_for
from tests.evidence_support import destroy_by_two

pytestmark = pytest.mark.e2e
COORDINATOR = Actor(id="U00000000000000C7", role="coordinator")


@pytest.fixture
def shared_clock(tmp_path) -> Iterator[FileClock]:
    path = tmp_path / "clock"
    path.write_text("0", encoding="ascii")
    clock = FileClock(path)
    previous = set_clock(clock)
    yield clock
    set_clock(previous)


def _wait_at(engine, case_id: str, prefix: str, at) -> outbox.PathwayWait | None:
    with Session(engine, expire_on_commit=False) as s:
        return next((w for w in outbox.waits_for(s, case_id) if w.key.startswith(prefix) and as_utc(w.wake_at) == at),
                    None)


# End to end through Prefect once, on one database (the e2e pathway files alternate); the steps' database work
# runs on both in tests/integration/.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_pathway_lives_through_notice_extension_and_destruction(db_url, prefect_api, tmp_path, shared_clock,
                                                                     object_store):
    engine = make_engine(db_url)
    runner = Runner(prefect_api, tmp_path / "runner", db_url, tmp_path / "data",
                    extra_env={"COC_CLOCK_FILE": str(shared_clock.path), "COC_OUTBOX_LOOP_S": "1"})
    waker = outbox.PrefectWaker(prefect_api)

    def waiting(prefix, at, what):
        wait = wait_for(lambda: _wait_at(engine, case_id, prefix, at), timeout=240,
                        what=lambda: f"{what}\n{runner.log_tail()}")
        wait_for(lambda: waker.run_status(wait.flow_run_id) == "waiting", timeout=120,
                 what=lambda: f"the run to be suspended ({what})\n{runner.log_tail()}")
        return wait

    try:
        staff = make_staff(engine, tmp_path.name[-12:])
        case_id, item_id = case_at_release_checkpoint(engine, staff)
        with Session(engine, expire_on_commit=False) as s:
            request_notice(s, actor=staff.examiner, case_id=case_id,
                           data=NoticeRequestCreate(kind=ChannelKind.EMAIL, value="life-e2e@example.org"))
            until = as_utc(s.get(EvidenceItem, item_id).retention_until)
            s.commit()
        record(engine, staff.examiner, case_id, ConsentScope.RELEASE_LAW_ENFORCEMENT)  # the last handoff
        drain(engine, prefect_api)  # start the run

        first = waiting(TIMER_NOTICE, until - timedelta(days=60), "the wait for the notice date")
        shared_clock.advance(until - timedelta(days=60) - shared_clock.now())  # the notice date
        waiting(TIMER_DESTRUCTION, until, "the run to wake on the notice date and wait for destruction")

        # The survivor asks for a year more (staff record it for her): the run wakes early, waits for the new date.
        later = until + timedelta(days=365)
        with Session(engine, expire_on_commit=False) as s:
            extend_preservation(s, object_store, actor=COORDINATOR, item_id=item_id, until=later,
                                requested_by="survivor")
            s.commit()
        again = waiting(TIMER_NOTICE, later - timedelta(days=60), "the run to wake on the extension")
        assert again.flow_run_id == first.flow_run_id  # the same run throughout
        shared_clock.advance(later - timedelta(days=60) - shared_clock.now())
        waiting(TIMER_DESTRUCTION, later, "the run to wake on the new notice date")
        with Session(engine, expire_on_commit=False) as s:
            record_notice_sent(s, actor=COORDINATOR, case_id=case_id)
            s.commit()

        # The new destruction date: two people destroy the kit; the run reaches its last step and ends.
        shared_clock.advance(later - shared_clock.now() + timedelta(days=1))  # the shared clock runs on: a margin
        with Session(engine, expire_on_commit=False) as s:
            [offer] = open_offers_for(s, staff.officer.id)  # the release the pathway offered: police never took it
            decline_transfer(s, actor=staff.officer, transfer_id=offer.transfer_id,
                             data=TransferClose(reason="not collected"))
            destroy_by_two(s, item_id, proposer=staff.examiner, approver=COORDINATOR)
            s.commit()
        wait_for(lambda: waker.run_status(first.flow_run_id) == "finished", timeout=240,
                 what=lambda: f"the run to end\n{runner.log_tail()}")
        assert steps(engine, case_id)[-1] == "retention"
        with Session(engine) as s:
            assert get_custody(s, item_id).status == ItemStatus.DESTROYED
            kinds = set(s.execute(select(LedgerEntry.kind).where(LedgerEntry.item_id == item_id)).scalars())
            assert {EventKind.NOTICE_SENT, EventKind.PRESERVATION_EXTENDED, EventKind.DESTROYED} <= kinds
    finally:
        runner.stop()
        engine.dispose()
