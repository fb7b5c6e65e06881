"""Case services: open a case, convert the reporting choice, store and read the optional identity.

Ledger entries carry the case's opaque id and enums only; the identity is sealed under the case key in
case_identity (core.crypto, bound to its row) and never reaches the ledger, logs or errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from core import crypto, ledger, outbox
from core.actors import Actor
from core.cases import Case, CaseCreate, CaseIdentity, CaseUpdate, Reporting, get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from core.ledger import EventKind
from policies.consent import wake_pathway
from policies.jurisdictions import installed_packs

# Allowed reporting changes: undecided may become anything; restricted/anonymous may only become unrestricted
# (convertible "at any time"); an unrestricted report is never turned back into a restricted one.
REPORTING_CHANGES: dict[Reporting, frozenset[Reporting]] = {
    Reporting.UNDECIDED: frozenset({Reporting.RESTRICTED, Reporting.ANONYMOUS, Reporting.UNRESTRICTED}),
    Reporting.RESTRICTED: frozenset({Reporting.UNRESTRICTED}),
    Reporting.ANONYMOUS: frozenset({Reporting.UNRESTRICTED}),
    Reporting.UNRESTRICTED: frozenset(),
}

# Called after every reporting change, with (session, actor, case_id, new reporting, now), in its transaction:
# evidence.preservation.recompute_on_conversion (registered by evidence.bootstrap.wire) extends retention.
ReportingHook = Callable[[Session, Actor, str, Reporting, datetime], None]
reporting_hooks: list[ReportingHook] = []


def register_reporting_hook(hook: ReportingHook) -> None:
    """Register a reporting-change hook once (wire() calls this; idempotent)."""
    if hook not in reporting_hooks:
        reporting_hooks.append(hook)


def open_case(session: Session, *, actor: Actor, data: CaseCreate, now: datetime | None = None) -> Case:
    """Open a case with an opaque id; CASE_OPENED carries only the jurisdiction and enums."""
    now = now or utcnow()
    data = CaseCreate.model_validate(data.model_dump())
    packs = installed_packs()
    if data.jurisdiction not in packs:
        raise ValidationFailed(
            f"jurisdiction {data.jurisdiction!r} has no rule pack; installed: {', '.join(sorted(packs))}"
        )
    if data.assault_at is not None and as_utc(data.assault_at) > now:
        raise ValidationFailed("assault_at is in the future: give the time of the assault or last contact")
    case = Case(
        id=new_id("case"), jurisdiction=data.jurisdiction,
        assault_at=as_utc(data.assault_at) if data.assault_at else None,
        age_band=data.age_band, reporting=data.reporting, opened_at=now, opened_by=actor.id,
    )
    session.add(case)
    session.flush()
    ledger.append(
        session, kind=EventKind.CASE_OPENED, actor=actor, case_id=case.id, at=now,
        data={"jurisdiction": case.jurisdiction, "age_band": case.age_band, "reporting": case.reporting,
              "assault_time_known": case.assault_at is not None},
    )
    # The case's pathway flow starts once this commits (the outbox row is part of this transaction).
    outbox.enqueue(session, case_id=case.id, kind=outbox.OutboxKind.START_PATHWAY, now=now)
    return case


def change_reporting(
    session: Session, *, actor: Actor, case_id: str, reporting: Reporting, now: datetime | None = None
) -> Case:
    """Convert the reporting choice (e.g. restricted → unrestricted months later); CASE_UPDATED records it."""
    now = now or utcnow()
    case = get_case(session, case_id)
    old, new = Reporting(case.reporting), Reporting(reporting)
    if new not in REPORTING_CHANGES[old]:
        raise Conflict(f"a {old} report cannot be changed to {new}")
    case.reporting = new
    session.add(case)
    session.flush()
    ledger.append(session, kind=EventKind.CASE_UPDATED, actor=actor, case_id=case.id, at=now,
                  data={"field": "reporting", "from": old, "to": new})
    for hook in list(reporting_hooks):
        hook(session, actor, case.id, new, now)
    wake_pathway(session, case.id, f"reporting:{new}", now)
    return case


def set_assault_time(
    session: Session, *, actor: Actor, case_id: str, assault_at: datetime, now: datetime | None = None
) -> Case:
    """Record (or correct) the time of the assault or last contact, which starts the clinical clocks."""
    now = now or utcnow()
    if as_utc(assault_at) > now:
        raise ValidationFailed("assault_at is in the future: give the time of the assault or last contact")
    case = get_case(session, case_id)
    known_before = case.assault_at is not None
    case.assault_at = as_utc(assault_at)
    session.add(case)
    session.flush()
    # The time itself stays in the case row (the clocks read it); the ledger records that it was set or corrected.
    ledger.append(session, kind=EventKind.CASE_UPDATED, actor=actor, case_id=case.id, at=now,
                  data={"field": "assault_at", "change": "corrected" if known_before else "recorded"})
    return case


def update_case(session: Session, *, actor: Actor, case_id: str, data: CaseUpdate,
                now: datetime | None = None) -> Case:
    """Apply a CaseUpdate: the reporting conversion and/or the assault time (each ledgered)."""
    data = CaseUpdate.model_validate(data.model_dump())
    if data.reporting is None and data.assault_at is None:
        raise ValidationFailed("nothing to change: give reporting and/or assault_at")
    case = get_case(session, case_id)
    if data.assault_at is not None:
        case = set_assault_time(session, actor=actor, case_id=case_id, assault_at=data.assault_at, now=now)
    if data.reporting is not None and data.reporting != case.reporting:
        case = change_reporting(session, actor=actor, case_id=case_id, reporting=data.reporting, now=now)
    return case


class IdentityIn(BaseModel):
    """The survivor's identity as given by staff; stored only as ciphertext."""

    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=200)
    date_of_birth: str | None = Field(default=None, max_length=10)
    contact: str | None = Field(default=None, max_length=200)

    def __repr__(self) -> str:  # never print identity in tracebacks or logs
        return "IdentityIn(<redacted>)"

    __str__ = __repr__


# Called after every identity read, with (session, actor, case_id). The API registers its access-log writer
# here (policies.access); IDENTITY_READ is also in permissions.SENSITIVE, so the route's read is logged too.
IdentityReadHook = Callable[[Session, Actor, str], None]
identity_read_hooks: list[IdentityReadHook] = []


def set_identity(
    session: Session, *, actor: Actor, case_id: str, identity: IdentityIn, key: crypto.KeyringLike = None,
    now: datetime | None = None,
) -> None:
    """Store (or replace) the encrypted identity; the ledger records only that it was stored."""
    now = now or utcnow()
    case = get_case(session, case_id)
    token = crypto.seal_text(session, case_id=case.id, table="case_identity", column="ciphertext", row_id=case.id,
                             plaintext=json.dumps(identity.model_dump(), ensure_ascii=False), keyring=key, now=now)
    row = session.get(CaseIdentity, case.id)
    replaced = row is not None
    if row is None:
        row = CaseIdentity(case_id=case.id, ciphertext=token, stored_at=now)
    else:
        row.ciphertext, row.stored_at = token, now
    session.add(row)
    session.flush()
    ledger.append(session, kind=EventKind.CASE_IDENTITY_STORED, actor=actor, case_id=case.id, at=now,
                  data={"replaced": replaced})


def read_identity(session: Session, *, actor: Actor, case_id: str, key: crypto.KeyringLike = None) -> IdentityIn:
    """Decrypt the identity; every registered identity-read hook (the access log) runs first."""
    case = get_case(session, case_id)
    row = session.get(CaseIdentity, case.id)
    if (erased := crypto.erased_at(session, case.id)) is not None:
        raise crypto.erased_error(erased)
    if row is None:
        raise NotFound("no identity is stored for this case (it is optional)")
    for hook in list(identity_read_hooks):
        hook(session, actor, case.id)
    return IdentityIn.model_validate_json(crypto.open_text(
        session, case_id=case.id, table="case_identity", column="ciphertext", row_id=case.id, token=row.ciphertext,
        keyring=key))
