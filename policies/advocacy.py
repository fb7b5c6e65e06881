"""Advocate records: services offered and accepted, referrals, safety planning (encrypted), follow-ups.

Client-level data stays here: the ledger gets the record's kind, service and status only. Safety-planning
notes are sealed under the case key, bound to their row (core.crypto), and are returned only when the caller
asks for them (the API route for that read needs SAFETY_PLAN_READ, which is a sensitive, access-logged permission).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PField
from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, String, select
from sqlmodel import Field, Session, SQLModel

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, require_offset, utcnow
from core.errors import ValidationFailed
from core.ledger import EventKind


class RecordKind(StrEnum):
    """What an advocacy record is."""

    SERVICE = "service"
    REFERRAL = "referral"
    SAFETY_PLAN = "safety-plan"
    FOLLOW_UP = "follow-up"


class Service(StrEnum):
    """Services an advocate offers."""

    COUNSELLING = "counselling"
    SHELTER = "shelter"
    LEGAL_AID = "legal-aid"
    MEDICAL_FOLLOW_UP = "medical-follow-up"
    ACCOMPANIMENT = "accompaniment"  # accompaniment to court (and to police interviews)
    OTHER = "other"
    CRISIS_LINE = "crisis-line"


class RecordStatus(StrEnum):
    """Where the record stands."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"


class AdvocacyCreate(BaseModel):
    """Request body for an advocacy record."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("due_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    kind: RecordKind
    service: Service | None = None
    status: RecordStatus
    referral_to: str | None = PField(default=None, max_length=120)  # an organisation, never a person
    due_at: datetime | None = None  # for follow-ups
    notes: str | None = PField(default=None, max_length=20_000)  # safety-planning notes: encrypted at rest

    @model_validator(mode="after")
    def _rules(self) -> AdvocacyCreate:
        if self.kind in (RecordKind.SERVICE, RecordKind.REFERRAL) and self.service is None:
            raise ValueError(f"a {self.kind} record names the service")
        if self.kind is RecordKind.REFERRAL and not self.referral_to:
            raise ValueError("a referral names the organisation referred to (referral_to)")
        if self.kind is RecordKind.FOLLOW_UP and self.due_at is None:
            raise ValueError("a follow-up needs due_at")
        if self.notes is not None and self.kind is not RecordKind.SAFETY_PLAN:
            raise ValueError("notes belong to safety-plan records only (they are the encrypted part)")
        return self

    def __repr__(self) -> str:
        return f"AdvocacyCreate(kind={self.kind}, <notes redacted>)"


class AdvocacyRecord(SQLModel, table=True):
    """One advocacy record, never updated; a later record supersedes (e.g. a follow-up completed)."""

    __tablename__ = "advocacy_record"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    kind: str = Field(sa_type=String(16))
    service: str | None = Field(default=None, sa_type=String(32))
    status: str = Field(sa_type=String(16))
    referral_to: str | None = Field(default=None, max_length=120)
    due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    notes_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int


class AdvocacyPublic(BaseModel):
    """An advocacy record as shown through the API; notes only when asked for and allowed."""

    id: int
    case_id: str
    kind: RecordKind
    service: Service | None
    status: RecordStatus
    referral_to: str | None
    due_at: datetime | None
    has_notes: bool
    notes: str | None = None
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int


def _seal_notes(session: Session, case_id: str, row_id: int, notes: str | None, key: crypto.KeyringLike,
                now: datetime) -> bytes | None:
    if notes is None:
        return None
    return crypto.seal_text(session, case_id=case_id, table="advocacy_record", column="notes_ciphertext",
                            row_id=row_id, plaintext=notes, keyring=key, now=now)


def _open_notes(session: Session, row: AdvocacyRecord, key: crypto.KeyringLike) -> str | None:
    if row.notes_ciphertext is None:
        return None
    return crypto.open_text(session, case_id=row.case_id, table="advocacy_record", column="notes_ciphertext",
                            row_id=row.id, token=row.notes_ciphertext, keyring=key)


def record_advocacy(session: Session, *, actor: Actor, case_id: str, data: AdvocacyCreate,
                    now: datetime | None = None, key: crypto.KeyringLike = None) -> AdvocacyRecord:
    """Add an advocacy record; the ledger gets kind/service/status (REFERRAL_MADE for referrals)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    if data.due_at is not None and data.kind is not RecordKind.FOLLOW_UP:
        raise ValidationFailed("due_at is for follow-up records")
    kind = EventKind.REFERRAL_MADE if data.kind is RecordKind.REFERRAL else EventKind.ADVOCACY_RECORDED
    entry = ledger.append(session, kind=kind, actor=actor, case_id=case.id, at=now,
                          data={"record": data.kind, "service": data.service, "status": data.status,
                                "due_at": data.due_at, "has_notes": data.notes is not None})
    row_id = crypto.next_row_id(session, AdvocacyRecord.__table__)  # the notes' ciphertext names its row
    row = AdvocacyRecord(
        id=row_id, case_id=case.id, kind=data.kind, service=data.service, status=data.status,
        referral_to=crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.REFERRAL,
                                     text=data.referral_to, keyring=key, now=now),
        due_at=as_utc(data.due_at) if data.due_at else None,
        notes_ciphertext=_seal_notes(session, case.id, row_id, data.notes, key, now),
        recorded_at=now, recorded_by=actor.id, ledger_seq=entry.seq,
    )
    session.add(row)
    session.flush()
    return row


def list_advocacy(session: Session, case_id: str, *, include_notes: bool = False,
                  key: crypto.KeyringLike = None) -> list[AdvocacyPublic]:
    """The case's advocacy records, oldest first; decrypts notes only when include_notes is True."""
    case = get_case(session, case_id)
    if include_notes and (erased := crypto.erased_at(session, case.id)) is not None:
        raise crypto.erased_error(erased)
    rows = session.execute(
        select(AdvocacyRecord).where(AdvocacyRecord.case_id == case.id).order_by(AdvocacyRecord.id)
    ).scalars()
    return [
        AdvocacyPublic(
            id=r.id, case_id=r.case_id, kind=RecordKind(r.kind), service=Service(r.service) if r.service else None,
            status=RecordStatus(r.status),
            referral_to=crypto.show_text(session, r.case_id, r.referral_to, keyring=key), due_at=r.due_at,
            has_notes=r.notes_ciphertext is not None,
            notes=_open_notes(session, r, key) if include_notes else None,
            recorded_at=r.recorded_at, recorded_by=r.recorded_by, ledger_seq=r.ledger_seq,
        )
        for r in rows
    ]


def due_follow_ups(session: Session, case_id: str, now: datetime | None = None) -> list[AdvocacyRecord]:
    """Follow-ups of the case that are due by `now` and were scheduled (not yet completed)."""
    now = now or utcnow()
    rows = session.execute(
        select(AdvocacyRecord).where(AdvocacyRecord.case_id == case_id, AdvocacyRecord.kind == RecordKind.FOLLOW_UP)
    ).scalars()
    return [r for r in rows if r.status == RecordStatus.SCHEDULED and r.due_at and as_utc(r.due_at) <= now]
