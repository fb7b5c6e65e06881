"""The outbox's tables: a row per request to Prefect (`outbox`) and the waits pathway runs record
(`pathway_wait`); opaque case ids only. Protocol: core/outbox/__init__.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

MAX_ERROR_LEN = 500
MAX_RESUMED_LEN = 400


class OutboxKind(StrEnum):
    """What a row asks Prefect to do."""

    START_PATHWAY = "start-pathway"
    WAKE = "wake"


class OutboxMessage(SQLModel, table=True):
    """One pending (or delivered) request to Prefect; opaque case id only."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    kind: OutboxKind = Field(sa_type=String(16))
    key: str | None = Field(default=None, max_length=64)  # the checkpoint key a wake is meant for, if known
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LEN)
    # "run_id:key" tokens (space-separated) of the waits this row's wake resumed; the row stays undelivered
    # until those waits are gone (the run moved on) or their run is found dead (then replaced).
    resumed: str | None = Field(default=None, max_length=MAX_RESUMED_LEN)


class PathwayWait(SQLModel, table=True):
    """A pathway run that waits (or is about to wait) at a checkpoint of a case, or until a time (`wake_at`)."""

    __tablename__ = "pathway_wait"
    __table_args__ = (UniqueConstraint("case_id", "key", "flow_run_id", name="uq_pathway_wait_run"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    key: str = Field(max_length=64)
    flow_run_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    # A timed wait (a follow-up date, a notice date): when the injectable clock reaches `wake_at`,
    # core.outbox.wake_due enqueues a wake for the case once and stamps `woken_at`.
    wake_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)
    woken_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
