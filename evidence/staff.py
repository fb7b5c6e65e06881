"""Changing a staff account where custody is concerned: an account that holds evidence, or has evidence offered
to it, cannot move to another agency. Moving it would carry the evidence across the centre's boundary without a
handoff (no consent checkpoint, no custody entry): transfer the items (or cancel the offers) first.

Deactivation is never blocked here: a compromised or departed account must be stoppable at once; its items stay
recorded with it until a coordinator has them transferred.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from core.actors import Actor
from core.errors import Conflict
from evidence.custody import Transfer, TransferStatus
from evidence.items import ItemCustody, ItemStatus
from policies.authz import User, UserUpdate, get_user, update_user


def custody_holdings(session: Session, user_id: str) -> tuple[int, int]:
    """(items the user holds now, open offers addressed to them)."""
    held = session.execute(select(func.count()).select_from(ItemCustody).where(
        ItemCustody.custodian == user_id, ItemCustody.status != ItemStatus.DESTROYED.value)).scalar_one()
    offered = session.execute(select(func.count()).select_from(Transfer).where(
        Transfer.to_user == user_id, Transfer.status == TransferStatus.OFFERED.value)).scalar_one()
    return held, offered


def change_staff(session: Session, *, actor: Actor, user_id: str, change: UserUpdate,
                 now: datetime | None = None) -> User:
    """`policies.authz.update_user`, refused (Conflict) when it would move an account holding evidence, or with
    evidence offered to it, into another agency. The API's PATCH /admin/users/{id} calls this."""
    before = get_user(session, user_id).agency_id
    user = update_user(session, actor=actor, user_id=user_id, change=change, now=now)
    if user.agency_id != before:
        held, offered = custody_holdings(session, user.id)
        if held or offered:
            raise Conflict(f"{user.username} holds {held} item(s) and has {offered} open offer(s): moving them to "
                           "another agency would take that evidence across the centre's boundary without a handoff; "
                           "transfer the items (or cancel the offers) first")
    return user
