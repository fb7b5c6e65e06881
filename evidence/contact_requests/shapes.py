"""Request and response bodies of the contact requests (GET /status-requests, POST .../handled)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from evidence.contact_requests.rules import ContactOutcome


class ContactRequestPublic(BaseModel):
    """One "please contact me" request as staff see it (handled ones: the outcome, by whom and when)."""

    seq: int
    case_id: str
    item_id: str
    requested_at: datetime
    outcome: ContactOutcome | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None  # staff id
    handled_by_username: str | None = None


class ContactHandled(BaseModel):
    """Closing a request: one closed outcome, no free text."""

    model_config = ConfigDict(extra="forbid")

    outcome: ContactOutcome
