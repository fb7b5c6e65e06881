"""Reads of the free text kept out of the ledger (core.crypto.texts): rows hold a commitment, the API shows the
text (decrypted under the case key; "[erased]" after a lawful erasure; a clear value from before 0023 as it is).

One function per shape the API returns: items, custody events, transfers, open offers, files.
"""

from __future__ import annotations

from sqlmodel import Session

from core.crypto import show_text
from evidence.custody.inbox import InboxOffer
from evidence.custody.models import CustodyEvent, Transfer
from evidence.custody.schemas import CustodyEventPublic, TransferPublic
from evidence.files import EvidenceFile, EvidenceFilePublic
from evidence.items import EvidenceItemPublic, get_item

EVENT_TEXTS = ("reason", "condition", "seal_number")


def _case_of(session: Session, item_id: str) -> str:
    return get_item(session, item_id).case_id


def show_item(session: Session, item: EvidenceItemPublic) -> EvidenceItemPublic:
    """An item as shown: its description, current seal number and late justification as text."""
    return item.model_copy(update={"description": show_text(session, item.case_id, item.description),
                                   "seal_number": show_text(session, item.case_id, item.seal_number),
                                   "late_justification": show_text(session, item.case_id,
                                                                   item.late_justification)})


def show_event(session: Session, event: CustodyEvent | CustodyEventPublic) -> CustodyEventPublic:
    """A custody event as shown: reason, condition and seal number as text."""
    public = CustodyEventPublic.model_validate(event, from_attributes=True)
    case_id = _case_of(session, public.item_id)
    return public.model_copy(update={k: show_text(session, case_id, getattr(public, k)) for k in EVENT_TEXTS})


def show_events(session: Session, events: list[CustodyEvent]) -> list[CustodyEventPublic]:
    return [show_event(session, e) for e in events]


def show_offer(session: Session, offer: InboxOffer) -> InboxOffer:
    """An open offer as shown to its receiver."""
    return offer.model_copy(update={k: show_text(session, offer.case_id, getattr(offer, k)) for k in EVENT_TEXTS})


def show_file(session: Session, row: EvidenceFile) -> EvidenceFilePublic:
    """A file as shown: its original name as text."""
    public = EvidenceFilePublic.model_validate(row, from_attributes=True)
    return public.model_copy(update={"original_name": show_text(session, _case_of(session, row.item_id),
                                                                public.original_name)})


def show_transfer(session: Session, transfer: Transfer) -> TransferPublic:
    """A transfer offer as shown: reason, condition and seal number as text."""
    public = TransferPublic.model_validate(transfer, from_attributes=True)
    case_id = _case_of(session, public.item_id)
    return public.model_copy(update={k: show_text(session, case_id, getattr(public, k)) for k in EVENT_TEXTS})
