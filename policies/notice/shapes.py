"""Request and response bodies of destruction notices. No response carries the contact value except
NoticeContact (a sensitive read for the staff who send the notice)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from policies.notice.models import ChannelKind, FailureReason


class NoticeRequestCreate(BaseModel):
    """A notice request: a channel (kind + value) or no_contact=true. The value is never echoed back."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind | None = None
    value: str | None = Field(default=None, max_length=320)
    no_contact: bool = False


class NoticeRequestPublic(BaseModel):
    """A recorded request, without its contact value."""

    case_id: str
    channel_kind: ChannelKind
    source: str
    made_by: str
    made_at: datetime


class NoticeContact(BaseModel):
    """The contact of the case's request in force (sensitive: access-logged)."""

    case_id: str
    channel_kind: ChannelKind
    value: str | None


class NoticeDeliveryCreate(BaseModel):
    """Record a notice sent (for one item, or every item of the case whose notice is due now)."""

    model_config = ConfigDict(extra="forbid")

    item_id: str | None = Field(default=None, max_length=32)


class NoticeFailureCreate(NoticeDeliveryCreate):
    """Record a failed delivery, with a reason from a closed set."""

    reason: FailureReason


class NoticeDeliveryPublic(BaseModel):
    """One delivery record: channel kind, by whom, when, the destruction date it announced; never the address."""

    case_id: str
    item_id: str
    outcome: str
    reason: str | None
    channel_kind: str
    recorded_by: str
    at: datetime
    announced_until: datetime


class NoticeTask(BaseModel):
    """An item whose survivor asked for notice: when the notice is due, and whether it was sent."""

    case_id: str
    item_id: str
    destruction_from: datetime  # the item's retention date as it is now
    due_at: datetime  # destruction_from - notice_days
    notice_days: int
    state: str  # upcoming | due | sent
    channel_kind: ChannelKind
    last_failure: str | None = None
