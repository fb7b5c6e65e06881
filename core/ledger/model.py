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
    REFERRAL_OUTCOME = "advocacy:referral:outcome"  # the outside service's outcome (closed enum)
    CONTACT_MADE = "advocacy:contact:made"  # kind, when, by whom, outcome: no free text
    FOLLOW_UP_SCHEDULED = "advocacy:follow-up:scheduled"
    FOLLOW_UP_DUE = "advocacy:follow-up:due"  # a task raised for the case's advocate
    FOLLOW_UP_OUTCOME = "advocacy:follow-up:outcome"  # done / missed / declined
    FOLLOW_UPS_ENDED = "advocacy:follow-up:ended"  # a declined or withdrawn consent ended the open ones
    BREAK_GLASS = "access:case:break-glass"
    USER_CHANGED = "admin:user:changed"
    ACCESS_REFUSED = "access:attempt:refused"  # a refused custody action on the item (api/refusals.py)
    INTEGRITY_RESOLVED = "integrity:item:resolved"
    AGENCY_CREATED = "admin:agency:created"
    BOUNDARY_REFUSED = "custody:boundary:refused"  # a move into another agency's hands refused (not consent)
    CASE_ERASURE_PROPOSED = "case:erasure:proposed"  # lawful erasure proposed (legal basis enum, request id)
    CASE_ERASED = "case:erasure:approved"  # a second person approved: the case key was destroyed (crypto-shred)
    CENTRE_KEY_ROTATED = "admin:key:rotated"  # every case key rewrapped under the current centre key (counts)
    DATA_REENCRYPTED = "admin:key:reencrypted"  # legacy-format values rewritten row-bound under case keys (counts)
    REVIEW_SCHEDULED = "review:meeting:scheduled"  # multidisciplinary case review (policies.review)
    REVIEW_VIEWED = "review:meeting:viewed"  # a participant's view: agency, sections shown, checkpoint outcome
    REVIEW_DECIDED = "review:decision:recorded"  # ids only: the decision's text is encrypted in its table
    REVIEW_ACTION_ADDED = "review:action:added"
    REVIEW_ACTION_DONE = "review:action:done"
    REVIEW_RESCHEDULED = "review:meeting:rescheduled"  # review id, old and new time
    REVIEW_CANCELLED = "review:meeting:cancelled"  # review id, reason (a closed enum: policies.review.CancelReason)
    REVIEW_PARTICIPANT_ADDED = "review:participant:added"  # review id, user, agency, seat
    REVIEW_PARTICIPANT_REMOVED = "review:participant:removed"  # review id, user, agency
    STATUS_CARD_ISSUED = "survivor:card:issued"  # a status card (re)issued: earlier codes of the item revoked
    STATUS_LOOKUP_LOCKED = "survivor:card:locked"  # too many wrong tries on a card's code
    STATUS_CONTACT_REQUESTED = "survivor:contact:requested"  # "please contact me about my kit" (status page)
    STATUS_CONTACT_HANDLED = "survivor:contact:handled"  # staff closed one: its seq, closed outcome, staff id
    PRESERVATION_EXTENDED = "custody:item:preservation-extended"  # retention (and file locks) extended
    FILE_LOCKS_EXTENDED = "custody:file:lock-extended"  # file locks caught up with their item's date (sync)
    FILES_PURGED = "custody:file:purged"  # a destroyed item's object versions deleted once their lock ended
    NOTICE_REQUESTED = "notice:request:recorded"  # the survivor asked for notice before destruction (kind only)
    NOTICE_SENT = "notice:notice:sent"  # a destruction notice sent (channel kind, never the address)
    NOTICE_FAILED = "notice:notice:failed"  # a destruction notice that could not be delivered (closed reason)
    DESTRUCTION_PROPOSED = "custody:destruction:proposed"  # first of the two people; the approver destroys
    CASE_ERASURE_WITHDRAWN = "case:erasure:withdrawn"  # an open erasure proposal withdrawn (request id, who)


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
