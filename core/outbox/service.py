"""Outbox rows and pathway waits in the caller's transaction: enqueue a request to Prefect, record and clear
the waits of pathway runs, read what is pending (every function flushes; the caller commits)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session

from core.clock import utcnow
from core.outbox.models import OutboxKind, OutboxMessage, PathwayWait

# Set in Session.info by enqueue(): whoever commits that session should call drain_soon() afterwards.
PENDING_FLAG = "coc_outbox_pending"


def enqueue(session: Session, *, case_id: str, kind: OutboxKind | str, key: str | None = None,
            now: datetime | None = None) -> OutboxMessage:
    """Add an outbox row in the caller's transaction (delivered only if that transaction commits)."""
    msg = OutboxMessage(case_id=case_id, kind=OutboxKind(kind), key=key, created_at=now or utcnow())
    session.add(msg)
    session.flush()
    session.info[PENDING_FLAG] = True  # the committer (api.deps.get_session) then calls drain_soon()
    return msg


def record_wait(session: Session, *, case_id: str, key: str, flow_run_id: str, now: datetime | None = None,
                wake_at: datetime | None = None) -> None:
    """Note that `flow_run_id` waits at checkpoint `key` of the case (idempotent; caller commits). With
    `wake_at`, the wait is also timed: `wake_due` wakes the case once the clock reaches that time."""
    row = session.scalars(
        select(PathwayWait).where(PathwayWait.case_id == case_id, PathwayWait.key == key,
                                  PathwayWait.flow_run_id == flow_run_id)
    ).first()
    if row is None:
        session.add(PathwayWait(case_id=case_id, key=key, flow_run_id=flow_run_id, created_at=now or utcnow(),
                                wake_at=wake_at))
    elif row.wake_at != wake_at:
        row.wake_at, row.woken_at = wake_at, None
    session.flush()


def wake_due(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue one wake per case whose timed wait has come due (by the injectable clock) and stamp those waits
    `woken_at`, so the next sweep does not wake them again; return the number of cases woken (caller commits).

    The sweep is the only thing that turns time into a wake: a suspended run costs nothing while it waits,
    and a run that missed its time (Prefect was down) is woken by the first sweep after it comes back."""
    now = now or utcnow()
    due = list(session.scalars(
        select(PathwayWait).where(PathwayWait.wake_at.is_not(None), PathwayWait.wake_at <= now,
                                  PathwayWait.woken_at.is_(None))
        .order_by(PathwayWait.wake_at).limit(limit)
    ))
    cases: dict[str, str] = {}
    for wait in due:
        wait.woken_at = now
        cases.setdefault(wait.case_id, wait.key)
    for case_id, key in cases.items():
        enqueue(session, case_id=case_id, kind=OutboxKind.WAKE, key=key, now=now)
    session.flush()
    return len(cases)


def clear_wait(session: Session, *, case_id: str, key: str | None = None, flow_run_id: str | None = None) -> None:
    """Forget waits of the case (for one checkpoint and/or one run, when given); caller commits."""
    stmt = delete(PathwayWait).where(PathwayWait.case_id == case_id)
    if key is not None:
        stmt = stmt.where(PathwayWait.key == key)
    if flow_run_id is not None:
        stmt = stmt.where(PathwayWait.flow_run_id == flow_run_id)
    session.execute(stmt)


def waits_for(session: Session, case_id: str) -> list[PathwayWait]:
    """The recorded waits of a case."""
    return list(session.scalars(select(PathwayWait).where(PathwayWait.case_id == case_id)))


def pending(session: Session, limit: int = 100) -> list[OutboxMessage]:
    """Undelivered rows, oldest first."""
    stmt = (select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.id).limit(limit))
    return list(session.scalars(stmt))
