"""Tables of the multidisciplinary case review (SART case review / MARAC): the review, its participants (staff of
several agencies), its decisions (text sealed under the case key, bound to the row, never in the ledger:
policies.review.texts) and its action items (owner agency, due date, status; text sealed the same way). History is
the ledger (REVIEW_* entries: ids, agency ids, enums, dates); the action item's status is "current state" (open →
done once, guarded by the service)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


class ActionStatus(StrEnum):
    """An action item is open until its owner agency (or the coordinator) marks it done."""

    OPEN = "open"
    DONE = "done"


class CancelReason(StrEnum):
    """Why a review was cancelled: a closed list (the ledger holds enums, never free text)."""

    NO_LONGER_NEEDED = "no-longer-needed"
    CASE_CLOSED = "case-closed"
    SURVIVOR_WITHDREW = "survivor-withdrew"
    NO_QUORUM = "no-quorum"  # the agencies needed could not attend
    DUPLICATE = "duplicate"  # scheduled twice
    OTHER = "other"


class Review(SQLModel, table=True):
    """One review of one case, scheduled by a coordinator. Since revision 0027 only `scheduled_for` (rescheduled)
    and the cancellation columns may change (policies.review.changes); history is the ledger."""

    __tablename__ = "case_review"

    id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    scheduled_for: datetime = Field(sa_type=DateTime(timezone=True))
    scheduled_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    ledger_seq: int
    cancelled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    cancelled_by: str | None = Field(default=None, max_length=64)
    cancel_reason: str | None = Field(default=None, sa_type=String(24))  # a CancelReason


class ReviewParticipant(SQLModel, table=True):
    """A staff member taking part in a review for their agency (the agency as it was when invited). A removed
    participant's row stays, marked `removed_at` (revision 0027): they no longer take part (nor see the review);
    re-inviting them clears the mark."""

    __tablename__ = "case_review_participant"
    __table_args__ = (UniqueConstraint("review_id", "user_id", name="uq_case_review_participant"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    review_id: str = Field(sa_column=Column(String(32), ForeignKey("case_review.id"), index=True, nullable=False))
    user_id: str = Field(sa_column=Column(String(32), ForeignKey("staff_user.id"), index=True, nullable=False))
    agency_id: str = Field(sa_column=Column(String(32), ForeignKey("agency.id"), nullable=False))
    seat: str = Field(sa_type=String(16))  # the agency kind whose view the participant gets (policies.review.rules)
    removed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    removed_by: str | None = Field(default=None, max_length=64)


class ReviewDecision(SQLModel, table=True):
    """A decision taken at the review; append-only (triggers refuse UPDATE/DELETE; since revision 0025 only
    `text_ciphertext` may be rewritten: `coc admin reencrypt` re-seals a legacy value under the case key)."""

    __tablename__ = "case_review_decision"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    review_id: str = Field(sa_column=Column(String(32), ForeignKey("case_review.id"), index=True, nullable=False))
    text_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    ledger_seq: int


class ReviewAction(SQLModel, table=True):
    """An action item: an owner agency (required), a due date, open or done."""

    __tablename__ = "case_review_action"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    review_id: str = Field(sa_column=Column(String(32), ForeignKey("case_review.id"), index=True, nullable=False))
    decision_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("case_review_decision.id"), nullable=True))
    owner_agency_id: str = Field(sa_column=Column(String(32), ForeignKey("agency.id"), index=True, nullable=False))
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    status: str = Field(default=ActionStatus.OPEN.value, sa_type=String(8))
    text_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    done_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    done_by: str | None = Field(default=None, max_length=64)
    ledger_seq: int
