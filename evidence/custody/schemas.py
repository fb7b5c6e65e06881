"""Request and response shapes of the custody operations (the API's bodies; the services validate them again)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, field_validator
from sqlmodel import Field, SQLModel

from core.ids import ReferenceCodeStr
from evidence.custody.models import CustodyEventKind, TransferPurpose, TransferStatus

# --- responses ----------------------------------------------------------------------------------------


class CustodyEventPublic(SQLModel):
    """A custody event as shown through the API."""

    id: int
    item_id: str
    kind: CustodyEventKind
    at: datetime
    actor_id: str
    from_user: str | None = None
    to_user: str | None = None
    location: str | None = None
    reason: str | None = None
    condition: str | None = None
    seal_number: str | None = None
    seal_intact: bool | None = None
    transfer_id: str | None = None
    ledger_seq: int
    ledger_hash: str


class TransferPublic(SQLModel):
    """A transfer as shown through the API."""

    id: str
    item_id: str
    purpose: TransferPurpose
    from_user: str
    to_user: str
    reason: str
    condition: str
    seal_number: str | None = None
    seal_intact: bool | None = None
    status: TransferStatus
    offered_at: datetime
    accepted_at: datetime | None = None


# --- request bodies ---------------------------------------------------------------------------------
# Reference codes (seal_number, report_ref, authority_ref) are core.ids.ReferenceCodeStr: enforced. They were
# declared with sqlmodel's Field(regex=...), which sqlmodel 0.0.50 ignores, so free text (a name) went into the
# ledger; now it is a 422.

class _Text(SQLModel):
    @field_validator("reason", "condition", check_fields=False)
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else v


class SealCreate(SQLModel):
    """Request body for sealing an item."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    seal_number: ReferenceCodeStr = Field(min_length=1, max_length=64)


class TransferCreate(_Text):
    """Request body for offering an item to another staff member."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    to_user: str = Field(min_length=1, max_length=64)
    reason: str = Field(max_length=200)
    condition: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None
    purpose: TransferPurpose = TransferPurpose.CUSTODY


class TransferAccept(_Text):
    """Request body for accepting a transfer: what the receiver sees on the package."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    condition: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None
    # What the receiver expects to accept (e.g. `coc lab receive`: a lab submission); another purpose is a 422.
    expect_purpose: TransferPurpose | None = None


class TransferClose(_Text):
    """Request body for declining (receiver) or cancelling (offering custodian) an open transfer."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(max_length=200)


class CheckInCreate(_Text):
    """Request body for checking an item in at a location."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    location: str = Field(max_length=64)
    condition: str | None = Field(default=None, max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None


class CheckOutCreate(_Text):
    """Request body for checking an item out of its location."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None


class AnalysisCreate(_Text):
    """Request body for recording that the lab analysed an item (results live in the lab's system)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(default="analysis", max_length=200)
    report_ref: ReferenceCodeStr | None = Field(default=None, max_length=64)


class DestroyCreate(_Text):
    """Request body for destroying an item."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(max_length=200)
    authority_ref: ReferenceCodeStr = Field(min_length=1, max_length=64)
