"""Exam records (narrative encrypted at rest) and time-critical care (PEP, emergency contraception).

Recording an exam needs forensic-exam consent; recording care as given needs medical-care consent (both
through the checkpoint, so a refusal is on the ledger). An examiner reads the exam directly; anyone else
(an advocate) reads it only through the checkpoint's ADVOCATE_SHARE handoff.
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
from core.errors import NotFound, ValidationFailed
from core.ledger import EventKind
from policies import checkpoint
from policies.handoffs import Handoff
from policies.jurisdictions import get_pack
from policies.permissions import Role
from policies.windows import CARE_WINDOW, check_window, clean_justification


def _not_future(value: datetime | None, now: datetime, what: str) -> None:
    if value is not None and as_utc(value) > now:
        raise ValidationFailed(f"{what} is in the future: record what happened, when it happened")


# --- exam ----------------------------------------------------------------------------------------------

class ExamCreate(BaseModel):
    """Request body for recording an examination."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("started_at", "ended_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    started_at: datetime
    ended_at: datetime | None = None
    narrative: str = PField(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _order(self) -> ExamCreate:
        if self.ended_at is not None and as_utc(self.ended_at) < as_utc(self.started_at):
            raise ValueError("ended_at is before started_at")
        return self

    def __repr__(self) -> str:  # the narrative never reaches logs or tracebacks
        return "ExamCreate(<redacted>)"


class ExamRecord(SQLModel, table=True):
    """One examination; the narrative is sealed under the case key, bound to this row (core.crypto)."""

    __tablename__ = "exam_record"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    narrative_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int


class ExamPublic(BaseModel):
    """An exam as shown to an authorised reader (narrative decrypted)."""

    id: int
    case_id: str
    started_at: datetime
    ended_at: datetime | None
    narrative: str
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int


def _seal_narrative(session: Session, case_id: str, row_id: int, narrative: str, key: crypto.KeyringLike,
                    now: datetime) -> bytes:
    return crypto.seal_text(session, case_id=case_id, table="exam_record", column="narrative_ciphertext",
                            row_id=row_id, plaintext=narrative, keyring=key, now=now)


def _open_narrative(session: Session, row: ExamRecord, key: crypto.KeyringLike) -> str:
    return crypto.open_text(session, case_id=row.case_id, table="exam_record", column="narrative_ciphertext",
                            row_id=row.id, token=row.narrative_ciphertext, keyring=key)


def record_exam(session: Session, *, actor: Actor, case_id: str, data: ExamCreate,
                now: datetime | None = None, key: crypto.KeyringLike = None) -> ExamRecord:
    """Record an examination (forensic-exam consent checked first); EXAM_RECORDED carries times only."""
    now = now or utcnow()
    case = get_case(session, case_id)
    _not_future(data.started_at, now, "started_at")
    _not_future(data.ended_at, now, "ended_at")
    checkpoint.enforce(session, case_id=case.id, handoff=Handoff.FORENSIC_EXAM, actor=actor, now=now)
    entry = ledger.append(session, kind=EventKind.EXAM_RECORDED, actor=actor, case_id=case.id, at=now,
                          data={"started_at": data.started_at, "ended_at": data.ended_at})
    row_id = crypto.next_row_id(session, ExamRecord.__table__)  # the ciphertext names its row
    row = ExamRecord(id=row_id, case_id=case.id, started_at=as_utc(data.started_at),
                     ended_at=as_utc(data.ended_at) if data.ended_at else None,
                     narrative_ciphertext=_seal_narrative(session, case.id, row_id, data.narrative, key, now),
                     recorded_at=now,
                     recorded_by=actor.id, ledger_seq=entry.seq)
    session.add(row)
    session.flush()
    return row


def read_exams(session: Session, *, actor: Actor, case_id: str, now: datetime | None = None,
               key: crypto.KeyringLike = None) -> list[ExamPublic]:
    """Decrypt the case's exams; non-examiners pass the ADVOCATE_SHARE checkpoint first (or are refused)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    if (erased := crypto.erased_at(session, case.id)) is not None:
        raise crypto.erased_error(erased)
    if actor.role != Role.EXAMINER:
        # enforce commits and raises on a denial; on an allow the read is on the ledger with the consent cited
        checkpoint.enforce(session, case_id=case.id, handoff=Handoff.ADVOCATE_SHARE, actor=actor, now=now)
    rows = session.execute(select(ExamRecord).where(ExamRecord.case_id == case.id).order_by(ExamRecord.id))
    return [
        ExamPublic(id=r.id, case_id=r.case_id, started_at=r.started_at, ended_at=r.ended_at,
                   narrative=_open_narrative(session, r, key), recorded_at=r.recorded_at,
                   recorded_by=r.recorded_by, ledger_seq=r.ledger_seq)
        for r in rows.scalars()
    ]


# --- time-critical care ----------------------------------------------------------------------------

class CareKind(StrEnum):
    """Time-critical care whose offer and outcome are recorded with times."""

    HIV_PEP = "hiv-pep"
    EMERGENCY_CONTRACEPTION = "emergency-contraception"
    HEPATITIS_B = "hepatitis-b"
    STI_PROPHYLAXIS = "sti-prophylaxis"


class CareStatus(StrEnum):
    """What happened."""

    OFFERED = "offered"
    GIVEN = "given"
    DECLINED = "declined"


class CareBase(SQLModel):
    """Fields of a care event."""

    care: CareKind = Field(sa_type=String(32))
    status: CareStatus = Field(sa_type=String(16))
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True))


class CareCreate(CareBase):
    """Request body for recording a care event."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    # staff's clinical reason for giving a treatment past the pack's window (required then; policies.windows)
    late_justification: str | None = Field(default=None, max_length=500)

    @field_validator("occurred_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    @field_validator("late_justification")
    @classmethod
    def _justification(cls, v: str | None) -> str | None:
        return clean_justification(v)


class CareRecord(CareBase, table=True):
    """One care event (offered, given or declined), never updated."""

    __tablename__ = "care_record"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int
    late_justification: str | None = Field(default=None, max_length=500)  # given past its window: why


class CarePublic(CareBase):
    """A care event as shown through the API."""

    id: int
    case_id: str
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int
    late_justification: str | None = None


def record_care(session: Session, *, actor: Actor, case_id: str, data: CareCreate,
                now: datetime | None = None) -> CareRecord:
    """Record a care event; giving care needs medical-care consent (checked first).

    A treatment given past the pack's window (policies.windows) needs `late_justification`; the clock then
    shows it as late, not met.
    """
    now = now or utcnow()
    data = CareCreate.model_validate(data.model_dump())
    case = get_case(session, case_id)
    _not_future(data.occurred_at, now, "occurred_at")
    late = None
    if data.status is CareStatus.GIVEN:
        late = check_window(get_pack(case.jurisdiction), CARE_WINDOW.get(str(data.care)),
                            assault_at=case.assault_at, at=data.occurred_at, what=str(data.care), verb="given",
                            justification=data.late_justification)
        checkpoint.enforce(session, case_id=case.id, handoff=Handoff.MEDICAL_CARE, actor=actor, now=now)
    extra: dict = {}
    if late is not None and late.late is not None:
        extra = {"late_by_seconds": int(late.late.total_seconds()), "window_hours": late.hours}
    # staff free text, as custody reasons are: sealed under the case key, the ledger and the row hold its commitment
    justification = crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.JUSTIFICATION,
                                     text=data.late_justification, now=now)
    if justification:
        extra["late_justification"] = justification
    entry = ledger.append(session, kind=EventKind.CARE_RECORDED, actor=actor, case_id=case.id, at=now,
                          data={"care": data.care, "status": data.status, "occurred_at": data.occurred_at,
                                **extra})
    row = CareRecord(care=data.care, status=data.status, occurred_at=as_utc(data.occurred_at), case_id=case.id,
                     recorded_at=now, recorded_by=actor.id, ledger_seq=entry.seq,
                     late_justification=justification)
    session.add(row)
    session.flush()
    return row


def list_care(session: Session, case_id: str, *, actor: Actor | None = None,
              now: datetime | None = None) -> list[CareRecord]:
    """The case's care events in time order; non-examiners pass the ADVOCATE_SHARE checkpoint first.

    Care records (PEP, emergency contraception: offered, given, declined) are medical information, shared
    with an advocate only under the same written, time-limited release as the exam. actor=None is for
    internal callers (deadline clocks), which show nothing to anyone themselves.
    """
    case = get_case(session, case_id)
    if actor is not None and actor.role != Role.EXAMINER:
        checkpoint.enforce(session, case_id=case.id, handoff=Handoff.ADVOCATE_SHARE, actor=actor,
                           now=now or utcnow())
    return list(session.execute(
        select(CareRecord).where(CareRecord.case_id == case.id).order_by(CareRecord.occurred_at, CareRecord.id)
    ).scalars())


def get_exam_row(session: Session, exam_id: int) -> ExamRecord:
    """The exam row (ciphertext) or NotFound."""
    row = session.get(ExamRecord, exam_id)
    if row is None:
        raise NotFound(f"no exam {exam_id}")
    return row
