"""Advocacy tables added for issue #15: referral outcomes and contacts (append-only), and the follow-ups.

Services offered/accepted/declined, referrals and safety-plan revisions stay rows of `advocacy_record`
(policies.advocacy). No free text anywhere here: closed enums, opaque ids, staff ids and times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PField
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import require_offset
from policies.advocacy import Service
from policies.advocacy_rules import ContactKind, ContactOutcome, FollowUpOutcome, ReferralOutcome


class EntryKind:
    """What an advocacy_entry row is."""

    REFERRAL_OUTCOME = "referral-outcome"
    CONTACT = "contact"


class AdvocacyEntry(SQLModel, table=True):
    """A referral's outcome or a contact made; never updated (triggers refuse UPDATE/DELETE)."""

    __tablename__ = "advocacy_entry"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    kind: str = Field(sa_type=String(24))
    referral_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))  # advocacy_record.id
    contact_kind: str | None = Field(default=None, sa_type=String(16))
    outcome: str = Field(sa_type=String(24))
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int


class FollowUp(SQLModel, table=True):
    """One follow-up after the exam; its outcome is set once (done / missed / declined / ended)."""

    __tablename__ = "advocacy_follow_up"
    __table_args__ = (UniqueConstraint("case_id", "name", name="uq_advocacy_follow_up_case_name"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    name: str = Field(sa_type=String(32))
    checks: str = Field(sa_type=String(200))  # comma-separated FollowUpCheck values
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    scheduled_at: datetime = Field(sa_type=DateTime(timezone=True))
    raised_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    outcome: str | None = Field(default=None, sa_type=String(16))
    outcome_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    outcome_by: str | None = Field(default=None, max_length=64)


# --- request and response shapes ------------------------------------------------------------------


class ServiceDecision(BaseModel):
    """Body: a service offered, accepted or declined."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    service: Service
    status: Literal["offered", "accepted", "declined"]


class ReferralCreate(BaseModel):
    """Body: a referral to an outside service (the organisation's name: never a person)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    service: Service
    organisation: str = PField(min_length=1, max_length=120)


class SafetyPlanRevision(BaseModel):
    """Body: a new revision of the safety plan (encrypted at rest; earlier revisions are kept)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    notes: str = PField(min_length=1, max_length=20_000)

    def __repr__(self) -> str:
        return "SafetyPlanRevision(<notes redacted>)"


class ReferralOutcomeCreate(BaseModel):
    """Body: the outcome of a referral."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    outcome: ReferralOutcome


class ContactCreate(BaseModel):
    """Body: a contact made (when: default now; never in the future)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    kind: ContactKind
    outcome: ContactOutcome
    at: datetime | None = None

    @field_validator("at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)


class FollowUpOutcomeCreate(BaseModel):
    """Body: whether the follow-up happened."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    outcome: FollowUpOutcome


class EntryPublic(BaseModel):
    """A referral outcome or contact as shown."""

    id: int
    case_id: str
    kind: str
    referral_id: int | None
    contact_kind: ContactKind | None
    outcome: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int


class FollowUpPublic(BaseModel):
    """A follow-up as shown (what it covers, when due, whether it happened)."""

    id: int
    case_id: str
    name: str
    checks: list[str]
    due_at: datetime
    raised_at: datetime | None
    outcome: FollowUpOutcome | None
    outcome_at: datetime | None
    outcome_by: str | None

    @classmethod
    def of(cls, row: FollowUp) -> FollowUpPublic:
        """From a row."""
        return cls(id=row.id, case_id=row.case_id, name=row.name, checks=row.checks.split(","), due_at=row.due_at,
                   raised_at=row.raised_at, outcome=FollowUpOutcome(row.outcome) if row.outcome else None,
                   outcome_at=row.outcome_at, outcome_by=row.outcome_by)


def entry_public(row: AdvocacyEntry) -> EntryPublic:
    """An entry as shown."""
    return EntryPublic(id=row.id, case_id=row.case_id, kind=row.kind, referral_id=row.referral_id,
                       contact_kind=ContactKind(row.contact_kind) if row.contact_kind else None, outcome=row.outcome,
                       occurred_at=row.occurred_at, recorded_at=row.recorded_at, recorded_by=row.recorded_by,
                       ledger_seq=row.ledger_seq)
