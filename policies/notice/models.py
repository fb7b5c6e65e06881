"""Tables and closed sets of the survivor's destruction-notice request (18 U.S.C. 3772; VAWA: contact is private).

Both tables are append-only (triggers in migration 0017): the current request of a case is its newest row; a
delivery row records one notice sent (or one failed attempt) for one item, with the destruction date it
announced. The contact value is only ever stored as ciphertext; neither table nor any ledger entry holds it
in clear.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel


class ChannelKind(StrEnum):
    """How the survivor asked to be told (the kind is not personal data; the value is)."""

    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    POSTAL = "postal"
    NONE = "none"  # the survivor asked for no contact: recorded, and no notice is sent


class RequestSource(StrEnum):
    """Who recorded the request: staff at the exam or later, or the survivor through the status lookup."""

    STAFF = "staff"
    SURVIVOR = "survivor-lookup"


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a notice could not be delivered (closed set: no free text that could carry personal data)."""

    BOUNCED = "bounced"
    NO_ANSWER = "no-answer"
    WRONG_NUMBER = "wrong-number"
    RETURNED_TO_SENDER = "returned-to-sender"
    INVALID_ADDRESS = "invalid-address"
    OTHER = "other"


class NoticeRequest(SQLModel, table=True):
    """One notice request of a case (append-only; the newest is in force)."""

    __tablename__ = "notice_request"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    channel_kind: str = Field(sa_column=Column(String(16), nullable=False))
    contact_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    source: str = Field(sa_column=Column(String(16), nullable=False))
    made_by: str = Field(sa_column=Column(String(64), nullable=False))
    made_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class NoticeDelivery(SQLModel, table=True):
    """A notice sent, or a failed attempt, for one item (append-only)."""

    __tablename__ = "notice_delivery"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    item_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    announced_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    channel_kind: str = Field(sa_column=Column(String(16), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
