"""Withdrawal hook (wired by evidence.bootstrap): a withdrawn consent cancels the open offers that rest on it.

An offer rests on the consents its acceptance would need: those of its purpose (a release needs the release
consent, a lab submission the release and lab-testing consents) and those of a move into the receiver's agency
(an offer of ANY purpose to police or prosecution staff needs the release consent; to crime-lab staff, the
release and lab-testing consents: policies.boundary, policies.checkpoint.REQUIREMENTS). Acceptance would be
refused anyway; cancelling at once means the item is not left pending and the receiver no longer sees the
offer. Recorded as TRANSFER_CANCELLED (reason "consent withdrawn: <scope>") by the actor who recorded the
withdrawal, in the withdrawal's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core.actors import Actor
from evidence.custody.gate import PURPOSE_HANDOFF, crossing
from evidence.custody.models import Transfer, TransferPurpose, TransferStatus
from evidence.custody.service import close_locked
from evidence.items import EvidenceItem, ItemCustody, lock_item
from policies.boundary import HANDOFF_INTO, Move
from policies.checkpoint import REQUIREMENTS
from policies.handoffs import ConsentScope, Handoff


def handoffs_of_offer(session: Session, item: EvidenceItem, state: ItemCustody, transfer: Transfer) -> set[Handoff]:
    """The checkpoint handoffs the offer's acceptance would need (its purpose's and the receiver agency's)."""
    found, _ = crossing(session, item=item, receiver=transfer.to_user, move=Move.TRANSFER, state=state)
    return {h for h in (found.handoff, PURPOSE_HANDOFF.get(TransferPurpose(transfer.purpose))) if h is not None}


def rests_on(scope: ConsentScope | str, handoffs: set[Handoff]) -> bool:
    """True when withdrawing `scope` takes away a consent one of `handoffs` requires."""
    return any(str(scope) in {str(s) for s in REQUIREMENTS[h].scopes} for h in handoffs if h in REQUIREMENTS)


def cancel_offers_on_withdrawal(session: Session, case_id: str, scope: str, actor: Actor, now: datetime) -> None:
    """Cancel every open offer of the case's items that rests on the withdrawn consent `scope` (module doc)."""
    if not rests_on(scope, {*PURPOSE_HANDOFF.values(), *HANDOFF_INTO.values()}):
        return  # no offer of any purpose to any receiver rests on this scope
    offers = session.execute(
        select(Transfer).join(EvidenceItem, EvidenceItem.id == Transfer.item_id)
        .where(EvidenceItem.case_id == case_id, Transfer.status == TransferStatus.OFFERED.value)
        .order_by(Transfer.offered_at, Transfer.id)
    ).scalars().all()
    for transfer in offers:
        item, state = lock_item(session, transfer.item_id)
        session.refresh(transfer)
        if transfer.status != TransferStatus.OFFERED.value or state.pending_transfer_id != transfer.id:
            continue
        if not rests_on(scope, handoffs_of_offer(session, item, state, transfer)):
            continue
        close_locked(session, item, state, transfer, actor, now, declined=False,
                     reason=f"consent withdrawn: {scope}", typed=False)  # our words: in clear
