"""The ledger's tables and its closed set of event kinds (see core.ledger for the canonical form)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

GENESIS = "0" * 64
FORMAT_VERSION = 1


class EventKind(StrEnum):
    """Every kind of ledger entry (closed set, named scope:resource:action)."""

    CASE_OPENED = "case:case:opened"
    CASE_UPDATED = "case:case:updated"
    CASE_IDENTITY_STORED = "case:identity:stored"
    CASE_ASSIGNED = "case:assignment:granted"
    CASE_UNASSIGNED = "case:assignment:revoked"
    EXAM_RECORDED = "exam:exam:recorded"
    CARE_RECORDED = "exam:care:recorded"
    ITEM_COLLECTED = "custody:item:collected"
    ITEM_SEALED = "custody:item:sealed"
    FILE_STORED = "custody:file:stored"
    LEGAL_HOLD_SET = "custody:file:legal-hold"
    TRANSFER_OFFERED = "custody:transfer:offered"
    TRANSFER_ACCEPTED = "custody:transfer:accepted"
    TRANSFER_DECLINED = "custody:transfer:declined"
    TRANSFER_CANCELLED = "custody:transfer:cancelled"
    CHECKED_IN = "custody:item:checked-in"
    CHECKED_OUT = "custody:item:checked-out"
    ANALYSED = "custody:item:analysed"
    RETURNED = "custody:item:returned"
    RELEASED = "custody:item:released"
    DESTROYED = "custody:item:destroyed"
    DESTRUCTION_NOTICE = "custody:item:destruction-noticed"
    ITEM_RESTRICTED = "custody:item:restricted"
    INTEGRITY_INCIDENT = "integrity:item:incident"
    FIXITY_CHECKED = "integrity:store:fixity-checked"
    CONSENT_RECORDED = "consent:decision:recorded"
    CONSENT_OVERRIDE = "consent:override:recorded"
    CHECKPOINT_ALLOWED = "checkpoint:handoff:allowed"
    CHECKPOINT_DENIED = "checkpoint:handoff:denied"
    ALERT_RAISED = "deadline:alert:raised"
    PATHWAY_STEP = "pathway:step:completed"
    ADVOCACY_RECORDED = "advocacy:service:recorded"
    REFERRAL_MADE = "advocacy:referral:made"
    BREAK_GLASS = "access:case:break-glass"
    USER_CHANGED = "admin:user:changed"
    ACCESS_REFUSED = "access:attempt:refused"  # a refused custody action on the item (api/refusals.py)
    INTEGRITY_RESOLVED = "integrity:item:resolved"
    AGENCY_CREATED = "admin:agency:created"
    BOUNDARY_REFUSED = "custody:boundary:refused"  # a move into another agency's hands refused (not consent)
    NOTICE_REQUESTED = "notice:request:recorded"  # the survivor asked for notice before destruction (kind only)
    NOTICE_SENT = "notice:notice:sent"  # a destruction notice sent (channel kind, never the address)
    NOTICE_FAILED = "notice:notice:failed"  # a destruction notice that could not be delivered (closed reason)
    DESTRUCTION_PROPOSED = "custody:destruction:proposed"  # first of the two people; the approver destroys


class LedgerEntry(SQLModel, table=True):
    """One immutable ledger row; UPDATE and DELETE are refused by database triggers."""

    __tablename__ = "ledger_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    item_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class LedgerNode(SQLModel, table=True):
    """Hash of one complete Merkle subtree (level 0 = leaf); written with its entry, never changed."""

    __tablename__ = "ledger_node"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
