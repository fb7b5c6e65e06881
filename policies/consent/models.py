"""Consent tables and their closed vocabularies: decisions and statutory overrides, append-only rows.

Nothing is overwritten: a new decision supersedes the previous one for the same scope from the instant it is
made (policies.consent.rules.replay_decisions). The database keeps these tables append-only (migration 0002).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from policies.handoffs import ConsentScope


class Decision(StrEnum):
    """What the survivor (or guardian) decided for one scope."""

    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class Method(StrEnum):
    """How the decision was given."""

    VERBAL = "verbal"
    WRITTEN = "written"
    GUARDIAN = "guardian"
    MINOR_ASSENT = "minor-assent"


class OverrideBasis(StrEnum):
    """Statutory grounds on which a handoff may proceed without (or against) consent."""

    MANDATORY_REPORT_MINOR = "mandatory-report-minor"
    COURT_ORDER = "court-order"


class Status(StrEnum):
    """Effective status of one scope at an instant."""

    NONE = "none"
    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ConsentDecisionBase(SQLModel):
    """Fields a caller gives when recording a decision."""

    scope: ConsentScope = Field(sa_type=String(32))
    decision: Decision = Field(sa_type=String(16))
    method: Method = Field(sa_type=String(16))
    form_ref: str | None = Field(default=None, max_length=64)  # signed form's reference, required if written
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ConsentDecision(ConsentDecisionBase, table=True):
    """One decision, never updated (append-only in the database)."""

    __tablename__ = "consent_decision"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    decided_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)


class ConsentOverrideBase(SQLModel):
    """Fields of a statutory override."""

    scope: ConsentScope = Field(sa_type=String(32))
    basis: OverrideBasis = Field(sa_type=String(32))
    legal_basis: str = Field(max_length=200)  # the statute or rule relied on, e.g. "Tex. Fam. Code 261.101"
    reference: str | None = Field(default=None, max_length=64)  # e.g. the court order's number
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ConsentOverride(ConsentOverrideBase, table=True):
    """One override, never updated (append-only in the database)."""

    __tablename__ = "consent_override"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)
