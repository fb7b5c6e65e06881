"""Anonymous kit-status lookup for survivors: a lookup code + temporary password give the kit's stage only.

Enrolment passes the consent checkpoint (STATUS_LOOKUP). Only a salted scrypt hash of the password is kept;
the lookup answers with a coarse stage and no personal data, case id or staff id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict
from sqlalchemy import Column, DateTime, ForeignKey, LargeBinary, String, select
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.clock import utcnow
from core.errors import AuthenticationFailed
from core.ids import is_valid_id, new_id
from core.ledger import EventKind
from evidence.custody.models import CustodyEvent, CustodyEventKind
from evidence.items import get_item
from policies import checkpoint
from policies.handoffs import Handoff

# scrypt cost: n=2^14, r=8, p=1 (~16 MiB, tens of ms): slows guessing, rate limiting does the rest.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


class KitStage(StrEnum):
    """What a survivor is told about their kit."""

    AT_FACILITY = "at-facility"
    WITH_LAW_ENFORCEMENT = "with-law-enforcement"
    AT_LAB = "at-lab"
    ANALYSED = "analysed"
    RETURNED = "returned"
    DESTROYED = "destroyed"


class KitLookup(SQLModel, table=True):
    """One enrolment: the lookup code, and the salted scrypt hash of its temporary password."""

    __tablename__ = "kit_lookup"

    code: str = Field(primary_key=True, max_length=32)
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    password_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    enrolled_at: datetime = Field(sa_type=DateTime(timezone=True))
    enrolled_by: str = Field(max_length=64)


class LookupRequest(SQLModel):
    """Request body of POST /status/lookup."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    code: str = Field(max_length=32)
    password: str = Field(max_length=128)


class LookupEnrolment(SQLModel):
    """Given once to the survivor at enrolment (the password is never shown again)."""

    code: str
    password: str


class KitStatus(SQLModel):
    """What the lookup answers: stage and when it last changed; nothing else."""

    stage: KitStage
    updated_at: datetime


@dataclass(frozen=True)
class _Hash:
    salt: bytes
    digest: bytes


def _hash(password: str, salt: bytes | None = None) -> _Hash:
    salt = salt or secrets.token_bytes(16)
    return _Hash(salt, hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT))


def enrol_lookup(session: Session, *, actor: Actor, item_id: str, now: datetime | None = None) -> LookupEnrolment:
    """Enrol an item in the status lookup (consent checkpoint first) and return its code and password."""
    now = now or utcnow()
    item = get_item(session, item_id)
    checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.STATUS_LOOKUP_ENROL, actor=actor, now=now,
                       subject={"item_id": item.id})
    code = new_id("lookup")
    password = secrets.token_urlsafe(12)
    h = _hash(password)
    session.add(KitLookup(code=code, item_id=item.id, salt=h.salt, password_hash=h.digest, enrolled_at=now,
                          enrolled_by=actor.id))
    session.flush()
    # The code is half of the survivor's credential: it stays out of the ledger (which auditors read and
    # bundles carry to courts); the entry records only that the item was enrolled, and by whom.
    ledger.append(session, kind=EventKind.PATHWAY_STEP, actor=actor, case_id=item.case_id, item_id=item.id, at=now,
                  data={"step": "status-lookup-enrolled"})
    return LookupEnrolment(code=code, password=password)


_STAGE = {
    CustodyEventKind.RELEASED: KitStage.WITH_LAW_ENFORCEMENT,
    CustodyEventKind.SUBMITTED_TO_LAB: KitStage.AT_LAB,
    CustodyEventKind.ANALYSED: KitStage.ANALYSED,
    CustodyEventKind.RETURNED: KitStage.RETURNED,
    CustodyEventKind.DESTROYED: KitStage.DESTROYED,
}
_DUMMY = _hash("timing-equaliser")


def lookup_status(session: Session, *, code: str, password: str) -> KitStatus:
    """The kit's stage for a valid code + password; any mismatch is the same AuthenticationFailed."""
    row = session.get(KitLookup, code) if is_valid_id(code, "lookup") else None
    # Hash even for unknown codes so timing does not reveal which codes exist.
    h = _hash(password, row.salt if row else _DUMMY.salt)
    if row is None or not hmac.compare_digest(h.digest, bytes(row.password_hash)):
        raise AuthenticationFailed("lookup code or password is wrong")
    events = session.execute(
        select(CustodyEvent.kind, CustodyEvent.at).where(CustodyEvent.item_id == row.item_id)
        .order_by(CustodyEvent.id)
    ).all()
    stage, updated = KitStage.AT_FACILITY, events[0][1] if events else row.enrolled_at
    for kind, at in events:
        mapped = _STAGE.get(CustodyEventKind(kind))
        if mapped is not None:
            stage, updated = mapped, at
    return KitStatus(stage=stage, updated_at=updated)
