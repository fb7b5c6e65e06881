"""Custody operations: seal, transfer (offer → accept/decline/cancel), check in/out, scan, analysis, destruction.

Every operation takes the item's current-state row under a lock (`evidence.items.lock_item`: `SELECT ... FOR
UPDATE` on PostgreSQL; on SQLite every writing transaction already began with BEGIN IMMEDIATE), reads its facts
(`state_of`), lets the pure rules (evidence.custody.rules) decide, then writes the state they return (version
+ 1), one append-only `custody_event` row and its ledger entry — all in the caller's transaction, so a refused
operation leaves nothing behind. Moves into another agency's hands pass the gate first (evidence.custody.gate).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.clock import utcnow
from core.crypto import TextPurpose
from core.errors import NotFound, ValidationFailed
from core.ids import is_valid_id, new_id
from core.ledger import EventKind
from evidence.custody import rules
from evidence.custody.gate import accepted_as, check_receiver, leave_centre
from evidence.custody.models import (
    LEDGER_KIND,
    CustodyEvent,
    CustodyEventKind,
    Transfer,
    TransferPurpose,
    TransferStatus,
    add_event,
)
from evidence.custody.rules import CustodyState, ItemStatus, Offer, Purpose
from evidence.custody.schemas import (
    AnalysisCreate,
    CheckInCreate,
    CheckOutCreate,
    SealCreate,
    TransferAccept,
    TransferClose,
    TransferCreate,
)
from evidence.incidents import IncidentSource, open_incident, open_incident_ids
from evidence.items import EvidenceItem, ItemCustody, check_location, get_item, lock_item
from policies.authz import resolve_user
from policies.boundary import Move

# --- the rules' view of the rows, and back ---------------------------------------------------------------

def state_of(session: Session, row: ItemCustody) -> CustodyState:
    """The custody facts of a locked current-state row, with its first open integrity incident."""
    quarantined = open_incident_ids(session, row.item_id)
    seal_number = row.seal_number
    if seal_number is not None:  # a clear seal from before 0023 becomes its commitment on the next write
        seal_number = _kept(session, get_item(session, row.item_id), TextPurpose.SEAL_NUMBER, seal_number)
    return CustodyState(item_id=row.item_id, status=ItemStatus(row.status), custodian=row.custodian,
                        location=row.location, seal_number=seal_number,
                        pending_transfer_id=row.pending_transfer_id, released=bool(row.released),
                        lab_submitted=bool(row.lab_submitted), analysed=bool(row.analysed),
                        quarantined_by=quarantined[0] if quarantined else None)


# Free text (reasons, conditions, seal numbers) is kept sealed in case_text; rows and ledger hold its commitment.
_TEXT_KEYS = {"reason": TextPurpose.REASON, "condition": TextPurpose.CONDITION,
              "seal_number": TextPurpose.SEAL_NUMBER, "previous_seal_number": TextPurpose.SEAL_NUMBER,
              "report_ref": TextPurpose.REFERENCE, "authority_ref": TextPurpose.REFERENCE}


def _kept(session: Session, item: EvidenceItem, purpose: TextPurpose, text: str | None) -> str | None:
    return crypto.keep_value(session, case_id=item.case_id, purpose=purpose, value=text)


def _commit_texts(session: Session, item: EvidenceItem, fields: dict[str, Any],
                  plain: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: _kept(session, item, _TEXT_KEYS[k], v) if k in _TEXT_KEYS and k not in plain and isinstance(v, str)
            else v for k, v in fields.items()}


def _reported(session: Session, item: EvidenceItem, fields: dict[str, Any]) -> dict[str, Any]:
    """Texts reported with an operation, kept; a seal number reported on an erased case cannot be compared
    (no key): it counts as not reported."""
    kept = _commit_texts(session, item, fields)
    if kept.get("seal_number") == crypto.ERASED_TEXT:
        kept["seal_number"] = None
    return kept


def offer_of(transfer: Transfer) -> Offer:
    return Offer(id=transfer.id, status=str(transfer.status), purpose=Purpose(str(transfer.purpose)),
                 from_user=transfer.from_user, to_user=transfer.to_user)


def _apply(row: ItemCustody, new: CustodyState) -> None:
    """Write the state the rules decided onto the locked row (only fields that changed)."""
    for name in ("custodian", "location", "seal_number", "pending_transfer_id", "released", "lab_submitted",
                 "analysed"):
        if getattr(row, name) != getattr(new, name):
            setattr(row, name, getattr(new, name))
    if str(row.status) != new.status.value:
        row.status = new.status


def _record(session: Session, item: EvidenceItem, state: ItemCustody, kind: CustodyEventKind, actor: Actor,
            now: datetime, *, data: dict[str, Any], event: dict[str, Any], ledger_kind: EventKind | None = None,
            plain: tuple[str, ...] = ()) -> CustodyEvent:
    """Save the new state (version + 1), then the ledger entry and the event row, in one transaction."""
    state.version += 1
    state.updated_at = now
    session.add(state)
    session.flush()
    # typed text is kept sealed (its commitment recorded); `plain` fields hold text the system wrote itself
    data = _commit_texts(session, item, {k: v for k, v in data.items() if v is not None}, plain)
    event = _commit_texts(session, item, event, plain)
    data["version"] = state.version
    entry = ledger.append(session, kind=ledger_kind or LEDGER_KIND[kind], actor=actor, case_id=item.case_id,
                          item_id=item.id, at=now, data=data)
    return add_event(session, item_id=item.id, kind=kind, actor=actor, at=now, entry=entry, **event)


def _seal_fields(facts: CustodyState, seal_number: str | None, seal_intact: bool | None) -> dict[str, Any]:
    return {"seal_number": rules.reported_seal(facts, seal_number), "seal_intact": seal_intact}


# --- seal and offers ------------------------------------------------------------------------------------

def seal_item(session: Session, *, actor: Actor, item_id: str, data: SealCreate,
              now: datetime | None = None) -> CustodyEvent:
    """Record the seal put on the item's package by its custodian."""
    now = now or utcnow()
    data = SealCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    facts = state_of(session, state)
    data = data.model_copy(update={"seal_number": _kept(session, item, TextPurpose.SEAL_NUMBER, data.seal_number)})
    new = rules.seal(facts, actor_id=actor.id, seal_number=data.seal_number)
    _apply(state, new)
    return _record(session, item, state, CustodyEventKind.SEALED, actor, now,
                   data={"custodian": state.custodian, "seal_number": data.seal_number, "seal_intact": True,
                         "previous_seal_number": facts.seal_number, "location": state.location},
                   event={"seal_number": data.seal_number, "seal_intact": True, "location": state.location})


def offer_transfer(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                   now: datetime | None = None) -> Transfer:
    """Offer the item to another staff member; custody moves only when they accept."""
    now = now or utcnow()
    data = TransferCreate.model_validate(data.model_dump())
    # People type usernames: `to_user` is a staff id or a username (unknown: 422, nothing recorded).
    data = data.model_copy(update={"to_user": resolve_user(session, data.to_user).id})
    purpose = TransferPurpose(data.purpose)
    item = get_item(session, item_id)
    check_receiver(session, purpose, data.to_user)
    # Before any change in this transaction: a denial commits its own ledger entry. Any purpose: a custody
    # transfer to another agency's staff is a release or lab submission (the receiver's agency decides).
    leave_centre(session, actor=actor, item=item, purpose=purpose, now=now, receiver=data.to_user)
    # The pathway flow (a system actor) may offer a consented release or lab submission on behalf of the
    # custodian: the ledger names the flow as actor and the custodian as from_user; the receiver still accepts.
    on_behalf = rules.offer_on_behalf(is_system=actor.is_system, purpose=Purpose(purpose.value))
    item, state = lock_item(session, item_id)
    facts = state_of(session, state)
    data = data.model_copy(update=_reported(session, item, {
        "reason": data.reason, "condition": data.condition, "seal_number": data.seal_number}))
    from_user = rules.check_offer(facts, actor_id=actor.id, on_behalf=on_behalf, purpose=Purpose(purpose.value),
                                  to_user=data.to_user, seal_number=data.seal_number)
    transfer = Transfer(id=new_id("transfer"), item_id=item.id, purpose=data.purpose, from_user=from_user,
                        to_user=data.to_user, reason=data.reason, condition=data.condition,
                        seal_number=data.seal_number or state.seal_number, seal_intact=data.seal_intact,
                        status=TransferStatus.OFFERED, offered_at=now)
    session.add(transfer)
    session.flush()
    _apply(state, rules.offered(facts, transfer.id))
    seal = _seal_fields(facts, data.seal_number, data.seal_intact)
    _record(session, item, state, CustodyEventKind.TRANSFER_OFFERED, actor, now,
            data={"transfer_id": transfer.id, "purpose": str(data.purpose), "from_user": from_user,
                  "to_user": data.to_user, "custodian": state.custodian, "reason": data.reason,
                  "condition": data.condition, "location": state.location, **seal},
            event={"from_user": from_user, "to_user": data.to_user, "reason": data.reason,
                   "condition": data.condition, "transfer_id": transfer.id, "location": state.location, **seal})
    return transfer


def offer_release(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                  now: datetime | None = None) -> Transfer:
    """Offer the item to a law-enforcement officer (consent checkpoint first; complete on their acceptance)."""
    return offer_transfer(session, actor=actor, item_id=item_id,
                          data=data.model_copy(update={"purpose": TransferPurpose.RELEASE}), now=now)


def offer_lab_submission(session: Session, *, actor: Actor, item_id: str, data: TransferCreate,
                         now: datetime | None = None) -> Transfer:
    """Offer the item to lab staff for testing (consent checkpoint first; complete on their acceptance)."""
    return offer_transfer(session, actor=actor, item_id=item_id,
                          data=data.model_copy(update={"purpose": TransferPurpose.LAB}), now=now)


def get_transfer(session: Session, transfer_id: str) -> Transfer:
    """Return the transfer or raise NotFound."""
    t = session.get(Transfer, transfer_id) if is_valid_id(transfer_id, "transfer") else None
    if t is None:
        raise NotFound(f"no transfer {transfer_id!r}")
    return t


_LEDGER_FOR_ACCEPT = {CustodyEventKind.RELEASED: EventKind.RELEASED, CustodyEventKind.RETURNED: EventKind.RETURNED}


def accept_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferAccept,
                    now: datetime | None = None) -> CustodyEvent:
    """The receiver confirms the handoff (condition, seal); custody passes to them."""
    now = now or utcnow()
    data = TransferAccept.model_validate(data.model_dump())
    transfer = get_transfer(session, transfer_id)
    rules.check_offer_open(offer_of(transfer))
    rules.check_receiver_accepts(offer_of(transfer), actor.id)
    if data.expect_purpose is not None and str(transfer.purpose) != str(data.expect_purpose):
        raise ValidationFailed(f"transfer {transfer.id} is a {transfer.purpose} offer, not a "
                               f"{data.expect_purpose} one: nothing was accepted")
    # The handoff happens now, not at the offer: consent may have been withdrawn in between, so the
    # checkpoint decides again from the consent on record at this instant (before any change here), for a
    # release or lab purpose and for any transfer into another agency's hands.
    leave_centre(session, actor=actor, item=get_item(session, transfer.item_id),
                 purpose=TransferPurpose(transfer.purpose), now=now, receiver=actor.id)
    item, state = lock_item(session, transfer.item_id)
    facts = state_of(session, state)
    rules.check_not_quarantined(facts, "accepted")
    data = data.model_copy(update=_reported(session, item, {"condition": data.condition,
                                                                "seal_number": data.seal_number}))
    session.refresh(transfer)  # read the offer again now that the item row is locked
    purpose = accepted_as(session, item, state, transfer) if transfer.status == TransferStatus.OFFERED.value \
        else TransferPurpose(transfer.purpose)
    new, accepted = rules.accept(facts, offer_of(transfer), actor_id=actor.id, seal_number=data.seal_number,
                                 accepted_as=Purpose(purpose.value))
    kind = CustodyEventKind(accepted.value)
    transfer.status = TransferStatus.ACCEPTED
    transfer.accepted_at = now
    transfer.accept_condition = data.condition
    transfer.accept_seal_intact = data.seal_intact
    session.add(transfer)
    _apply(state, new)
    seal = _seal_fields(facts, data.seal_number, data.seal_intact)
    offered_as = str(transfer.purpose) if purpose.value != transfer.purpose else None
    return _record(session, item, state, kind, actor, now,
                   ledger_kind=_LEDGER_FOR_ACCEPT.get(kind, EventKind.TRANSFER_ACCEPTED),
                   data={"transfer_id": transfer.id, "purpose": str(purpose), "offered_as": offered_as,
                         "from_user": transfer.from_user, "to_user": actor.id, "custodian": actor.id,
                         "reason": transfer.reason, "condition": data.condition, "location": state.location,
                         **seal},
                   event={"from_user": transfer.from_user, "to_user": actor.id, "reason": transfer.reason,
                          "condition": data.condition, "transfer_id": transfer.id, "location": state.location,
                          **seal})


def _close_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose, now: datetime | None,
                    declined: bool) -> CustodyEvent:
    """Close an open offer without a handoff: the item stays with its custodian and can move again."""
    now = now or utcnow()
    data = TransferClose.model_validate(data.model_dump())
    transfer = get_transfer(session, transfer_id)
    item, state = lock_item(session, transfer.item_id)
    session.refresh(transfer)  # read the offer again now that the item row is locked
    rules.close(state_of(session, state), offer_of(transfer), actor_id=actor.id, declined=declined)
    return close_locked(session, item, state, transfer, actor, now, declined=declined, reason=data.reason)


def close_locked(session: Session, item: EvidenceItem, state: ItemCustody, transfer: Transfer, actor: Actor,
                 now: datetime, *, declined: bool, reason: str, typed: bool = True) -> CustodyEvent:
    """Close an open offer whose item row the caller has locked: status, no pending offer, event + ledger.
    `typed=False`: the reason is the system's own words (e.g. "consent withdrawn: <scope>"), kept in clear."""
    transfer.status = TransferStatus.DECLINED if declined else TransferStatus.CANCELLED
    session.add(transfer)
    _apply(state, rules.closed(state_of(session, state)))
    kind = CustodyEventKind.TRANSFER_DECLINED if declined else CustodyEventKind.TRANSFER_CANCELLED
    return _record(session, item, state, kind, actor, now,
                   data={"transfer_id": transfer.id, "purpose": str(transfer.purpose),
                         "from_user": transfer.from_user, "to_user": transfer.to_user, "custodian": state.custodian,
                         "reason": reason, "location": state.location},
                   event={"from_user": transfer.from_user, "to_user": transfer.to_user, "reason": reason,
                          "transfer_id": transfer.id, "location": state.location},
                   plain=() if typed else ("reason",))


def decline_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose,
                     now: datetime | None = None) -> CustodyEvent:
    """The receiver refuses the offered item (e.g. the seal is broken); the custodian keeps it."""
    return _close_transfer(session, actor=actor, transfer_id=transfer_id, data=data, now=now, declined=True)


def cancel_transfer(session: Session, *, actor: Actor, transfer_id: str, data: TransferClose,
                    now: datetime | None = None) -> CustodyEvent:
    """The offering custodian withdraws an open offer (e.g. consent was withdrawn, receiver unavailable)."""
    return _close_transfer(session, actor=actor, transfer_id=transfer_id, data=data, now=now, declined=False)


# --- storage, analysis, destruction ---------------------------------------------------------------------

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
    facts = state_of(session, state)
    data = data.model_copy(update=_reported(session, item, {"seal_number": data.seal_number}))
    _apply(state, rules.check_in(facts, actor_id=actor.id, location=location, seal_number=data.seal_number))
    seal = _seal_fields(facts, data.seal_number, data.seal_intact)
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
    facts = state_of(session, state)
    rules.check_check_out(facts)
    data = data.model_copy(update=_reported(session, item, {"seal_number": data.seal_number}))
    # Checking out makes the actor the custodian: for another agency's staff only an item already handed to
    # their side with consent, and only while the checkpoint still allows it (refusals are ledgered).
    leave_centre(session, actor=actor, item=item, purpose=TransferPurpose.CUSTODY, now=now, receiver=actor.id,
                 move=Move.TAKE, state=state)
    _apply(state, rules.check_out(facts, actor_id=actor.id, seal_number=data.seal_number))
    seal = _seal_fields(facts, data.seal_number, data.seal_intact)
    return _record(session, item, state, CustodyEventKind.CHECKED_OUT, actor, now,
                   data={"from_user": facts.custodian, "to_user": actor.id, "custodian": actor.id,
                         "location": state.location, "reason": data.reason, **seal},
                   event={"from_user": facts.custodian, "to_user": actor.id, "location": state.location,
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
    _apply(state, rules.analyse(state_of(session, state), actor_id=actor.id))
    return _record(session, item, state, CustodyEventKind.ANALYSED, actor, now,
                   data={"custodian": actor.id, "location": state.location, "reason": data.reason,
                         "report_ref": data.report_ref},
                   event={"location": state.location, "reason": data.reason})


def record_destruction(session: Session, *, actor: Actor, item: EvidenceItem, state: ItemCustody,
                       acting_custodian: str, proposal_id: int, proposed_by: str, reason: str, authority_ref: str,
                       now: datetime) -> CustodyEvent:
    """The destruction itself, on an item whose row the caller locked. Only the second of two people reaches it,
    through evidence.destruction.approve_destruction, which has checked retention, hold and notice first."""
    facts = state_of(session, state)
    _apply(state, rules.destroy(facts, actor_id=acting_custodian))
    return _record(session, item, state, CustodyEventKind.DESTROYED, actor, now,
                   data={"custodian": facts.custodian, "location": state.location, "reason": reason,
                         "authority_ref": authority_ref, "proposal": proposal_id, "proposed_by": proposed_by,
                         "approved_by": actor.id},
                   event={"location": state.location, "reason": reason})


def record_integrity_incident(session: Session, *, actor: Actor, item_id: str, reason: str,
                              data: dict[str, Any] | None = None, source: str = "report",
                              now: datetime | None = None) -> Any:
    """Open an integrity incident for the item: it is quarantined until resolved (evidence.incidents)."""
    return open_incident(session, actor=actor, item_id=item_id, reason=reason, source=IncidentSource(source),
                         data=data, now=now)


def custody_history(session: Session, item_id: str) -> list[CustodyEvent]:
    """Every custody event of the item, oldest first."""
    get_item(session, item_id)
    return list(session.execute(
        select(CustodyEvent).where(CustodyEvent.item_id == item_id).order_by(CustodyEvent.id)
    ).scalars())
