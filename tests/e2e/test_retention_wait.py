"""The pathway's retention stage on a real Prefect server (flows.serve in a subprocess), SQLite and PostgreSQL.

After the last handoff the run suspends until the survivor's notice date (a timed wait: pathway_wait.wake_at),
costing nothing meanwhile; when the shared test clock (COC_CLOCK_FILE, read by this process and the runner's)
reaches that date the runner's drain loop wakes it (core.outbox.wake_due), the run raises the notice alert once
and suspends again until destruction is due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core import outbox
from core.clock import FileClock, as_utc, set_clock
from core.db import make_engine
from evidence.items import EvidenceItem
from flows.retention_stage import TIMER_DESTRUCTION, TIMER_NOTICE
from policies.deadlines import Alert
from policies.handoffs import ConsentScope
from policies.notice import ChannelKind, NoticeRequestCreate, request_notice
from tests.e2e.pathway_stack import Runner, case_at_release_checkpoint, drain, make_staff, record, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def shared_clock(tmp_path) -> Iterator[FileClock]:
    path = tmp_path / "clock"
    path.write_text("0", encoding="ascii")
    clock = FileClock(path)
    previous = set_clock(clock)
    yield clock
    set_clock(previous)


def _wait_at(engine, case_id: str, prefix: str) -> outbox.PathwayWait | None:
    with Session(engine, expire_on_commit=False) as s:
        return next((w for w in outbox.waits_for(s, case_id) if w.key.startswith(prefix)), None)


# End to end through Prefect once, on one database (the e2e pathway files alternate); the steps' database work
# runs on both in tests/integration/.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_run_waits_for_the_notice_date_and_wakes_on_it(db_url, prefect_api, tmp_path, shared_clock):
    engine = make_engine(db_url)
    runner = Runner(prefect_api, tmp_path / "runner", db_url, tmp_path / "data",
                    extra_env={"COC_CLOCK_FILE": str(shared_clock.path), "COC_OUTBOX_LOOP_S": "1"})
    waker = outbox.PrefectWaker(prefect_api)
    try:
        staff = make_staff(engine, tmp_path.name[-12:])
        case_id, item_id = case_at_release_checkpoint(engine, staff)
        with Session(engine, expire_on_commit=False) as s:
            request_notice(s, actor=staff.examiner, case_id=case_id,
                           data=NoticeRequestCreate(kind=ChannelKind.EMAIL, value="notice-e2e@example.org"))
            until = as_utc(s.get(EvidenceItem, item_id).retention_until)
            s.commit()
        record(engine, staff.examiner, case_id, ConsentScope.RELEASE_LAW_ENFORCEMENT)  # the last handoff
        drain(engine, prefect_api)  # start the run

        wait = wait_for(lambda: _wait_at(engine, case_id, TIMER_NOTICE), timeout=240,
                        what=lambda: f"the retention wait for the notice date\n{runner.log_tail()}")
        assert as_utc(wait.wake_at) == until - timedelta(days=60)
        wait_for(lambda: waker.run_status(wait.flow_run_id) == "waiting", timeout=120,
                 what=lambda: f"the run to be suspended\n{runner.log_tail()}")
        with Session(engine) as s:
            assert s.execute(select(Alert).where(Alert.item_id == item_id)).first() is None

        shared_clock.advance(as_utc(wait.wake_at) - shared_clock.now() + timedelta(seconds=1))  # the notice date
        later = wait_for(lambda: _wait_at(engine, case_id, TIMER_DESTRUCTION), timeout=240,
                         what=lambda: f"the run to wake and wait for destruction\n{runner.log_tail()}")
        assert as_utc(later.wake_at) == until and later.flow_run_id == wait.flow_run_id  # the same run, woken
        with Session(engine) as s:
            [alert] = s.execute(select(Alert).where(Alert.item_id == item_id)).scalars()
            assert alert.clock == "destruction-notice" and as_utc(alert.due_at) == until
        wait_for(lambda: waker.run_status(later.flow_run_id) == "waiting", timeout=120,
                 what=lambda: f"the run to be suspended again\n{runner.log_tail()}")
    finally:
        runner.stop()
        engine.dispose()
