"""A pathway run that dies is replaced: kill the flow runner, or stop the whole stack, right after release consents
are granted, start it again, and every case gets its release offer exactly once (the reconciler, flows/reconcile.py,
and the outbox's "delivered only when the run moved on", core/outbox.py).

The thresholds are shortened through COC_PATHWAY_* settings so a run left Pending/Running by the kill counts as
dead within seconds instead of minutes; the waits are on conditions, with bounds.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from core import outbox
from core.db import make_engine
from core.ledger import EventKind
from policies.handoffs import ConsentScope
from tests.e2e.pathway_stack import (
    Runner,
    at_retention,
    case_at_release_checkpoint,
    drain,
    ledger_kinds,
    make_staff,
    other_waits,
    record,
    steps,
    wait_for,
)
from tests.fixtures.stack import CocUp

pytestmark = pytest.mark.e2e

CASES = 4
RELEASE = ConsentScope.RELEASE_LAW_ENFORCEMENT
FAST = {  # a run left Pending/Running this long is dead; the runner reconciles every 2 s
    "COC_PATHWAY_STALE_PENDING_S": "15", "COC_PATHWAY_STALE_RUNNING_S": "25", "COC_PATHWAY_STALE_SCHEDULED_S": "60",
    "COC_PATHWAY_STALE_ROW_S": "10", "COC_RECONCILE_EVERY_S": "2",
}


def _tolerant(predicate):
    """A poll that counts SQLite's "database is locked" (the stack is writing) as "not yet"."""
    def poll():
        try:
            return predicate()
        except OperationalError:
            return False
    return poll


def _suspended_at_release(engine: Engine, waker: outbox.PrefectWaker, case_ids: list[str], log) -> None:
    """Wait until every case's run is suspended at the release checkpoint."""
    def ready() -> bool:
        for case_id in case_ids:
            with Session(engine) as s:
                at = [w.flow_run_id for w in outbox.waits_for(s, case_id) if w.key.startswith("release-consent")]
            if not at or waker.run_status(at[0]) != "waiting":
                return False
        return True

    wait_for(_tolerant(ready), timeout=180, interval=0.5, what=lambda: f"every run suspended at the release\n{log()}")


def _grant_releases(engine: Engine, examiner, case_ids: list[str], api_url: str) -> None:
    """Record every release consent, then wake the runs (what the API's after-commit drain does)."""
    for case_id in case_ids:
        record(engine, examiner, case_id, RELEASE)
    drain(engine, api_url)


def _every_case_released_once(engine: Engine, cases: list[tuple[str, str]], log) -> None:
    """Each case finishes its pathway with one release offer, no step done twice, nothing left to deliver."""
    wait_for(_tolerant(lambda: all(at_retention(engine, c) for c, _ in cases)), timeout=150, interval=0.5,
             what=lambda: f"every pathway to finish: {[(c, steps(engine, c)) for c, _ in cases]}\n{log()}")
    for case_id, item_id in cases:
        done = steps(engine, case_id)
        assert done.count(f"release:{item_id}") == 1, done
        entries = ledger_kinds(engine, case_id)
        offers = [d for k, d in entries if k == EventKind.TRANSFER_OFFERED and d.get("purpose") == "release"]
        assert len(offers) == 1, (case_id, offers)
        per_step = Counter(d["step"] for k, d in entries if k == EventKind.PATHWAY_STEP)
        assert max(per_step.values()) == 1, (case_id, per_step)

    def settled() -> bool:
        with Session(engine) as s:  # closed before waits() opens another (SQLite: one writer at a time)
            rows = list(s.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.delivered_at.is_(None))))
        return not rows and not any(other_waits(engine, c) for c, _ in cases)  # retention waits last years

    wait_for(_tolerant(settled), timeout=90, interval=0.5, what=lambda: f"the outbox to settle\n{log()}")


# On PostgreSQL: the same restart on SQLite is (b) below, through `coc up` (its embedded database), and the
# reconciler's rules run on both databases in tests/integration/test_reconcile.py.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_killing_the_flow_runner_mid_run_still_offers_every_release_once(db_url, prefect_api, tmp_path):
    """(a) SIGKILL the runner's process group (runner, forkserver, run processes) just after the release wakes
    were delivered, start it again: each of four cases gets its release offer, once."""
    engine = make_engine(db_url)
    waker = outbox.PrefectWaker(prefect_api)
    runner = Runner(prefect_api, tmp_path / "runner", db_url, tmp_path / "data", FAST)
    try:
        staff = make_staff(engine, tmp_path.name[-12:])
        cases = [case_at_release_checkpoint(engine, staff) for _ in range(CASES)]
        ids = [c for c, _ in cases]
        wait_for(_tolerant(lambda: drain(engine, prefect_api)[1] == 0), timeout=120, what=runner.log_tail)
        _suspended_at_release(engine, waker, ids, runner.log_tail)

        _grant_releases(engine, staff.examiner, ids, prefect_api)
        time.sleep(0.3)  # the fault: let the resumed runs get going (a point in time, not a wait for a state)
        os.killpg(runner.process.pid, signal.SIGKILL)
        runner.process.wait(timeout=30)
        states = {c: [r.state for r in waker.case_runs(c)] for c in ids}
        print("run states after the kill:", states)
        released_before = [c for c, i in cases if f"release:{i}" in steps(engine, c)]
        print("released before the restart:", len(released_before), "of", CASES)

        runner = Runner(prefect_api, tmp_path / "runner2", db_url, tmp_path / "data", FAST)
        _every_case_released_once(engine, cases, runner.log_tail)
    finally:
        runner.stop()
        engine.dispose()


def test_stopping_the_stack_a_second_after_the_consents_still_offers_every_release_once(tmp_path):
    """(b) `coc up`, four cases suspended at the release, grant the four releases, stop the whole stack 1 s later,
    `coc up` again on the same data dir: every case gets its offer, once, and no step is recorded twice."""
    data: Path = tmp_path / "data"
    first = CocUp(data, **FAST).start()
    engine: Engine | None = None
    second: CocUp | None = None
    try:
        info = first.wait_ready()
        engine = make_engine(f"sqlite:///{data / 'coc.db'}")
        waker = outbox.PrefectWaker(info.prefect_api_url)
        log = lambda: (data / "logs" / "flows.log").read_text(errors="replace")[-4000:]  # noqa: E731
        staff = make_staff(engine, "stop")
        cases = [case_at_release_checkpoint(engine, staff) for _ in range(CASES)]
        ids = [c for c, _ in cases]
        wait_for(_tolerant(lambda: drain(engine, info.prefect_api_url)[1] == 0), timeout=120, what=log)
        _suspended_at_release(engine, waker, ids, log)

        _grant_releases(engine, staff.examiner, ids, info.prefect_api_url)
        time.sleep(1.0)  # the fault: stop the stack one second after the consents
        assert first.terminate() == 0, first.output()[-3000:]
        released_before = [c for c, i in cases if f"release:{i}" in steps(engine, c)]
        print("released before the stop:", len(released_before), "of", CASES)

        second = CocUp(data, ports=first.ports, **FAST).start()
        second.wait_ready()
        _every_case_released_once(engine, cases, log)
    finally:
        if second is not None:
            second.terminate()
        first.terminate()
        if engine is not None:
            engine.dispose()
