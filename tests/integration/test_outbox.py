"""The outbox on SQLite and PostgreSQL: rows live and die with the caller's transaction, and a wake recorded
while Prefect is down is kept and delivered once Prefect is back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from api.stack.prefect_server import free_port, start_prefect_server
from core import outbox
from core.db import make_engine
from policies.handoffs import ConsentScope
from tests.e2e.pathway_stack import Runner, case_at_release_checkpoint, make_staff, record, steps, wait_for, waits


def _rows(engine) -> list[outbox.OutboxMessage]:
    with Session(engine) as s:
        return list(s.scalars(select(outbox.OutboxMessage).order_by(outbox.OutboxMessage.id)))


def test_a_row_exists_only_if_its_transaction_commits(engine, session):
    """enqueue writes in the caller's transaction: a rollback leaves no row behind."""
    outbox.enqueue(session, case_id="C0000000000000000", kind=outbox.OutboxKind.WAKE)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) == 0
    outbox.enqueue(session, case_id="C0000000000000000", kind=outbox.OutboxKind.WAKE, key="release-consent-1")
    session.commit()
    [row] = _rows(engine)
    assert (row.kind, row.key, row.delivered_at, row.attempts) == ("wake", "release-consent-1", None, 0)


def test_prefect_unreachable_keeps_the_row_for_a_later_drain(engine, session):
    """A drain that cannot reach Prefect records the error and leaves the row undelivered."""
    outbox.enqueue(session, case_id="C0000000000000000", kind=outbox.OutboxKind.START_PATHWAY)
    session.commit()
    nowhere = outbox.PrefectWaker(f"http://127.0.0.1:{free_port()}/api")  # nothing listens there
    factory = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    assert outbox.drain(factory, nowhere) == (0, 1)
    assert outbox.drain(factory, nowhere) == (0, 1)
    [row] = _rows(engine)
    assert row.delivered_at is None and row.attempts == 2 and row.last_error


# PostgreSQL here; the same fault on SQLite is tests/faults/test_prefect_killed.py (through `coc up`, Prefect and the
# runner SIGKILLed, decisions recorded through the API meanwhile): each run starts two Prefect servers.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_decision_recorded_while_prefect_is_down_is_delivered_when_it_is_back(db_url, tmp_path):
    """(c) stop Prefect, record the release consent, restart Prefect: the kept wake resumes the run."""
    port = free_port()
    home = tmp_path / "prefect"
    engine = make_engine(db_url)
    server = start_prefect_server(home, port=port, ui=False)
    runner = Runner(server.api_url, tmp_path / "runner", db_url, tmp_path / "data")
    factory = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    try:
        staff = make_staff(engine, "down")
        case_id, item_id = case_at_release_checkpoint(engine, staff)
        waker = outbox.PrefectWaker(server.api_url)
        wait_for(lambda: outbox.drain(factory, waker)[1] == 0, timeout=120, what=runner.log_tail)
        wait_for(lambda: any(k.startswith("release-consent") for k in waits(engine, case_id)), timeout=180,
                 what=runner.log_tail)
        with Session(engine) as s:
            run_id = outbox.waits_for(s, case_id)[0].flow_run_id
        wait_for(lambda: waker.run_status(run_id) == "waiting", timeout=120, what=runner.log_tail)

        server.stop()
        record(engine, staff.examiner, case_id, ConsentScope.RELEASE_LAW_ENFORCEMENT)
        assert outbox.drain(factory, waker) == (0, 1)
        kept = [r for r in _rows(engine) if r.delivered_at is None]
        assert len(kept) == 1 and kept[0].attempts >= 1 and kept[0].last_error  # the runner's loop retries too
        assert f"release:{item_id}" not in steps(engine, case_id)

        server = start_prefect_server(home, port=port, ui=False)  # same database: the suspended run is there
        if runner.process.poll() is not None:  # the runner gave up while the server was away: start it again
            runner = Runner(server.api_url, tmp_path / "runner2", db_url, tmp_path / "data")
        wait_for(lambda: outbox.drain(factory, waker)[1] == 0, timeout=120, what=runner.log_tail)
        wait_for(lambda: f"release:{item_id}" in steps(engine, case_id), timeout=180, what=runner.log_tail)
        assert steps(engine, case_id).count(f"release:{item_id}") == 1
        assert all(r.delivered_at is not None for r in _rows(engine))
    finally:
        runner.stop()
        server.stop()
        engine.dispose()
