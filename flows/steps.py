"""Which pathway steps a case has completed: the database record that makes every flow step idempotent.

No Prefect import here: migrations and services may import this module cheaply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.clock import utcnow


class PathwayStep(SQLModel, table=True):
    """One completed step of a case's pathway; (case_id, step) is unique, so a step happens once."""

    __tablename__ = "pathway_step"
    __table_args__ = (UniqueConstraint("case_id", "step", name="uq_pathway_step_case_step"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    step: str = Field(max_length=64)
    outcome: str = Field(sa_type=String(16))  # done | declined | skipped
    flow_run_id: str | None = Field(default=None, max_length=64)
    ledger_seq: int | None = None
    completed_at: datetime = Field(sa_type=DateTime(timezone=True))


def completed_step(session: Session, case_id: str, step: str) -> PathwayStep | None:
    """The recorded step, or None when it has not happened yet."""
    return session.scalars(
        select(PathwayStep).where(PathwayStep.case_id == case_id, PathwayStep.step == step)
    ).first()


def completed_steps(session: Session, case_id: str) -> list[PathwayStep]:
    """Every completed step of the case in the order they happened."""
    return list(session.scalars(select(PathwayStep).where(PathwayStep.case_id == case_id).order_by(PathwayStep.id)))


def mark_step(
    session: Session,
    *,
    case_id: str,
    step: str,
    actor: Actor,
    outcome: str = "done",
    data: dict[str, Any] | None = None,
    flow_run_id: str | None = None,
    now: datetime | None = None,
) -> PathwayStep:
    """Record a completed step and its PATHWAY_STEP ledger entry in the caller's transaction.

    The unique (case_id, step) constraint makes a concurrent second attempt fail at flush, which rolls back
    whatever that attempt did in the same transaction (e.g. a release): a step's effects happen once.
    """
    now = now or utcnow()
    entry = ledger.append(session, kind=ledger.EventKind.PATHWAY_STEP, actor=actor, case_id=case_id, at=now,
                          data={"step": step, "outcome": outcome, **(data or {})})
    row = PathwayStep(case_id=case_id, step=step, outcome=outcome, flow_run_id=flow_run_id,
                      ledger_seq=entry.seq, completed_at=now)
    session.add(row)
    session.flush()
    return row
