"""Delivering outbox rows: all pending rows of a case at once, through a Waker, never holding a transaction
open while calling Prefect (the rules of a wake: core/outbox/__init__.py). Failures stay for a later drain."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from core.clock import SystemClock, utcnow
from core.db import get_engine, transaction
from core.outbox.models import MAX_ERROR_LEN, MAX_RESUMED_LEN, OutboxMessage
from core.outbox.service import clear_wait, pending, waits_for
from core.outbox.waker import Waker
from core.reconcile import Liveness, RunInfo, Thresholds, after_dead_key, liveness, row_key

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger("core.outbox")


class NotYetDeliverable(Exception):
    """The row cannot be delivered yet (a run is about to suspend, or has not moved on from a resume)."""


def _tokens(text: str | None) -> set[tuple[str, str]]:
    """Parse a row's `resumed` column into (flow_run_id, key) pairs."""
    pairs = set()
    for token in (text or "").split():
        run_id, _, key = token.partition(":")
        if run_id and key:
            pairs.add((run_id, key))
    return pairs


def _format_tokens(pairs: set[tuple[str, str]]) -> str | None:
    text = " ".join(f"{r}:{k}" for r, k in sorted(pairs))
    while len(text) > MAX_RESUMED_LEN:  # keep what fits (a case has one waiting run in practice)
        text = text.split(" ", 1)[1] if " " in text else ""
    return text or None


def replace_dead_run(waker: Waker, case_id: str, run: RunInfo) -> str:
    """Retire a dead run (if Prefect still shows it moving) and start its one replacement; return its id."""
    if not run.final:
        waker.retire(run.id, "no progress within its threshold; a fresh run replaces it")
    return waker.start_pathway(case_id, idempotency_key=after_dead_key(case_id, run.id))


def _deliver_case(session_factory: Callable[[], Session], waker: Waker, case_id: str,
                  batch: list[OutboxMessage], now: datetime, th: Thresholds) -> set[tuple[str, str]]:
    """Deliver every pending row of one case at once; never holds a transaction open while calling Prefect.

    Start and wake rows of a case mean the same thing — "look at this case again" — because a run reads the
    database from the top: resume the runs that wait for the case, else start one unless one is active.
    Returns the waits resumed now (the rows then stay undelivered, naming them); raises NotYetDeliverable
    while a run has not suspended yet or has not moved on from a wait resumed before.
    """
    with transaction(session_factory) as session:
        waits = waits_for(session, case_id)
    resumed_before: set[tuple[str, str]] = set()
    for msg in batch:
        resumed_before |= _tokens(msg.resumed)
    unresumed = any(not msg.resumed for msg in batch)
    resumed_now: set[tuple[str, str]] = set()
    live = 0
    not_ready = False
    dead: dict[str, RunInfo] = {}
    for wait in waits:
        pair = (wait.flow_run_id, wait.key)
        info = waker.run_info(wait.flow_run_id)
        state = liveness(info, now, th) if info is not None else Liveness.COMPLETED
        if state is Liveness.WAITING:
            live += 1
            if unresumed or pair in resumed_before:
                # A refused resume means someone else resumed it first: either way, wait for it to move on.
                waker.resume(wait.flow_run_id, {"case_id": case_id, "checkpoint": wait.key})
                resumed_now.add(pair)
        elif state is Liveness.ACTIVE:
            live += 1
            if unresumed or pair in resumed_before:
                not_ready = True  # it wrote its wait but has not suspended yet, or not moved on from our resume
        else:
            if state is Liveness.DEAD and info is not None:
                dead[info.id] = info
            with transaction(session_factory) as session:
                clear_wait(session, case_id=case_id, key=wait.key, flow_run_id=wait.flow_run_id)
    for info in dead.values():
        # The run died at (or after resuming from) a wait: ONE fresh run replaces it and reads the database.
        replace_dead_run(waker, case_id, info)
        live += 1
    if resumed_now:
        return resumed_now
    if not_ready:
        raise NotYetDeliverable("a pathway run of the case has not suspended yet or not moved on from a wake")
    if not live and unresumed:  # rows that resumed a run whose wait is gone were seen by it (or its replacement)
        runs = waker.case_runs(case_id, limit=1)
        latest = runs[0] if runs else None
        state = liveness(latest, now, th) if latest is not None else None
        if state is Liveness.DEAD:
            replace_dead_run(waker, case_id, latest)
        elif state not in (Liveness.ACTIVE, Liveness.WAITING):
            # No run for the case (never started, or it ended, e.g. after a decline): start one. The key names
            # the case and its oldest pending row, so concurrent drainers reading the same rows start one run
            # between them; the case id keeps keys apart when row ids repeat (a rebuilt database).
            waker.start_pathway(case_id, idempotency_key=row_key(case_id, batch[0].id or 0))
    # else: an active run reads the database itself when it reaches its next checkpoint
    return set()


def drain(session_factory: Callable[[], Session], waker: Waker, now: datetime | None = None,
          *, limit: int = 100, thresholds: Thresholds | None = None) -> tuple[int, int]:
    """Deliver undelivered rows; return (delivered, left). Failures stay for a later drain."""
    th = thresholds or Thresholds()
    with transaction(session_factory) as session:
        rows = pending(session, limit)
        session.expunge_all()
    # All rows of a case read in one batch are delivered together: the run that is resumed or started reads
    # every decision committed before this drain began.
    groups: dict[str, list[OutboxMessage]] = {}
    for msg in rows:
        groups.setdefault(msg.case_id, []).append(msg)
    delivered = 0
    for case_id, batch in groups.items():
        error: str | None = None
        resumed: set[tuple[str, str]] = set()
        try:
            # Run ages are measured against the wall clock: Prefect stamps states with it (a test's manual
            # clock would make every run look dead or newborn).
            resumed = _deliver_case(session_factory, waker, case_id, batch, SystemClock().now(), th)
        except Exception as exc:  # noqa: BLE001 - any failure means: keep the rows, retry later
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LEN]
            if not isinstance(exc, NotYetDeliverable):
                log.warning("outbox rows of a case not delivered (first row %s): %s", batch[0].id, error)
        with transaction(session_factory) as session:
            for msg in batch:
                row = session.get(OutboxMessage, msg.id)
                if row is None or row.delivered_at is not None:
                    continue  # another drainer got there first
                row.attempts += 1
                if resumed:  # stays until the resumed run is seen past its wait (or dead and replaced)
                    row.resumed = _format_tokens(_tokens(row.resumed) | resumed)
                    row.last_error = None
                elif error is None:
                    row.delivered_at = now or utcnow()
                    row.last_error = None
                    delivered += 1
                else:
                    row.last_error = error
    with transaction(session_factory) as session:
        left = len(pending(session, limit))
    return delivered, left


def thresholds_for(settings: Settings) -> Thresholds:
    """The reconciler's thresholds from COC_PATHWAY_* settings."""
    return Thresholds(scheduled_s=settings.pathway_stale_scheduled_s, pending_s=settings.pathway_stale_pending_s,
                      running_s=settings.pathway_stale_running_s, row_s=settings.pathway_stale_row_s,
                      max_restarts=settings.pathway_max_restarts)


def session_factory_for(settings: Settings) -> Callable[[], Session]:
    """A factory of sessions on the configured database."""

    engine = get_engine(settings.database_url)
    return lambda: Session(engine, expire_on_commit=False)
