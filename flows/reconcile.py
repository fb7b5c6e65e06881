"""The pathway reconciler: every case with work left gets a live pathway run.

A pathway run can die where nothing notices (the stack stopped or was killed while it ran: Crashed, or left
Pending/Running forever). The database says what each case still needs, so the reconciler — run by the flow
runner at start-up and every COC_RECONCILE_EVERY_S (flows/serve.py) — compares it with the case's newest
Prefect run and starts ONE fresh run where the run is dead or missing (core/reconcile.py decides). The fresh
run's idempotency key names the case and the dead run, so two reconcilers, or a reconciler and the outbox,
start one run between them; the pathway's steps are idempotent against the database, so the fresh run does
nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import outbox
from core.cases import Case
from core.clock import SystemClock, as_utc
from core.db import transaction
from core.reconcile import Action, CaseFacts, RunInfo, Thresholds, decide
from core.settings import get_settings
from flows.steps import PathwayStep

log = logging.getLogger("flows.reconcile")

LAST_STEP = "retention"


def case_facts(session: Session, now: datetime) -> dict[str, CaseFacts]:
    """The database facts of every case that may need a run: open cases whose pathway has not done its last
    step, cases with undelivered outbox rows, and cases with a recorded wait."""
    complete = set(session.scalars(select(PathwayStep.case_id).where(PathwayStep.step == LAST_STEP)))
    closed = {cid for cid, at in session.execute(select(Case.id, Case.closed_at)) if at is not None}
    candidates = set(session.scalars(select(Case.id).where(Case.closed_at.is_(None)))) - complete
    rows: dict[str, tuple[int, datetime]] = {}
    for msg in outbox.pending(session, limit=10_000):
        # Rows that resumed a run are the outbox's until that run moves on or is found dead (the newest run's
        # state covers them here); rows that reached no run yet may need one started.
        if msg.case_id not in rows and not msg.resumed:  # oldest first
            rows[msg.case_id] = (msg.id or 0, as_utc(msg.created_at))
    waits: dict[str, list[tuple[str, str]]] = {}
    for wait in session.scalars(select(outbox.PathwayWait)):
        waits.setdefault(wait.case_id, []).append((wait.flow_run_id, wait.key))
    facts = {}
    for case_id in sorted(candidates | set(rows) | set(waits)):
        first = rows.get(case_id)
        facts[case_id] = CaseFacts(
            case_id=case_id, closed=case_id in closed, pathway_complete=case_id in complete,
            first_pending_row=first[0] if first else None,
            oldest_pending_age_s=(now - first[1]).total_seconds() if first else None,
            waits=tuple(sorted(waits.get(case_id, ()))))
    return facts


def act(waker: outbox.Waker, case_id: str, action: Action) -> str | None:
    """Carry out one decision; return the run started or resumed (None for nothing)."""
    if action.kind == "start":
        assert action.idempotency_key is not None
        if action.retire is not None:
            waker.retire(action.retire, "no progress within its threshold; a fresh run replaces it")
        return waker.start_pathway(case_id, idempotency_key=action.idempotency_key)
    if action.kind == "resume":
        assert action.run_id is not None and action.key is not None
        waker.resume(action.run_id, {"case_id": case_id, "checkpoint": action.key})
        return action.run_id
    return None


def _clear_final_waits(session_factory: Callable[[], Session], facts: CaseFacts, runs: list[RunInfo]) -> None:
    """Forget waits of runs that have ended (they never resume); the outbox does the same when it delivers."""
    final = {run.id for run in runs if run.final}
    gone = [(run_id, key) for run_id, key in facts.waits if run_id in final]
    if gone:
        with transaction(session_factory) as session:
            for run_id, key in gone:
                outbox.clear_wait(session, case_id=facts.case_id, key=key, flow_run_id=run_id)


def reconcile(session_factory: Callable[[], Session], waker: outbox.PrefectWaker, th: Thresholds,
              *, now: datetime | None = None) -> dict[str, Action]:
    """One pass over every case that may need a run; returns what was decided for the cases acted on."""
    # Run and row ages are measured against the wall clock, as Prefect stamps its states with it.
    now = now or SystemClock().now()
    with transaction(session_factory) as session:
        facts = case_facts(session, now)
    if not facts:
        return {}
    runs = waker.runs_of_cases(list(facts))
    taken: dict[str, Action] = {}
    for case_id, case in facts.items():
        case_runs = runs.get(case_id, [])
        action = decide(case, case_runs, now, th)
        try:
            _clear_final_waits(session_factory, case, case_runs)
            if action.kind == "nothing":
                if action.reason.startswith("gave up"):
                    log.warning("pathway of case %s: %s", case_id, action.reason)
                continue
            run_id = act(waker, case_id, action)
            log.info("pathway of case %s: %s -> %s run %s", case_id, action.reason, action.kind, run_id)
            taken[case_id] = action
        except Exception as exc:  # noqa: BLE001 - one case's failure must not stop the others; retried next pass
            log.warning("reconciling case %s failed (%s: %s)", case_id, type(exc).__name__, exc)
    return taken


def reconcile_now() -> dict[str, Action]:
    """Reconcile the configured database against the configured Prefect."""

    settings = get_settings()
    return reconcile(outbox.session_factory_for(settings), outbox.waker_for(settings),
                     outbox.thresholds_for(settings))
