"""Custody tables and their enums: the append-only `custody_event` rows and the `custody_transfer` offers.

Imports only core, so the item and file modules (lower than the custody services) can write their own custody
events (collection, file stored, integrity incidents) without importing the services.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.ledger import EventKind, LedgerEntry


class CustodyEventKind(StrEnum):
    """What happened to an item (one row per event in `custody_event`)."""

    COLLECTED = "collected"
    SEALED = "sealed"
    TRANSFER_OFFERED = "transfer-offered"
    TRANSFER_ACCEPTED = "transfer-accepted"
    CHECKED_IN = "checked-in"
    CHECKED_OUT = "checked-out"
    ANALYSED = "analysed"
    RETURNED = "returned"
    RELEASED = "released"
    SUBMITTED_TO_LAB = "submitted-to-lab"
    DESTROYED = "destroyed"
    INTEGRITY_INCIDENT = "integrity-incident"
    INTEGRITY_RESOLVED = "integrity-resolved"
    FILE_STORED = "file-stored"
    TRANSFER_DECLINED = "transfer-declined"
    TRANSFER_CANCELLED = "transfer-cancelled"


class TransferPurpose(StrEnum):
    """Why an item changes hands; release and lab leave the centre and need consent."""

    CUSTODY = "custody"  # between staff inside the centre
    RELEASE = "release"  # to law enforcement
    LAB = "lab"  # submission for testing
    RETURN = "return"  # back from the lab or law enforcement


class TransferStatus(StrEnum):
    """State of a transfer offer."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"  # by the receiver
    CANCELLED = "cancelled"  # by the offering custodian


# The ledger entry kind of each custody event (an acceptance is recorded by what it completed).
LEDGER_KIND = {
    CustodyEventKind.SEALED: EventKind.ITEM_SEALED,
    CustodyEventKind.TRANSFER_OFFERED: EventKind.TRANSFER_OFFERED,
    CustodyEventKind.TRANSFER_ACCEPTED: EventKind.TRANSFER_ACCEPTED,
    CustodyEventKind.CHECKED_IN: EventKind.CHECKED_IN,
    CustodyEventKind.CHECKED_OUT: EventKind.CHECKED_OUT,
    CustodyEventKind.ANALYSED: EventKind.ANALYSED,
    CustodyEventKind.RETURNED: EventKind.RETURNED,
    CustodyEventKind.RELEASED: EventKind.RELEASED,
    CustodyEventKind.SUBMITTED_TO_LAB: EventKind.TRANSFER_ACCEPTED,
    CustodyEventKind.DESTROYED: EventKind.DESTROYED,
    CustodyEventKind.INTEGRITY_INCIDENT: EventKind.INTEGRITY_INCIDENT,
    CustodyEventKind.INTEGRITY_RESOLVED: EventKind.INTEGRITY_RESOLVED,
    CustodyEventKind.TRANSFER_DECLINED: EventKind.TRANSFER_DECLINED,
    CustodyEventKind.TRANSFER_CANCELLED: EventKind.TRANSFER_CANCELLED,
}


class CustodyEvent(SQLModel, table=True):
    """One custody event, never updated (append-only in the database); the ledger entry is its proof."""

    __tablename__ = "custody_event"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    kind: CustodyEventKind = Field(sa_type=String(24))
    at: datetime = Field(sa_type=DateTime(timezone=True))
    actor_id: str = Field(max_length=64)
    from_user: str | None = Field(default=None, max_length=64)
    to_user: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=200)
    condition: str | None = Field(default=None, max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None
    transfer_id: str | None = Field(default=None, max_length=32)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)


class Transfer(SQLModel, table=True):
    """A person-to-person handoff: complete only once the receiver accepts."""

    __tablename__ = "custody_transfer"

    id: str = Field(primary_key=True, max_length=32)
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    purpose: TransferPurpose = Field(sa_type=String(16))
    from_user: str = Field(max_length=64)
    to_user: str = Field(max_length=64)
    reason: str = Field(max_length=200)
    condition: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None
    status: TransferStatus = Field(sa_type=String(16))
    offered_at: datetime = Field(sa_type=DateTime(timezone=True))
    accepted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    accept_condition: str | None = Field(default=None, max_length=200)
    accept_seal_intact: bool | None = None


def add_event(session: Session, *, item_id: str, kind: CustodyEventKind, actor: Actor, at: datetime,
              entry: LedgerEntry, **fields: Any) -> CustodyEvent:
    """Append one custody_event row pointing at its ledger entry."""
    ev = CustodyEvent(item_id=item_id, kind=kind, at=at, actor_id=actor.id, ledger_seq=entry.seq,
                      ledger_hash=entry.entry_hash, **fields)
    session.add(ev)
    session.flush()
    return ev
