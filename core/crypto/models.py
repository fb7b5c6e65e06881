"""case_key: one wrapped data key per case (envelope encryption); erased_at once crypto-shredded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel


class CaseKey(SQLModel, table=True):
    """The case's data key wrapped by a centre key (`key_id`); after erasure `wrapped` is NULL for good."""

    __tablename__ = "case_key"

    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), primary_key=True))
    wrapped: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    key_id: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    rewrapped_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    erased_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
