"""Cases: the pseudonymous record a survivor's pathway hangs on. Identity is optional and encrypted."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, LargeBinary, String
from sqlmodel import Field, Session, SQLModel

from core.clock import require_offset
from core.errors import NotFound
from core.ids import is_valid_id


class AgeBand(StrEnum):
    """Age band instead of a birth date: enough for consent and reporting rules, not identifying."""

    UNDER_13 = "under-13"
    AGE_13 = "13"
    AGE_14_15 = "14-15"
    AGE_16_17 = "16-17"
    ADULT = "adult"

    @property
    def is_minor(self) -> bool:
        """True for every band under 18."""
        return self is not AgeBand.ADULT


class Reporting(StrEnum):
    """The survivor's reporting choice; restricted/anonymous can be converted later."""

    UNDECIDED = "undecided"
    RESTRICTED = "restricted"
    ANONYMOUS = "anonymous"
    UNRESTRICTED = "unrestricted"


class CaseBase(SQLModel):
    """Fields a caller may set when opening a case."""

    jurisdiction: str = Field(default="default", max_length=32)
    assault_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    age_band: AgeBand = Field(default=AgeBand.ADULT, sa_type=String(16))
    reporting: Reporting = Field(default=Reporting.UNDECIDED, sa_type=String(16))


class CaseCreate(CaseBase):
    """Request body for opening a case."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("assault_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)


class CaseUpdate(SQLModel):
    """Request body for changing a case: convert the reporting choice, or record the assault time later."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reporting: Reporting | None = None
    assault_at: datetime | None = None

    @field_validator("assault_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)


class Case(CaseBase, table=True):
    """A case row; its id is opaque and unguessable."""

    __tablename__ = "case_record"

    id: str = Field(primary_key=True, max_length=32)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    opened_by: str = Field(max_length=64)
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CasePublic(CaseBase):
    """A case as shown through the API."""

    id: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None = None


class CaseIdentity(SQLModel, table=True):
    """The survivor's identity, only if given: Fernet ciphertext, never logged or put in the ledger."""

    __tablename__ = "case_identity"

    case_id: str = Field(sa_column=Column(String(32), primary_key=True))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_at: datetime = Field(sa_type=DateTime(timezone=True))


def get_case(session: Session, case_id: str) -> Case:
    """Return the case or raise NotFound (junk ids are refused the same way)."""
    case = session.get(Case, case_id) if is_valid_id(case_id, "case") else None
    if case is None:
        raise NotFound(f"no case {case_id!r}: check the case id")
    return case
