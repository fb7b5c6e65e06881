"""The receiver's inbox: open custody offers addressed to the signed-in user, across cases (officers, lab staff).

Opaque ids, the item's kind, purpose, who offered (username), when and the seal: no survivor data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep, require
from core.actors import Actor
from evidence import custody, texts
from policies.permissions import Permission as P

router = APIRouter(tags=["custody"])


@router.get("/inbox", response_model=list[custody.InboxOffer])
def inbox(session: SessionDep, actor: Actor = require(P.TRANSFER_ACCEPT)) -> list[Any]:
    """The open offers (not yet accepted, declined or cancelled) waiting for you, oldest first."""
    return [texts.show_offer(session, o) for o in custody.open_offers_for(session, actor.id)]
