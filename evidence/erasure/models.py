"""Lawful erasure requests (two people: a proposal and an approval by someone else) and their shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from core.ids import REFERENCE_CODE_MAX, ReferenceCodeStr


class ErasureBasis(StrEnum):
    """The legal basis of an erasure (closed set)."""

    SURVIVOR_REQUEST = "survivor-request"  # the survivor asked for their personal data to be erased
    COURT_ORDER = "court-order"
    RETENTION_ENDED = "retention-ended"  # the retention period of the personal data has run


class ErasureStatus(StrEnum):
    """Where a request stands."""

    PROPOSED = "proposed"
    APPROVED = "approved"  # the case key was destroyed
    WITHDRAWN = "withdrawn"  # withdrawn before approval (by its proposer or another authorised person)


class ErasureRequest(SQLModel, table=True):
    """One proposal (and its approval); the reference is a short code, never free text about the survivor."""

    __tablename__ = "erasure_request"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    basis: str = Field(sa_type=String(32))
    reference: str | None = Field(default=None, sa_type=String(64))
    status: str = Field(sa_type=String(16))
    proposed_by: str = Field(max_length=64)
    proposed_at: datetime = Field(sa_type=DateTime(timezone=True))
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    withdrawn_by: str | None = Field(default=None, max_length=64)  # 0024
    withdrawn_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ErasureProposal(BaseModel):
    """Request body of a proposal."""

    model_config = ConfigDict(extra="forbid")

    basis: ErasureBasis
    reference: ReferenceCodeStr | None = PField(default=None, max_length=REFERENCE_CODE_MAX,
                                                description="court order or request reference: a short code")


class ErasurePublic(BaseModel):
    """A request as shown to staff (usernames beside the ids)."""

    id: int
    case_id: str
    basis: ErasureBasis
    reference: str | None
    status: ErasureStatus
    proposed_by: str
    proposed_by_username: str | None
    proposed_at: datetime
    approved_by: str | None
    approved_by_username: str | None
    approved_at: datetime | None
    withdrawn_by: str | None = None
    withdrawn_by_username: str | None = None
    withdrawn_at: datetime | None = None


class ErasureState(BaseModel):
    """A case's erasure state: when its key was destroyed (if it was) and its requests."""

    case_id: str
    erased: bool
    erased_at: datetime | None
    requests: list[ErasurePublic]
