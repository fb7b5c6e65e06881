"""Request and response bodies of the case review (no tables here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from pydantic import Field as PField

from core.clock import require_offset
from core.ids import PrintableLine
from policies.review.models import CancelReason
from policies.review.rules import MAX_PARTICIPANTS

_STRICT = ConfigDict(extra="forbid")
MAX_ROW_ID = 2**31 - 1  # integer ids of decisions and action items (PostgreSQL INTEGER)
StaffRef = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ReviewCreate(BaseModel):
    """Schedule a review: when, and who takes part (usernames or user ids)."""

    model_config = _STRICT
    scheduled_for: datetime
    participants: list[StaffRef] = PField(min_length=1, max_length=MAX_PARTICIPANTS)

    @field_validator("scheduled_for")
    @classmethod
    def _with_offset(cls, v: datetime) -> datetime | None:
        return require_offset(v)  # a time without a UTC offset is ambiguous (whose clock?): 422


class ReviewReschedule(BaseModel):
    """Move a scheduled review to a new time."""

    model_config = _STRICT
    scheduled_for: datetime

    @field_validator("scheduled_for")
    @classmethod
    def _with_offset(cls, v: datetime) -> datetime | None:
        return require_offset(v)  # a time without a UTC offset is ambiguous (whose clock?): 422


class ParticipantAdd(BaseModel):
    """Invite one more participant (username or user id), checked as at scheduling."""

    model_config = _STRICT
    participant: StaffRef


class ReviewCancel(BaseModel):
    """Cancel a scheduled review: why, from a closed list (no free text: it goes on the ledger)."""

    model_config = _STRICT
    reason: CancelReason


class DecisionCreate(BaseModel):
    """A decision of the review; its text (optional) is encrypted at rest and never ledgered."""

    model_config = _STRICT
    text: str | None = PField(default=None, min_length=1, max_length=4000)

    def __repr__(self) -> str:  # the text never reaches logs or tracebacks
        return "DecisionCreate(<redacted>)"


class ActionCreate(BaseModel):
    """An action item: the owner agency (name or id) is required, and a due date."""

    model_config = _STRICT
    owner_agency: PrintableLine = PField(min_length=1, max_length=120)
    due_at: datetime
    decision_id: int | None = PField(default=None, ge=1, le=MAX_ROW_ID)
    text: str | None = PField(default=None, min_length=1, max_length=2000)

    @field_validator("due_at")
    @classmethod
    def _with_offset(cls, v: datetime) -> datetime | None:
        return require_offset(v)  # a time without a UTC offset is ambiguous (whose clock?): 422

    def __repr__(self) -> str:
        return f"ActionCreate(owner_agency={self.owner_agency!r}, due_at={self.due_at!r}, <text redacted>)"


class AgencyRef(BaseModel):
    """An agency named in a review."""

    id: str
    name: str
    kind: str


class ParticipantPublic(BaseModel):
    """A participant: staff username (staff are not survivors), agency and seat."""

    user_id: str
    username: str
    agency: AgencyRef
    seat: str


class DecisionPublic(BaseModel):
    """A decision as shown to a seat that may see the decisions."""

    id: int
    text: str | None
    recorded_by: str
    recorded_at: datetime
    ledger_seq: int


class ActionPublic(BaseModel):
    """An action item; `text` only to seats that see the decisions."""

    id: int
    decision_id: int | None
    owner_agency: AgencyRef
    due_at: datetime
    status: str
    overdue: bool
    text: str | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    ledger_seq: int


class ReviewPublic(BaseModel):
    """What scheduling returns (and the coordinator's record of a review)."""

    id: str
    case_id: str
    scheduled_for: datetime
    scheduled_by: str
    created_at: datetime
    participants: list[ParticipantPublic]
    ledger_seq: int
    state: str = "scheduled"  # scheduled, held (a decision is recorded) or cancelled (policies.review.rules)
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None  # a CancelReason


class HandoffSummary(BaseModel):
    """One handoff of an item (custody summary)."""

    purpose: str
    to_user: str
    offered_at: datetime
    accepted_at: datetime | None
    outcome: str


class ItemSummary(BaseModel):
    """An item and its custody summary, from the ledger: kind, who holds it, its handoffs."""

    item_id: str
    kind: str | None
    custodian: str | None
    handoffs: list[HandoffSummary]


class ExamSummary(BaseModel):
    """The exam as the centre's clinicians see it in a review."""

    id: int
    started_at: datetime
    ended_at: datetime | None
    narrative: str
    recorded_by: str


class AdvocacySummary(BaseModel):
    """An advocacy record (never safety-plan notes)."""

    id: int
    kind: str
    service: str | None
    status: str
    due_at: datetime | None
    recorded_at: datetime


class ReviewView(BaseModel):
    """A participant's view of a review: only the sections the survivor's consents allow for their agency.
    Sections not shown are absent (null), not empty: `sections` lists what was shown."""

    review: ReviewPublic
    viewer_agency: AgencyRef | None  # None: the coordinator who chairs (not a participant)
    seat: str | None
    sections: list[str]
    exam: list[ExamSummary] | None = None
    items: list[ItemSummary] | None = None
    advocacy: list[AdvocacySummary] | None = None
    decisions: list[DecisionPublic] | None = None
    actions: list[ActionPublic]
