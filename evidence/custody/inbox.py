"""The receiver's inbox: the open offers (transfers not yet accepted, declined or cancelled) addressed to one
staff member, across cases. Opaque ids, the item's kind, the purpose, who offered it (username) and the seal:
no survivor data and no case details beyond ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from evidence.custody.models import Transfer, TransferPurpose, TransferStatus
from evidence.items import EvidenceItem
from policies.authz import User


class InboxOffer(SQLModel):
    """One open offer waiting for the signed-in receiver."""

    transfer_id: str
    item_id: str
    case_id: str
    item_kind: str
    purpose: TransferPurpose
    from_user: str
    from_username: str | None = None
    offered_at: datetime
    seal_number: str | None = None
    seal_intact: bool | None = None
    reason: str
    condition: str


def open_offers_for(session: Session, user_id: str) -> list[InboxOffer]:
    """Every open offer addressed to `user_id`, oldest first."""
    stmt = (select(Transfer, EvidenceItem.kind, EvidenceItem.case_id, User.username)
            .join(EvidenceItem, EvidenceItem.id == Transfer.item_id)
            .outerjoin(User, User.id == Transfer.from_user)
            .where(Transfer.to_user == user_id, Transfer.status == TransferStatus.OFFERED.value)
            .order_by(Transfer.offered_at, Transfer.id))
    return [InboxOffer(transfer_id=t.id, item_id=t.item_id, case_id=case_id, item_kind=str(kind),
                       purpose=TransferPurpose(t.purpose), from_user=t.from_user, from_username=username,
                       offered_at=t.offered_at, seal_number=t.seal_number, seal_intact=t.seal_intact,
                       reason=t.reason, condition=t.condition)
            for t, kind, case_id, username in session.execute(stmt).all()]
