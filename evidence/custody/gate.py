"""The custody boundary: the one gate for every move into another agency's hands, and who may receive an item.

Every move that puts an item in the hands of another agency's staff (transfer offer and acceptance of any
purpose, check-out, scan) passes `leave_centre`: the receiver's agency decides (policies.boundary), and the
consent checkpoint decides first; a refusal there is committed to the ledger before the error is raised.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.db import commit_early
from core.errors import PermissionDenied, ValidationFailed
from core.ledger import EventKind
from evidence.custody.models import Transfer, TransferPurpose
from evidence.items import EvidenceItem, ItemCustody, ItemKind
from policies import checkpoint
from policies.agencies import AgencyKind
from policies.authz import get_user, user_agency_kind
from policies.boundary import Crossing, CustodyFacts, Entry, Move, decide_move
from policies.handoffs import Handoff
from policies.permissions import Role

# The consent a purpose needs whoever the receiver is (a custody transfer needs one only across the boundary).
PURPOSE_HANDOFF = {TransferPurpose.RELEASE: Handoff.RELEASE_LAW_ENFORCEMENT,
                   TransferPurpose.LAB: Handoff.LAB_TESTING}


def crossing(session: Session, *, item: EvidenceItem, receiver: str, move: Move,
             state: ItemCustody | None = None) -> tuple[Crossing, AgencyKind]:
    """The boundary rule (policies.boundary) for moving `item` into `receiver`'s hands, from the receiver's
    agency and the item's custody facts (`state`, or the current row read now)."""
    kind = user_agency_kind(session, receiver)
    if kind is None:
        raise PermissionDenied(f"no staff account {receiver}: evidence goes only to staff with an account")
    state = state if state is not None else session.get(ItemCustody, item.id)
    holder = user_agency_kind(session, state.custodian) if state is not None else None
    facts = CustodyFacts(released=bool(state is not None and state.released),
                         lab_submitted=bool(state is not None and state.lab_submitted), holder=holder)
    return decide_move(facts, kind, move), kind


def leave_centre(session: Session, *, actor: Actor, item: EvidenceItem, purpose: TransferPurpose,
                 now: datetime, receiver: str | None = None, move: Move = Move.TRANSFER,
                 state: ItemCustody | None = None) -> Crossing | None:
    """The one gate for moves into another agency's hands (and for consented release/lab purposes).

    Decides from the receiver's agency (policies.boundary): a move the rule refuses is recorded
    (custody:boundary:refused, committed like a checkpoint denial) and raises PermissionDenied; otherwise the
    consent checkpoint decides every handoff the receiver's agency or the declared purpose needs (a denial is
    committed and raises ConsentRequired). Call it before any other change in the transaction.
    """
    found, kind = (None, None) if receiver is None else crossing(session, item=item, receiver=receiver,
                                                                 move=move, state=state)
    if found is not None and found.refused:
        data = {"to_user": receiver, "to_agency_kind": str(kind), "move": str(move), "reason": found.refused}
        if found.handoff is not None:
            data["handoff"] = str(found.handoff)
        ledger.append(session, kind=EventKind.BOUNDARY_REFUSED, actor=actor, case_id=item.case_id, item_id=item.id,
                      at=now, data=data)
        commit_early(session, "the refused attempt must be on record even though the move will not happen")
        raise PermissionDenied(found.refused)
    handoffs = [h for h in (found.handoff if found else None, PURPOSE_HANDOFF.get(purpose)) if h is not None]
    for handoff in dict.fromkeys(handoffs):
        subject = {"item_id": item.id, "item_kind": str(item.kind)}
        if kind is not None:
            subject.update(to_agency_kind=str(kind), move=str(move))
        if item.kind == ItemKind.PHOTOGRAPH.value:
            # A photograph that leaves the centre is shared: its own (withdrawable) photography consent must
            # hold too, not only the release or testing consent.
            if item.photo_consent_withdrawn:
                raise PermissionDenied("photography consent was withdrawn: this photograph cannot leave the centre")
            checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.PHOTO_VIEW, actor=actor, now=now,
                               subject={**subject, "for": str(handoff)})
        checkpoint.enforce(session, case_id=item.case_id, handoff=handoff, actor=actor, now=now, subject=subject)
    return found


def check_receiver(session: Session, purpose: TransferPurpose, to_user: str) -> None:
    """Who may receive the item for this purpose, from their account alone (before any checkpoint decision).

    Releases go to law enforcement, lab submissions to lab staff (the centre's own or a crime lab's), returns
    back to the centre's staff. Whether the move crosses the centre's boundary follows from the receiver's
    agency, not from the purpose (leave_centre).
    """
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


def accepted_as(session: Session, item: EvidenceItem, state: ItemCustody, transfer: Transfer) -> TransferPurpose:
    """What an accepted transfer is recorded as: a custody transfer into another agency's hands is a release
    (police, prosecution) or a lab submission (crime lab), decided from the locked state."""
    purpose = TransferPurpose(transfer.purpose)
    if purpose is not TransferPurpose.CUSTODY:
        return purpose
    found, _ = crossing(session, item=item, receiver=transfer.to_user, move=Move.TRANSFER, state=state)
    return {Entry.RELEASE: TransferPurpose.RELEASE, Entry.LAB: TransferPurpose.LAB}.get(found.entry, purpose)


