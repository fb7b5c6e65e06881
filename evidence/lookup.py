"""Anonymous kit-status lookup for survivors: a lookup code + temporary password give the kit's stage only.

Enrolment passes the consent checkpoint (STATUS_LOOKUP). Only a salted scrypt hash of the password is kept;
the lookup answers with a coarse stage and no personal data, case id or staff id.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict
from sqlalchemy import select
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.clock import utcnow
from core.errors import AuthenticationFailed
from core.ids import new_id
from core.ledger import EventKind
from evidence import lookup_guard
from evidence.custody.models import CustodyEvent, CustodyEventKind
from evidence.items import get_item
from evidence.lookup_models import KitLookup, hash_password
from policies import checkpoint
from policies.handoffs import Handoff


class KitStage(StrEnum):
    """What a survivor is told about their kit."""

    AT_FACILITY = "at-facility"
    WITH_LAW_ENFORCEMENT = "with-law-enforcement"
    AT_LAB = "at-lab"
    ANALYSED = "analysed"
    RETURNED = "returned"
    DESTROYED = "destroyed"


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


def enrol_lookup(session: Session, *, actor: Actor, item_id: str, now: datetime | None = None) -> LookupEnrolment:
    """Enrol an item in the status lookup (consent checkpoint first) and return its code and password."""
    now = now or utcnow()
    item = get_item(session, item_id)
    checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.STATUS_LOOKUP_ENROL, actor=actor, now=now,
                       subject={"item_id": item.id})
    code = new_id("lookup")
    password = secrets.token_urlsafe(12)
    h = hash_password(password)
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


def lookup_status(session: Session, *, code: str, password: str, max_failures: int = 5,
                  now: datetime | None = None) -> KitStatus:
    """The kit's stage for a valid code + password; any mismatch (unknown code, wrong password, locked or
    revoked card) is the same AuthenticationFailed after the same work (evidence.lookup_guard)."""
    row = lookup_guard.check_credentials(session, code=code, password=password, max_failures=max_failures, now=now)
    if row is None:
        raise AuthenticationFailed(FAILED)
    return kit_stage(session, row)


FAILED = "lookup code or password is wrong (a card locks after several wrong tries: the centre can issue a new one)"


def check_credential(session: Session, *, code: str, password: str, max_failures: int = 5,
                     now: datetime | None = None) -> str:
    """The item id of a valid lookup code + password (the same check, lockout and answer as lookup_status), else
    the same AuthenticationFailed; for the survivor's other requests through the lookup (evidence.notice_tasks)."""
    row = lookup_guard.check_credentials(session, code=code, password=password, max_failures=max_failures, now=now)
    if row is None:
        raise AuthenticationFailed(FAILED)
    return row.item_id


def kit_stage(session: Session, row: KitLookup) -> KitStatus:
    """The coarse stage of an authenticated card's kit and when it last changed."""
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
