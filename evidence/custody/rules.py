"""The custody state machine, pure: which transition is allowed from which state and by whom, and the next state.

`CustodyState` holds the facts of an item's current-state row (`item_custody`) plus whether an open integrity
incident quarantines it; each `check_*` function raises the domain error the operation refuses with (the same
messages the API returns), and each transition function returns the next state. The services in
`evidence.custody.service` lock the row, build the state (`state_of`), call these functions and write what they
return: these rules ARE the behaviour. No Session, no SQLAlchemy here (tests/unit/test_custody_rules.py).

Statuses: held (in someone's hands) → checked-in (stored; only check-out, or destruction by its custodian,
moves it) → held/released/at-lab; destroyed is terminal. An open offer (`pending_transfer_id`) freezes the item
until it is accepted, declined or cancelled. `released` and `lab_submitted` change only on the acceptance of a
release/lab handoff (and `released` is cleared by the acceptance of a return).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from core.errors import Conflict, PermissionDenied, ValidationFailed

RESOLVERS = "an auditor or a coordinator"


class ItemStatus(StrEnum):
    """Where an item is in its lifecycle (the current-state row's status)."""

    HELD = "held"  # in a person's hands
    CHECKED_IN = "checked-in"  # stored at a location (evidence store, lab shelf)
    RELEASED = "released"  # handed to law enforcement (held by the officer who accepted)
    AT_LAB = "at-lab"  # accepted by the lab for testing
    DESTROYED = "destroyed"


class Purpose(StrEnum):
    """Why an item changes hands (the same values as evidence.custody.models.TransferPurpose)."""

    CUSTODY = "custody"
    RELEASE = "release"
    LAB = "lab"
    RETURN = "return"


class Accepted(StrEnum):
    """What an accepted handoff is recorded as (evidence.custody.models.CustodyEventKind values)."""

    TRANSFER_ACCEPTED = "transfer-accepted"
    RELEASED = "released"
    SUBMITTED_TO_LAB = "submitted-to-lab"
    RETURNED = "returned"


@dataclass(frozen=True)
class CustodyState:
    """The custody facts of one item at one instant."""

    item_id: str
    status: ItemStatus
    custodian: str
    location: str | None = None
    seal_number: str | None = None
    pending_transfer_id: str | None = None
    released: bool = False
    lab_submitted: bool = False
    analysed: bool = False
    quarantined_by: int | None = None  # the first open integrity incident, if any


@dataclass(frozen=True)
class Offer:
    """The facts of one transfer offer that the rules read."""

    id: str
    status: str  # TransferStatus value
    purpose: Purpose
    from_user: str
    to_user: str


# --- guards -------------------------------------------------------------------------------------------

def quarantine_refusal(item_id: str, incident_id: int, action: str) -> Conflict:
    """The error for any guarded action on an item that an open integrity incident quarantines."""
    return Conflict(f"item {item_id} is quarantined by integrity incident {incident_id}: it cannot be {action} "
                    f"until {RESOLVERS} resolves the incident with a recorded finding "
                    f"(POST /items/{item_id}/integrity-incidents/{incident_id}/resolve)")


def check_not_quarantined(state: CustodyState, action: str) -> None:
    if state.quarantined_by is not None:
        raise quarantine_refusal(state.item_id, state.quarantined_by, action)


def check_custodian(state: CustodyState, actor_id: str, action: str, *, on_behalf: bool = False) -> None:
    """Only the custodian (or the pathway on their behalf) moves a held item that has no open offer."""
    if state.status is ItemStatus.DESTROYED:
        raise Conflict(f"item was destroyed: it cannot be {action}")
    if state.status is ItemStatus.CHECKED_IN:
        raise Conflict(f"item is checked in at {state.location}: check it out before it can be {action}")
    if state.custodian != actor_id and not on_behalf:
        raise PermissionDenied(f"only the item's custodian ({state.custodian}) can have it {action}")
    if state.pending_transfer_id:
        raise Conflict(f"transfer {state.pending_transfer_id} of this item is awaiting acceptance")


def check_seal(state: CustodyState, seal_number: str | None) -> None:
    """A seal number reported at a handoff must match the recorded seal (both are the seal's commitment, as
    evidence.custody.service keeps seal numbers: the message names neither)."""
    if seal_number is not None and state.seal_number is None:
        raise ValidationFailed("the item has no recorded seal: seal it first, or leave seal_number out")
    if seal_number is not None and seal_number != state.seal_number:
        raise ValidationFailed(
            "the seal number given does not match the recorded seal of the item (see `coc custody history`): do "
            "not accept the item; report an integrity incident if the seal was changed")


def reported_seal(state: CustodyState, seal_number: str | None) -> str | None:
    """The seal number recorded with an event: the one reported, else the item's."""
    return seal_number if seal_number is not None else state.seal_number


# --- seal -----------------------------------------------------------------------------------------------

def seal(state: CustodyState, *, actor_id: str, seal_number: str) -> CustodyState:
    # A new seal on a quarantined item would cover the very package the incident is about.
    check_not_quarantined(state, "re-sealed")
    check_custodian(state, actor_id, "sealed")
    if state.seal_number == seal_number:
        raise Conflict("item is already sealed with that seal number")
    return replace(state, seal_number=seal_number)


# --- offers ---------------------------------------------------------------------------------------------

def offer_on_behalf(*, is_system: bool, purpose: Purpose) -> bool:
    """The pathway flow (a system actor) may offer a consented release or lab submission on the custodian's
    behalf; any other offer by a system process is refused. Returns whether the offer is on behalf."""
    on_behalf = is_system and purpose in (Purpose.RELEASE, Purpose.LAB)
    if is_system and not on_behalf:
        raise PermissionDenied("a system process may only offer consented releases and lab submissions")
    return on_behalf


def check_offer(state: CustodyState, *, actor_id: str, on_behalf: bool, purpose: Purpose, to_user: str,
                seal_number: str | None) -> str:
    """May the item be offered now? Returns who offers it (the custodian when the pathway offers for them)."""
    check_not_quarantined(state, "offered to anyone")
    check_custodian(state, actor_id, "transferred", on_behalf=on_behalf)
    from_user = state.custodian if on_behalf else actor_id
    if to_user == from_user:
        raise ValidationFailed("an item cannot be transferred to its own custodian")
    if purpose is Purpose.RETURN and not (state.released or state.lab_submitted):
        raise Conflict("only an item released to law enforcement or submitted to a lab can be returned")
    check_seal(state, seal_number)
    return from_user


def offered(state: CustodyState, transfer_id: str) -> CustodyState:
    return replace(state, pending_transfer_id=transfer_id)


def check_offer_open(offer: Offer, state: CustodyState | None = None) -> None:
    """The offer is still open (and, once the item is locked, still the item's pending one)."""
    if offer.status != "offered" or (state is not None and state.pending_transfer_id != offer.id):
        raise Conflict(f"transfer {offer.id} is no longer open (status {offer.status})")


def check_receiver_accepts(offer: Offer, actor_id: str) -> None:
    if offer.to_user != actor_id:
        raise PermissionDenied(f"transfer {offer.id} was offered to {offer.to_user}; only they can accept it")


_ACCEPT_RESULT = {
    Purpose.CUSTODY: (Accepted.TRANSFER_ACCEPTED, ItemStatus.HELD),
    Purpose.RELEASE: (Accepted.RELEASED, ItemStatus.RELEASED),
    Purpose.LAB: (Accepted.SUBMITTED_TO_LAB, ItemStatus.AT_LAB),
    Purpose.RETURN: (Accepted.RETURNED, ItemStatus.HELD),
}


def accept(state: CustodyState, offer: Offer, *, actor_id: str, seal_number: str | None,
           accepted_as: Purpose) -> tuple[CustodyState, Accepted]:
    """The receiver takes the item: `accepted_as` is what the handoff completes (a custody transfer into another
    agency's hands is a release or lab submission: evidence.custody.gate.accepted_as)."""
    check_not_quarantined(state, "accepted")
    check_offer_open(offer, state)
    check_receiver_accepts(offer, actor_id)
    check_seal(state, seal_number)
    kind, status = _ACCEPT_RESULT[accepted_as]
    released, lab_submitted = state.released, state.lab_submitted
    if accepted_as is Purpose.LAB:
        lab_submitted = True
    elif accepted_as is Purpose.RELEASE:
        released = True
    elif accepted_as is Purpose.RETURN:
        released = False  # back at the centre: law enforcement needs a new release to take it again
    return replace(state, custodian=actor_id, status=status, pending_transfer_id=None, released=released,
                   lab_submitted=lab_submitted), kind


def close(state: CustodyState, offer: Offer, *, actor_id: str, declined: bool) -> CustodyState:
    """Decline (the receiver) or cancel (the offering custodian) an open offer: the custodian keeps the item."""
    check_offer_open(offer, state)
    if declined and offer.to_user != actor_id:
        raise PermissionDenied(f"transfer {offer.id} was offered to {offer.to_user}; only they can decline it")
    if not declined and actor_id not in (offer.from_user, state.custodian):
        raise PermissionDenied(f"only the offering custodian ({offer.from_user}) can cancel transfer "
                               f"{offer.id}; the receiver can decline it")
    return closed(state)


def closed(state: CustodyState) -> CustodyState:
    """The item after its open offer ended (declined, cancelled, or cancelled by a consent withdrawal)."""
    return replace(state, pending_transfer_id=None)


# --- storage --------------------------------------------------------------------------------------------

def check_in(state: CustodyState, *, actor_id: str, location: str, seal_number: str | None) -> CustodyState:
    if state.status is ItemStatus.CHECKED_IN:
        raise Conflict(f"item is already checked in at {state.location} (by {state.custodian})")
    check_custodian(state, actor_id, "checked in")
    check_seal(state, seal_number)
    return replace(state, status=ItemStatus.CHECKED_IN, location=location)


def check_check_out(state: CustodyState) -> None:
    """May the item be taken from storage (before the boundary gate decides who may take it)?"""
    check_not_quarantined(state, "checked out")
    if state.status is ItemStatus.DESTROYED:
        raise Conflict("item was destroyed: it cannot be checked out")
    if state.status is not ItemStatus.CHECKED_IN:
        raise Conflict(f"item is not checked in: it is held by {state.custodian}"
                       + (f" at {state.location}" if state.location else ""))


def check_out(state: CustodyState, *, actor_id: str, seal_number: str | None) -> CustodyState:
    """The taker becomes custodian; the item goes back to the status it had before storage (at the lab stays at
    the lab, released stays released). Call check_check_out (and the gate) first."""
    check_check_out(state)
    check_seal(state, seal_number)
    if state.released:
        status = ItemStatus.RELEASED
    elif state.lab_submitted and not state.analysed:
        status = ItemStatus.AT_LAB
    else:
        status = ItemStatus.HELD
    return replace(state, custodian=actor_id, status=status)


# --- analysis and destruction ---------------------------------------------------------------------------

def analyse(state: CustodyState, *, actor_id: str) -> CustodyState:
    check_not_quarantined(state, "analysed")
    check_custodian(state, actor_id, "analysed")
    if not state.lab_submitted:
        raise Conflict("item was not submitted to a lab with consent: submit it first (lab-submission)")
    return replace(state, analysed=True)


def check_destroy(state: CustodyState, *, actor_id: str) -> None:
    """Custody side of destruction (retention and legal hold are decided by the service from the records)."""
    check_not_quarantined(state, "destroyed")
    if state.status is ItemStatus.CHECKED_IN and state.custodian == actor_id:
        return  # the custodian may destroy straight from storage
    check_custodian(state, actor_id, "destroyed")


def destroy(state: CustodyState, *, actor_id: str) -> CustodyState:
    check_destroy(state, actor_id=actor_id)
    return replace(state, status=ItemStatus.DESTROYED)
