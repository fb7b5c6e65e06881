"""The reconciler and the outbox against a real Prefect server, on SQLite and PostgreSQL, with no flow runner:
runs are created through the pathway deployment and their states set the way a killed runner leaves them.

What this guards: a wake resumed into a run is not delivered until the run moves on; a run left Pending (the
runner killed) no longer keeps its wake retrying forever but is retired and replaced by ONE fresh run; the
reconciler and the outbox agree on that one run for one dead run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.states import Crashed, Pending, Running, Suspended
from sqlalchemy import select
from sqlmodel import Session

from core import outbox
from core.actors import system_actor
from core.cases import CaseCreate, Reporting
from core.reconcile import Thresholds, after_dead_key
from flows.reconcile import reconcile
from policies.cases import open_case
from tests.e2e.pathway_stack import wait_for

FAST = Thresholds(scheduled_s=600, pending_s=1.0, running_s=600, row_s=0, max_restarts=5)


@pytest.fixture
def prefect(prefect_api) -> Iterator[SyncPrefectClient]:
    """A client of the session's Prefect server with the pathway deployment registered (nothing serves it);
    every run made here is retired at the end so a later test's runner never picks one up."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pathway import survivor_pathway

    with temporary_settings({PREFECT_API_URL: prefect_api}):
        survivor_pathway.to_deployment(name="survivor-pathway").apply()
    made: list[str] = []
    with SyncPrefectClient(prefect_api) as client:
        client.coc_made = made  # type: ignore[attr-defined]
        yield client
        for case_id in made:
            for run in outbox.PrefectWaker(prefect_api).case_runs(case_id):
                if not run.final:
                    client.set_flow_run_state(UUID(run.id), Crashed(message="test over"), force=True)


def _case(engine, prefect) -> str:
    """Open a case (its start-pathway row is enqueued in the same transaction)."""
    with Session(engine, expire_on_commit=False) as s:
        case = open_case(s, actor=system_actor("test"), data=CaseCreate(reporting=Reporting.UNRESTRICTED))
        s.commit()
    prefect.coc_made.append(case.id)
    return case.id


def _factory(engine):
    return lambda: Session(engine, expire_on_commit=False)


def _pending_rows(engine, case_id: str) -> list[outbox.OutboxMessage]:
    with Session(engine) as s:
        return list(s.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id,
                                                                 outbox.OutboxMessage.delivered_at.is_(None))))


def _wait_at(engine, case_id: str, run_id: str, key: str) -> None:
    """What the pathway does before it suspends: record its wait."""
    with Session(engine) as s:
        outbox.clear_wait(s, case_id=case_id, flow_run_id=run_id)
        outbox.record_wait(s, case_id=case_id, key=key, flow_run_id=run_id)
        s.commit()


def _wake(engine, case_id: str) -> None:
    with Session(engine) as s:
        outbox.enqueue(s, case_id=case_id, kind=outbox.OutboxKind.WAKE)
        s.commit()


def _set(prefect, run_id: str, state) -> None:
    prefect.set_flow_run_state(UUID(run_id), state, force=True)


def test_a_run_left_pending_is_replaced_once_and_its_wake_closed(engine, prefect, prefect_api):
    """Runner killed after it took the run (PENDING): the wake waits, then the run counts as dead, is retired
    (Crashed) and ONE fresh run — keyed by the dead run — replaces it; the row is delivered."""
    waker = outbox.PrefectWaker(prefect_api)
    factory = _factory(engine)
    case_id = _case(engine, prefect)
    assert outbox.drain(factory, waker, thresholds=FAST) == (1, 0)  # the start: one run, nobody serves it
    [first] = waker.case_runs(case_id)
    _set(prefect, first.id, Pending())
    _wait_at(engine, case_id, first.id, "release-consent-1")
    _wake(engine, case_id)

    slow = Thresholds(pending_s=600)
    assert outbox.drain(factory, waker, thresholds=slow) == (0, 1)  # "has not suspended yet": kept
    [row] = _pending_rows(engine, case_id)
    assert "not suspended yet" in (row.last_error or "")

    # Past the threshold the Pending run is dead: one fresh run, the row delivered, the stale wait gone.
    wait_for(lambda: outbox.drain(factory, waker, thresholds=FAST)[1] == 0, timeout=30, what="the wake")
    runs = waker.case_runs(case_id)
    assert [r.state for r in runs[1:]] == ["CRASHED"] and runs[1].id == first.id
    assert len(runs) == 2 and runs[0].state == "SCHEDULED"
    fresh = prefect.read_flow_run(UUID(runs[0].id))
    assert fresh.idempotency_key == after_dead_key(case_id, first.id) and fresh.name == case_id
    assert fresh.parameters == {"case_id": case_id}
    with Session(engine) as s:
        assert not outbox.waits_for(s, case_id)

    # The reconciler sees a fresh run moving and does nothing; nothing is started twice.
    assert case_id not in reconcile(factory, waker, FAST)
    assert len(waker.case_runs(case_id)) == 2


def test_a_resumed_wake_stays_until_the_run_moves_on_or_is_found_dead(engine, prefect, prefect_api):
    """The row names the wait it resumed and stays while the run runs on from it; the run suspending at a
    later key delivers it without a second resume; a run that dies after a resume is replaced."""
    waker = outbox.PrefectWaker(prefect_api)
    factory = _factory(engine)
    case_id = _case(engine, prefect)
    outbox.drain(factory, waker, thresholds=FAST)
    [run] = waker.case_runs(case_id)
    _set(prefect, run.id, Running())
    _wait_at(engine, case_id, run.id, "release-consent-1")
    _set(prefect, run.id, Suspended(pause_key="release-consent-1"))
    _wake(engine, case_id)

    assert outbox.drain(factory, waker, thresholds=FAST) == (0, 1)  # resumed, not delivered
    [row] = _pending_rows(engine, case_id)
    assert row.resumed == f"{run.id}:release-consent-1"
    assert waker.run_info(run.id).state != "PAUSED"  # Prefect took the resume

    _set(prefect, run.id, Running())  # the run runs on from the wait but has not got anywhere yet
    assert outbox.drain(factory, waker, thresholds=FAST) == (0, 1)
    _wait_at(engine, case_id, run.id, "release-consent-2")  # it moved on and waits at a later key
    _set(prefect, run.id, Suspended(pause_key="release-consent-2"))
    assert outbox.drain(factory, waker, thresholds=FAST) == (1, 0)
    assert waker.run_info(run.id).state == "PAUSED"  # delivered without resuming it again
    assert len(waker.case_runs(case_id)) == 1

    # Another wake; the run dies (Crashed) after Prefect accepted the resume: replaced once, row delivered.
    _wake(engine, case_id)
    assert outbox.drain(factory, waker, thresholds=FAST) == (0, 1)
    _set(prefect, run.id, Crashed(message="the stack stopped"))
    assert outbox.drain(factory, waker, thresholds=FAST) == (1, 0)
    runs = waker.case_runs(case_id)
    assert len(runs) == 2 and runs[1].id == run.id
    assert prefect.read_flow_run(UUID(runs[0].id)).idempotency_key == after_dead_key(case_id, run.id)


def test_reconcilers_and_the_outbox_start_one_run_for_one_dead_run(engine, prefect, prefect_api):
    """A crashed run with a wait and an undelivered wake: two reconcilers at once and the outbox's drain
    start one fresh run between them; a case with a live run, or a finished one, is left alone."""
    waker = outbox.PrefectWaker(prefect_api)
    factory = _factory(engine)
    case_id = _case(engine, prefect)
    outbox.drain(factory, waker, thresholds=FAST)
    [dead] = waker.case_runs(case_id)
    _wait_at(engine, case_id, dead.id, "advocacy-consent-1")
    _set(prefect, dead.id, Crashed(message="killed"))
    _wake(engine, case_id)
    idle_case = _case(engine, prefect)  # its start row is pending: the reconcilers start it with the row's key
    taken: list[dict] = []
    threads = [threading.Thread(target=lambda: taken.append(reconcile(factory, waker, FAST))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert any(case_id in t for t in taken) and any(idle_case in t for t in taken), taken
    assert outbox.drain(factory, waker, thresholds=FAST) == (2, 0)  # the same runs: nothing more started
    runs = waker.case_runs(case_id)
    assert len(runs) == 2 and runs[1].id == dead.id, runs
    assert prefect.read_flow_run(UUID(runs[0].id)).idempotency_key == after_dead_key(case_id, dead.id)
    assert len(waker.case_runs(idle_case)) == 1  # its run is fresh and moving: nothing to do
    assert not _pending_rows(engine, case_id)
    with Session(engine) as s:
        assert not outbox.waits_for(s, case_id)  # the dead run's wait is forgotten


def test_a_case_with_no_run_at_all_gets_one(engine, prefect, prefect_api):
    """An open case whose pathway never started (Prefect's database lost, its row long delivered) gets one."""
    waker = outbox.PrefectWaker(prefect_api)
    factory = _factory(engine)
    case_id = _case(engine, prefect)
    with Session(engine) as s:  # as if delivered to a Prefect that no longer remembers it
        for row in s.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id)):
            row.delivered_at = row.created_at
        s.commit()
    assert waker.case_runs(case_id) == []
    assert reconcile(factory, waker, FAST)[case_id].kind == "start"
    assert reconcile(factory, waker, FAST).get(case_id) is None
    [run] = waker.case_runs(case_id)
    assert prefect.read_flow_run(UUID(run.id)).name == case_id

