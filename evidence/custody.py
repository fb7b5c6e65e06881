"""Chain of custody: seal, transfer (offer → accept), check in/out, lab submission, release, analysis, destruction.

Every operation takes the item's current-state row under a lock (`SELECT ... FOR UPDATE` on PostgreSQL; on
SQLite every writing transaction already began with BEGIN IMMEDIATE), checks the rules against what it read,
then writes the new state (version + 1), one append-only `custody_event` row and its ledger entry — all in the
caller's transaction, so a refused operation leaves nothing behind. Every move that puts an item in the hands of
another agency's staff (transfer offer and acceptance of any purpose, check-out, scan) passes one gate,
`_leave_centre`: the receiver's agency decides (policies.boundary), and the consent checkpoint decides first;
a refusal there is committed to the ledger before the error is raised.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import field_validator
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, select
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.clock import as_utc, utcnow
from core.db import commit_early
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.ids import is_valid_id, new_id
from core.ledger import EventKind, LedgerEntry
from evidence.items import EvidenceItem, ItemCustody, ItemKind, ItemStatus, check_location, get_item
from policies.agencies import AgencyKind
from policies.boundary import Crossing, CustodyFacts, Entry, Move, decide_move
from policies.handoffs import Handoff
from policies.permissions import CASE_SCOPED_FOR, Permission, Role


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


_LEDGER_KIND = {
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

class _Text(SQLModel):
    @field_validator("reason", "condition", check_fields=False)
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else v


class SealCreate(SQLModel):
    """Request body for sealing an item."""

    seal_number: str = Field(min_length=1, max_length=64, regex=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class TransferCreate(_Text):
    """Request body for offering an item to another staff member."""

    to_user: str = Field(min_length=1, max_length=64)
    reason: str = Field(max_length=200)
    condition: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None
    purpose: TransferPurpose = TransferPurpose.CUSTODY


class TransferAccept(_Text):
    """Request body for accepting a transfer: what the receiver sees on the package."""

    condition: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None


class TransferClose(_Text):
    """Request body for declining (receiver) or cancelling (offering custodian) an open transfer."""

    reason: str = Field(max_length=200)


class CheckInCreate(_Text):
    """Request body for checking an item in at a location."""

    location: str = Field(max_length=64)
    condition: str | None = Field(default=None, max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None


class CheckOutCreate(_Text):
    """Request body for checking an item out of its location."""

    reason: str = Field(max_length=200)
    seal_number: str | None = Field(default=None, max_length=64)
    seal_intact: bool | None = None


class AnalysisCreate(_Text):
    """Request body for recording that the lab analysed an item (results live in the lab's system)."""

    reason: str = Field(default="analysis", max_length=200)
    report_ref: str | None = Field(default=None, max_length=64, regex=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class DestroyCreate(_Text):
    """Request body for destroying an item."""

    reason: str = Field(max_length=200)
    authority_ref: str = Field(min_length=1, max_length=64, regex=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


# --- helpers ---------------------------------------------------------------------------------------

def lock_item(session: Session, item_id: str) -> tuple[EvidenceItem, ItemCustody]:
    """Load the item and its current-state row, locking the row for the rest of the transaction.

    One statement: the item joined to its custody row (`FOR UPDATE OF item_custody` on PostgreSQL, so only
    the current-state row is locked, as before).
    """
    if not is_valid_id(item_id, "item"):
        get_item(session, item_id)  # raises NotFound without a query
    stmt = (select(EvidenceItem, ItemCustody).join(ItemCustody, ItemCustody.item_id == EvidenceItem.id)
            .where(EvidenceItem.id == item_id).execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=ItemCustody)
    row = session.execute(stmt).first()
    if row is None:
        item = get_item(session, item_id)  # NotFound for an unknown item
        raise NotFound(f"no custody record for item {item.id!r}")
    return row[0], row[1]


def add_event(session: Session, *, item_id: str, kind: CustodyEventKind, actor: Actor, at: datetime,
              entry: LedgerEntry, **fields: Any) -> CustodyEvent:
    """Append one custody_event row pointing at its ledger entry."""
    ev = CustodyEvent(item_id=item_id, kind=kind, at=at, actor_id=actor.id, ledger_seq=entry.seq,
                      ledger_hash=entry.entry_hash, **fields)
    session.add(ev)
    session.flush()
    return ev


def _record(session: Session, item: EvidenceItem, state: ItemCustody, kind: CustodyEventKind, actor: Actor,
            now: datetime, *, data: dict[str, Any], event: dict[str, Any], ledger_kind: EventKind | None = None,
            ) -> CustodyEvent:
    """Save the new state (version + 1), then the ledger entry and the event row, in one transaction."""
    state.version += 1
    state.updated_at = now
    session.add(state)
    session.flush()
    data = {k: v for k, v in data.items() if v is not None}
    data["version"] = state.version
    entry = ledger.append(session, kind=ledger_kind or _LEDGER_KIND[kind], actor=actor, case_id=item.case_id,
                          item_id=item.id, at=now, data=data)
    return add_event(session, item_id=item.id, kind=kind, actor=actor, at=now, entry=entry, **event)


def _require_custodian(state: ItemCustody, actor: Actor, action: str, *, on_behalf: bool = False) -> None:
    if state.status is ItemStatus.DESTROYED or state.status == ItemStatus.DESTROYED.value:
        raise Conflict(f"item was destroyed: it cannot be {action}")
    if state.status == ItemStatus.CHECKED_IN.value:
        raise Conflict(f"item is checked in at {state.location}: check it out before it can be {action}")
    if state.custodian != actor.id and not on_behalf:
        raise PermissionDenied(f"only the item's custodian ({state.custodian}) can have it {action}")
    if state.pending_transfer_id:
        raise Conflict(f"transfer {state.pending_transfer_id} of this item is awaiting acceptance")


def _require_not_quarantined(session: Session, item: EvidenceItem, action: str) -> None:
    """An open integrity incident quarantines the item (evidence.incidents): call after lock_item."""
    from evidence.incidents import require_not_quarantined

    require_not_quarantined(session, item.id, action)


def _check_seal(state: ItemCustody, seal_number: str | None, seal_intact: bool | None) -> None:
    """A seal number reported at a handoff must match the recorded seal."""
    if seal_number is not None and state.seal_number is None:
        raise ValidationFailed("the item has no recorded seal: seal it first, or leave seal_number out")
    if seal_number is not None and seal_number != state.seal_number:
        raise ValidationFailed(
            f"seal number {seal_number!r} does not match the recorded seal {state.seal_number!r}: do not accept "
            "the item; report an integrity incident if the seal was changed")


def _seal_fields(state: ItemCustody, seal_number: str | None, seal_intact: bool | None) -> dict[str, Any]:
    return {"seal_number": seal_number if seal_number is not None else state.seal_number, "seal_intact": seal_intact}


# --- who may see an item ------------------------------------------------------------------------------

def _items_of_party(user_id: str):
    """Ids of items offered or released to `user_id`, or that they hold now (a subquery)."""
    offered = select(Transfer.item_id).where(Transfer.to_user == user_id)
    held = select(ItemCustody.item_id).where(ItemCustody.custodian == user_id)
    return offered.union(held)


# Roles that see items only of cases they are assigned to (or break glass for): an item's description is exam
# detail (policies.permissions.CASE_SCOPED_FOR). Lab, law enforcement and auditors: by role and custody instead.
_CASE_BOUND_ROLES = CASE_SCOPED_FOR[Permission.ITEM_READ] | CASE_SCOPED_FOR[Permission.CUSTODY_READ]


def _require_case_access(session: Session, actor: Actor, case_id: str) -> None:
    from policies.authz import authorize

    authorize(session, actor, Permission.CASE_READ, case_id)  # assignment or break-glass, else PermissionDenied


def _sees_only_own_items(session: Session, actor: Actor) -> bool:
    """Staff of another agency (law enforcement; lab staff of a crime lab) see only items offered to them or that
    they hold. The centre's own lab (evidence-store) staff see items by role; an unknown account sees nothing."""
    if actor.role == Role.LAW_ENFORCEMENT:
        return True
    if actor.role != Role.LAB:
        return False
    from policies.authz import user_agency_kind

    return user_agency_kind(session, actor.id) is not AgencyKind.CENTRE


def require_item_visible(session: Session, *, actor: Actor, item_id: str) -> None:
    """Law enforcement and crime-lab staff see only items offered or released to them (or that they hold): the
    centre's other evidence, and whether a case exists at all (restricted reports), is not theirs to see.
    Examiners (and advocates) see the items of cases they are assigned to. The centre's evidence-store staff and
    auditors see every item by role (no identity is on an item)."""
    if actor.role in _CASE_BOUND_ROLES:
        _require_case_access(session, actor, get_item(session, item_id).case_id)
        return
    if not _sees_only_own_items(session, actor):
        return
    state = session.get(ItemCustody, item_id)
    if state is not None and state.custodian == actor.id:
        return
    offered = session.execute(select(Transfer.id).where(Transfer.item_id == item_id, Transfer.to_user == actor.id)
                              .limit(1)).first()
    if offered is None:
        raise PermissionDenied("this item was not released or offered to you")


def visible_items(session: Session, *, actor: Actor, case_id: str) -> list[EvidenceItem]:
    """The case's items `actor` may see (see require_item_visible), oldest first."""
    from evidence.items import list_items

    if actor.role in _CASE_BOUND_ROLES:
        _require_case_access(session, actor, case_id)
    found = list_items(session, case_id)
    if not _sees_only_own_items(session, actor):
        return found
    mine = set(session.execute(_items_of_party(actor.id)).scalars())
    return [i for i in found if i.id in mine]


# --- operations ------------------------------------------------------------------------------------

def seal_item(session: Session, *, actor: Actor, item_id: str, data: SealCreate,
              now: datetime | None = None) -> CustodyEvent:
    """Record the seal put on the item's package by its custodian."""
    now = now or utcnow()
    data = SealCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    _require_custodian(state, actor, "sealed")
    if state.seal_number == data.seal_number:
        raise Conflict(f"item is already sealed with {data.seal_number}")
    previous = state.seal_number
    state.seal_number = data.seal_number
    return _record(session, item, state, CustodyEventKind.SEALED, actor, now,
                   data={"custodian": state.custodian, "seal_number": data.seal_number, "seal_intact": True,
                         "previous_seal_number": previous, "location": state.location},
                   event={"seal_number": data.seal_number, "seal_intact": True, "location": state.location})


_PURPOSE_HANDOFF = {TransferPurpose.RELEASE: Handoff.RELEASE_LAW_ENFORCEMENT, TransferPurpose.LAB: Handoff.LAB_TESTING}


def _crossing(session: Session, *, item: EvidenceItem, receiver: str, move: Move,
              state: ItemCustody | None = None) -> tuple[Crossing, AgencyKind]:
    """The boundary rule (policies.boundary) for moving `item` into `receiver`'s hands, from the receiver's
    agency and the item's custody facts (`state`, or the current row read now)."""
    from policies.authz import user_agency_kind

    kind = user_agency_kind(session, receiver)
    if kind is None:
        raise PermissionDenied(f"no staff account {receiver}: evidence goes only to staff with an account")
    state = state if state is not None else session.get(ItemCustody, item.id)
    holder = user_agency_kind(session, state.custodian) if state is not None else None
    facts = CustodyFacts(released=bool(state is not None and state.released),
                         lab_submitted=bool(state is not None and state.lab_submitted), holder=holder)
    return decide_move(facts, kind, move), kind


def _leave_centre(session: Session, *, actor: Actor, item: EvidenceItem, purpose: TransferPurpose,
                  now: datetime, receiver: str | None = None, move: Move = Move.TRANSFER,
                  state: ItemCustody | None = None) -> Crossing | None:
    """The one gate for moves into another agency's hands (and for consented release/lab purposes).

    Decides from the receiver's agency (policies.boundary): a move the rule refuses is recorded
    (custody:boundary:refused, committed like a checkpoint denial) and raises PermissionDenied; otherwise the
    consent checkpoint decides every handoff the receiver's agency or the declared purpose needs (a denial is
    committed and raises ConsentRequired). Call it before any other change in the transaction.
    """
    crossing, kind = (None, None) if receiver is None else _crossing(session, item=item, receiver=receiver,
                                                                     move=move, state=state)
    if crossing is not None and crossing.refused:
        data = {"to_user": receiver, "to_agency_kind": str(kind), "move": str(move), "reason": crossing.refused}
        if crossing.handoff is not None:
            data["handoff"] = str(crossing.handoff)
        ledger.append(session, kind=EventKind.BOUNDARY_REFUSED, actor=actor, case_id=item.case_id, item_id=item.id,
                      at=now, data=data)
        commit_early(session, "the refused attempt must be on record even though the move will not happen")
        raise PermissionDenied(crossing.refused)
    handoffs = [h for h in (crossing.handoff if crossing else None, _PURPOSE_HANDOFF.get(purpose)) if h is not None]
    from policies import checkpoint

    for handoff in dict.fromkeys(handoffs):
        subject = {"item_id": item.id, "item_kind": str(item.kind)}
        if kind is not None:
            subject.update(to_agency_kind=str(kind), move=str(move))
        if item.kind == ItemKind.PHOTOGRAPH.value:
            # A photograph that leaves the centre is shared: its own (withdrawable) photography consent must
            # hold too, not only the release or testing consent.
            if item.restricted:
                raise PermissionDenied("photography consent was withdrawn: this photograph cannot leave the centre")
            checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.PHOTO_VIEW, actor=actor, now=now,
                               subject={**subject, "for": str(handoff)})
        checkpoint.enforce(session, case_id=item.case_id, handoff=handoff, actor=actor, now=now, subject=subject)
    return crossing


def _check_receiver(session: Session, purpose: TransferPurpose, to_user: str) -> None:
    """Who may receive the item for this purpose, from their account alone (before any checkpoint decision).

    Releases go to law enforcement, lab submissions to lab staff (the centre's own or a crime lab's), returns
    back to the centre's staff. Whether the move crosses the centre's boundary follows from the receiver's
    agency, not from the purpose (_leave_centre).
    """
    from policies.authz import get_user, user_agency_kind

    receiver = get_user(session, to_user)  # NotFound for an unknown id
    if not receiver.active:
        raise ValidationFailed(f"user {to_user} is deactivated and cannot receive evidence")
    role = str(receiver.role)
    if purpose is TransferPurpose.RELEASE and role != Role.LAW_ENFORCEMENT:
        raise ValidationFailed(f"a release goes to a law-enforcement officer; {to_user} is {role} staff")
    if purpose is TransferPurpose.LAB and role != Role.LAB:
        raise ValidationFailed(f"a lab submission goes to lab staff; {to_user} is {role} staff")
    if purpose is TransferPurpose.RETURN and user_agency_kind(session, to_user) is not AgencyKind.CENTRE:
        raise ValidationFailed(f"a return goes back to the centre's staff; {to_user} works for another agency")


def _check_recipient(session: Session, state: ItemCustody, purpose: TransferPurpose, to_user: str) -> None:
    """What the item's state allows for this purpose: only items that left the centre (released or submitted to
    a lab) can be returned. (Testing is the consented LAB purpose; analysis requires it: record_analysis.)"""
    if purpose is TransferPurpose.RETURN and not (state.released or state.lab_submitted):
        raise Conflict("only an item released to law enforcement or submitted to a lab can be returned")


def offer_transfer(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                   now: datetime | None = None) -> Transfer:
    """Offer the item to another staff member; custody moves only when they accept."""
    now = now or utcnow()
    data = TransferCreate.model_validate(data.model_dump())
    item = get_item(session, item_id)
    _check_receiver(session, TransferPurpose(data.purpose), data.to_user)
    # Before any change in this transaction: a denial commits its own ledger entry. Any purpose: a custody
    # transfer to another agency's staff is a release or lab submission (the receiver's agency decides).
    _leave_centre(session, actor=actor, item=item, purpose=TransferPurpose(data.purpose), now=now,
                  receiver=data.to_user)
    # The pathway flow (a system actor) may offer a consented release or lab submission on behalf of the
    # custodian: the ledger names the flow as actor and the custodian as from_user; the receiver still accepts.
    on_behalf = actor.is_system and data.purpose in (TransferPurpose.RELEASE, TransferPurpose.LAB)
    if actor.is_system and not on_behalf:
        raise PermissionDenied("a system process may only offer consented releases and lab submissions")
    item, state = lock_item(session, item_id)
    _require_not_quarantined(session, item, "offered to anyone")
    _require_custodian(state, actor, "transferred", on_behalf=on_behalf)
    from_user = state.custodian if on_behalf else actor.id
    if data.to_user == from_user:
        raise ValidationFailed("an item cannot be transferred to its own custodian")
    _check_recipient(session, state, TransferPurpose(data.purpose), data.to_user)
    _check_seal(state, data.seal_number, data.seal_intact)
    transfer = Transfer(id=new_id("transfer"), item_id=item.id, purpose=data.purpose, from_user=from_user,
                        to_user=data.to_user, reason=data.reason, condition=data.condition,
                        seal_number=data.seal_number or state.seal_number, seal_intact=data.seal_intact,
                        status=TransferStatus.OFFERED, offered_at=now)
    session.add(transfer)
    session.flush()
    state.pending_transfer_id = transfer.id
    seal = _seal_fields(state, data.seal_number, data.seal_intact)
    _record(session, item, state, CustodyEventKind.TRANSFER_OFFERED, actor, now,
            data={"transfer_id": transfer.id, "purpose": str(data.purpose), "from_user": from_user,
                  "to_user": data.to_user, "custodian": state.custodian, "reason": data.reason,
                  "condition": data.condition, "location": state.location, **seal},
            event={"from_user": from_user, "to_user": data.to_user, "reason": data.reason,
                   "condition": data.condition, "transfer_id": transfer.id, "location": state.location, **seal})
    return transfer


def get_transfer(session: Session, transfer_id: str) -> Transfer:
    """Return the transfer or raise NotFound."""
    t = session.get(Transfer, transfer_id) if is_valid_id(transfer_id, "transfer") else None
    if t is None:
        raise NotFound(f"no transfer {transfer_id!r}")
    return t


_ACCEPT_RESULT = {
    TransferPurpose.CUSTODY: (CustodyEventKind.TRANSFER_ACCEPTED, ItemStatus.HELD),
    TransferPurpose.RELEASE: (CustodyEventKind.RELEASED, ItemStatus.RELEASED),
    TransferPurpose.LAB: (CustodyEventKind.SUBMITTED_TO_LAB, ItemStatus.AT_LAB),
    TransferPurpose.RETURN: (CustodyEventKind.RETURNED, ItemStatus.HELD),
}


def accept_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferAccept,
                    now: datetime | None = None) -> CustodyEvent:
    """The receiver confirms the handoff (condition, seal); custody passes to them."""
    now = now or utcnow()
    data = TransferAccept.model_validate(data.model_dump())
    transfer = get_transfer(session, transfer_id)
    if transfer.status != TransferStatus.OFFERED.value:
        raise Conflict(f"transfer {transfer.id} is no longer open (status {transfer.status})")
    if transfer.to_user != actor.id:
        raise PermissionDenied(f"transfer {transfer.id} was offered to {transfer.to_user}; only they can accept it")
    # The handoff happens now, not at the offer: consent may have been withdrawn in between, so the
    # checkpoint decides again from the consent on record at this instant (before any change here), for a
    # release or lab purpose and for any transfer into another agency's hands.
    _leave_centre(session, actor=actor, item=get_item(session, transfer.item_id),
                  purpose=TransferPurpose(transfer.purpose), now=now, receiver=actor.id)
    item, state = lock_item(session, transfer.item_id)
    _require_not_quarantined(session, item, "accepted")
    session.refresh(transfer)  # read the offer again now that the item row is locked
    if transfer.status != TransferStatus.OFFERED.value or state.pending_transfer_id != transfer.id:
        raise Conflict(f"transfer {transfer.id} is no longer open (status {transfer.status})")
    if transfer.to_user != actor.id:
        raise PermissionDenied(f"transfer {transfer.id} was offered to {transfer.to_user}; only they can accept it")
    _check_seal(state, data.seal_number, data.seal_intact)
    purpose = _accepted_as(session, item, state, transfer)
    kind, status = _ACCEPT_RESULT[purpose]
    transfer.status = TransferStatus.ACCEPTED
    transfer.accepted_at = now
    transfer.accept_condition = data.condition
    transfer.accept_seal_intact = data.seal_intact
    session.add(transfer)
    state.custodian = actor.id
    state.status = status
    state.pending_transfer_id = None
    if purpose is TransferPurpose.LAB:
        state.lab_submitted = True
    elif purpose is TransferPurpose.RELEASE:
        state.released = True
    elif purpose is TransferPurpose.RETURN:
        state.released = False  # back at the centre: law enforcement needs a new release to take it again
    seal = _seal_fields(state, data.seal_number, data.seal_intact)
    offered_as = str(transfer.purpose) if purpose.value != transfer.purpose else None
    return _record(session, item, state, kind, actor, now, ledger_kind=_ledger_for_accept(kind),
                   data={"transfer_id": transfer.id, "purpose": str(purpose), "offered_as": offered_as,
                         "from_user": transfer.from_user, "to_user": actor.id, "custodian": actor.id,
                         "reason": transfer.reason, "condition": data.condition, "location": state.location,
                         **seal},
                   event={"from_user": transfer.from_user, "to_user": actor.id, "reason": transfer.reason,
                          "condition": data.condition, "transfer_id": transfer.id, "location": state.location,
                          **seal})


def _accepted_as(session: Session, item: EvidenceItem, state: ItemCustody, transfer: Transfer) -> TransferPurpose:
    """What an accepted transfer is recorded as: a custody transfer into another agency's hands is a release
    (police, prosecution) or a lab submission (crime lab), decided from the locked state."""
    purpose = TransferPurpose(transfer.purpose)
    if purpose is not TransferPurpose.CUSTODY:
        return purpose
    crossing, _ = _crossing(session, item=item, receiver=transfer.to_user, move=Move.TRANSFER, state=state)
    return {Entry.RELEASE: TransferPurpose.RELEASE, Entry.LAB: TransferPurpose.LAB}.get(crossing.entry, purpose)


def _close_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose, now: datetime | None,
                    declined: bool) -> CustodyEvent:
    """Close an open offer without a handoff: the item stays with its custodian and can move again."""
    now = now or utcnow()
    data = TransferClose.model_validate(data.model_dump())
    transfer = get_transfer(session, transfer_id)
    item, state = lock_item(session, transfer.item_id)
    session.refresh(transfer)  # read the offer again now that the item row is locked
    if transfer.status != TransferStatus.OFFERED.value or state.pending_transfer_id != transfer.id:
        raise Conflict(f"transfer {transfer.id} is no longer open (status {transfer.status})")
    if declined and transfer.to_user != actor.id:
        raise PermissionDenied(f"transfer {transfer.id} was offered to {transfer.to_user}; only they can decline it")
    if not declined and actor.id not in (transfer.from_user, state.custodian):
        raise PermissionDenied(f"only the offering custodian ({transfer.from_user}) can cancel transfer "
                               f"{transfer.id}; the receiver can decline it")
    return _close_locked(session, item, state, transfer, actor, now, declined=declined, reason=data.reason)


def _close_locked(session: Session, item: EvidenceItem, state: ItemCustody, transfer: Transfer, actor: Actor,
                  now: datetime, *, declined: bool, reason: str) -> CustodyEvent:
    """Close an open offer whose item row the caller has locked: status, no pending offer, event + ledger."""
    transfer.status = TransferStatus.DECLINED if declined else TransferStatus.CANCELLED
    session.add(transfer)
    state.pending_transfer_id = None
    kind = CustodyEventKind.TRANSFER_DECLINED if declined else CustodyEventKind.TRANSFER_CANCELLED
    return _record(session, item, state, kind, actor, now,
                   data={"transfer_id": transfer.id, "purpose": str(transfer.purpose),
                         "from_user": transfer.from_user, "to_user": transfer.to_user, "custodian": state.custodian,
                         "reason": reason, "location": state.location},
                   event={"from_user": transfer.from_user, "to_user": transfer.to_user, "reason": reason,
                          "transfer_id": transfer.id, "location": state.location})


def decline_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose,
                     now: datetime | None = None) -> CustodyEvent:
    """The receiver refuses the offered item (e.g. the seal is broken); the custodian keeps it."""
    return _close_transfer(session, actor=actor, transfer_id=transfer_id, data=data, now=now, declined=True)


def cancel_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose,
                    now: datetime | None = None) -> CustodyEvent:
    """The offering custodian withdraws an open offer (e.g. consent was withdrawn, receiver unavailable)."""
    return _close_transfer(session, actor=actor, transfer_id=transfer_id, data=data, now=now, declined=False)


# Open offers that a withdrawn consent ends (the release consent also underlies a lab submission).
_OFFERS_ENDED_BY_WITHDRAWAL = {
    "release-to-law-enforcement": (TransferPurpose.RELEASE.value, TransferPurpose.LAB.value),
    "lab-testing": (TransferPurpose.LAB.value,),
}


def cancel_offers_on_withdrawal(session: Session, case_id: str, scope: str, actor: Actor, now: datetime) -> None:
    """Withdrawal hook: a release or lab submission offered but not accepted yet is cancelled at once when the
    consent it relied on is withdrawn (acceptance would be refused anyway; this way the item is not left
    pending and the officer or lab no longer sees an offer). Recorded as TRANSFER_CANCELLED by the actor who
    recorded the withdrawal."""
    purposes = _OFFERS_ENDED_BY_WITHDRAWAL.get(str(scope))
    if not purposes:
        return
    offers = session.execute(
        select(Transfer).join(EvidenceItem, EvidenceItem.id == Transfer.item_id)
        .where(EvidenceItem.case_id == case_id, Transfer.status == TransferStatus.OFFERED.value,
               Transfer.purpose.in_(purposes))  # type: ignore[attr-defined]
        .order_by(Transfer.offered_at, Transfer.id)
    ).scalars().all()
    for transfer in offers:
        item, state = lock_item(session, transfer.item_id)
        session.refresh(transfer)
        if transfer.status != TransferStatus.OFFERED.value or state.pending_transfer_id != transfer.id:
            continue
        _close_locked(session, item, state, transfer, actor, now, declined=False,
                      reason=f"consent withdrawn: {scope}")


def _ledger_for_accept(kind: CustodyEventKind) -> EventKind:
    return {CustodyEventKind.RELEASED: EventKind.RELEASED, CustodyEventKind.RETURNED: EventKind.RETURNED}.get(
        kind, EventKind.TRANSFER_ACCEPTED)


def release_item(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                 now: datetime | None = None) -> Transfer:
    """Offer the item to a law-enforcement officer (consent checkpoint first; complete on their acceptance)."""
    return offer_transfer(session, actor=actor, item_id=item_id,
                          data=data.model_copy(update={"purpose": TransferPurpose.RELEASE}), now=now)


def submit_to_lab(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                  now: datetime | None = None) -> Transfer:
    """Offer the item to lab staff for testing (consent checkpoint first; complete on their acceptance)."""
    return offer_transfer(session, actor=actor, item_id=item_id,
                          data=data.model_copy(update={"purpose": TransferPurpose.LAB}), now=now)


def check_in(session: Session, *, actor: Actor, item_id: str, data: CheckInCreate,
             now: datetime | None = None) -> CustodyEvent:
    """The custodian stores the item at a location; the actor stays answerable for it until checked out."""
    data = CheckInCreate.model_validate(data.model_dump())
    location = check_location(data.location)
    item, state = lock_item(session, item_id)
    return _check_in(session, actor, item, state, data, location, now or utcnow())


def _check_in(session: Session, actor: Actor, item: EvidenceItem, state: ItemCustody, data: CheckInCreate,
              location: str, now: datetime) -> CustodyEvent:
    """check_in on an item whose custody row the caller has locked (lock_item)."""
    if state.status == ItemStatus.CHECKED_IN.value:
        raise Conflict(f"item is already checked in at {state.location} (by {state.custodian})")
    _require_custodian(state, actor, "checked in")
    _check_seal(state, data.seal_number, data.seal_intact)
    state.status = ItemStatus.CHECKED_IN
    state.location = location
    seal = _seal_fields(state, data.seal_number, data.seal_intact)
    return _record(session, item, state, CustodyEventKind.CHECKED_IN, actor, now,
                   data={"custodian": state.custodian, "location": location, "condition": data.condition, **seal},
                   event={"from_user": actor.id, "location": location, "condition": data.condition, **seal})


def check_out(session: Session, *, actor: Actor, item_id: str, data: CheckOutCreate,
              now: datetime | None = None) -> CustodyEvent:
    """Take a checked-in item from its location; the actor becomes its custodian (one winner if two race)."""
    data = CheckOutCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    return _check_out(session, actor, item, state, data, now or utcnow())


def _check_out(session: Session, actor: Actor, item: EvidenceItem, state: ItemCustody, data: CheckOutCreate,
               now: datetime) -> CustodyEvent:
    """check_out on an item whose custody row the caller has locked (lock_item)."""
    _require_not_quarantined(session, item, "checked out")
    if state.status == ItemStatus.DESTROYED.value:
        raise Conflict("item was destroyed: it cannot be checked out")
    if state.status != ItemStatus.CHECKED_IN.value:
        raise Conflict(f"item is not checked in: it is held by {state.custodian}"
                       + (f" at {state.location}" if state.location else ""))
    # Checking out makes the actor the custodian: for another agency's staff only an item already handed to
    # their side with consent, and only while the checkpoint still allows it (refusals are ledgered).
    _leave_centre(session, actor=actor, item=item, purpose=TransferPurpose.CUSTODY, now=now, receiver=actor.id,
                  move=Move.TAKE, state=state)
    _check_seal(state, data.seal_number, data.seal_intact)
    previous = state.custodian
    state.custodian = actor.id
    # Back to the status it had before storage: at the lab stays at the lab, released stays released.
    if state.released:
        state.status = ItemStatus.RELEASED
    elif state.lab_submitted and not state.analysed:
        state.status = ItemStatus.AT_LAB
    else:
        state.status = ItemStatus.HELD
    seal = _seal_fields(state, data.seal_number, data.seal_intact)
    return _record(session, item, state, CustodyEventKind.CHECKED_OUT, actor, now,
                   data={"from_user": previous, "to_user": actor.id, "custodian": actor.id,
                         "location": state.location, "reason": data.reason, **seal},
                   event={"from_user": previous, "to_user": actor.id, "location": state.location,
                          "reason": data.reason, **seal})


def scan(session: Session, *, actor: Actor, item_id: str, location: str | None,
         now: datetime | None = None) -> CustodyEvent:
    """Barcode scan at a lab/store desk: checks the item out if it is checked in, else checks it in at `location`."""
    return scan_item(session, actor=actor, item_id=item_id, location=location, now=now)[0]


def scan_item(session: Session, *, actor: Actor, item_id: str, location: str | None,
              now: datetime | None = None) -> tuple[CustodyEvent, EvidenceItem, ItemCustody]:
    """`scan`, also returning the item and its new custody state (so a caller need not read them again).

    The custody row is locked once and the decision (in or out) is taken on what that lock read.
    """
    now = now or utcnow()
    item, state = lock_item(session, item_id)
    if state.status == ItemStatus.CHECKED_IN.value:
        event = _check_out(session, actor, item, state, CheckOutCreate(reason="scan"), now)
    else:
        if not location:
            raise ValidationFailed("scanning to check an item in needs the location")
        data = CheckInCreate(location=location)
        event = _check_in(session, actor, item, state, data, check_location(data.location), now)
    return event, item, state


def record_analysis(session: Session, *, actor: Actor, item_id: str, data: AnalysisCreate,
                    now: datetime | None = None) -> CustodyEvent:
    """The lab custodian records that the item was analysed (only items submitted to the lab)."""
    now = now or utcnow()
    data = AnalysisCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    _require_not_quarantined(session, item, "analysed")
    _require_custodian(state, actor, "analysed")
    if not state.lab_submitted:
        raise Conflict("item was not submitted to a lab with consent: submit it first (lab-submission)")
    state.analysed = True
    return _record(session, item, state, CustodyEventKind.ANALYSED, actor, now,
                   data={"custodian": actor.id, "location": state.location, "reason": data.reason,
                         "report_ref": data.report_ref},
                   event={"location": state.location, "reason": data.reason})


def destroy_item(session: Session, *, actor: Actor, item_id: str, data: DestroyCreate,
                 now: datetime | None = None) -> CustodyEvent:
    """Record the item's destruction by its custodian, only once its retention period has ended."""
    now = now or utcnow()
    data = DestroyCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    _require_not_quarantined(session, item, "destroyed")
    if state.status == ItemStatus.CHECKED_IN.value and state.custodian == actor.id:
        pass  # the custodian may destroy straight from storage
    else:
        _require_custodian(state, actor, "destroyed")
    from evidence.items import keep_until

    until, rule = keep_until(session, item)  # the item's date, never earlier than the jurisdiction pack's
    if as_utc(until) > now:
        raise Conflict(f"item must be kept until {until.date().isoformat()}"
                       f"{f' ({rule})' if rule else ''}: it cannot be destroyed before its retention date")
    from evidence.files import has_legal_hold

    if has_legal_hold(session, item.id):
        raise Conflict("a file of this item is under legal hold: lift the hold before destruction")
    state.status = ItemStatus.DESTROYED
    return _record(session, item, state, CustodyEventKind.DESTROYED, actor, now,
                   data={"custodian": actor.id, "location": state.location, "reason": data.reason,
                         "authority_ref": data.authority_ref},
                   event={"location": state.location, "reason": data.reason})


def record_integrity_incident(session: Session, *, actor: Actor, item_id: str, reason: str,
                              data: dict[str, Any] | None = None, source: str = "report",
                              now: datetime | None = None) -> Any:
    """Open an integrity incident for the item: it is quarantined until resolved (evidence.incidents)."""
    from evidence.incidents import IncidentSource, open_incident

    return open_incident(session, actor=actor, item_id=item_id, reason=reason, source=IncidentSource(source),
                         data=data, now=now)


def custody_history(session: Session, item_id: str) -> list[CustodyEvent]:
    """Every custody event of the item, oldest first."""
    get_item(session, item_id)
    return list(session.execute(
        select(CustodyEvent).where(CustodyEvent.item_id == item_id).order_by(CustodyEvent.id)
    ).scalars())
