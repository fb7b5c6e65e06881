"""Visibility before state: may the caller see the item, transfer or contact request a request names? Decided
before anything else about the object (its case, its custody state), and a hidden object answers exactly as a
missing one.

Why: a state error (409 "held by X at Y", 403 "not assigned to this case") about an object the caller may not
see tells them it exists, and sometimes where it is and who holds it. api.deps.Authorized calls
`require_visible` right after the role check (which says nothing about ids), so every item- or transfer-addressed
route does it, whatever its service checks later. The NotFound carries the missing object's own message and is
marked `concealed` and carries the real refusal, so the refused attempt is still recorded with its true reason
(api.refusals); the answer says nothing more than a missing id's.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.actors import Actor
from core.errors import NotFound, PermissionDenied
from evidence import contact_requests, custody, items


def require_visible(session: Session, actor: Actor, params: dict[str, Any]) -> None:
    """NotFound, worded as for an unknown id, when the path's transfer or item is hidden from `actor`."""
    transfer_id = params.get("transfer_id")
    if transfer_id is not None:
        transfer = custody.get_transfer(session, str(transfer_id))
        if actor.id in (transfer.from_user, transfer.to_user):
            return  # the two parties of a transfer see it
        try:
            custody.require_item_visible(session, actor=actor, item_id=transfer.item_id)
        except PermissionDenied as refusal:
            # the words of custody.get_transfer for an unknown id (the test compares both answers)
            raise NotFound(f"no transfer {str(transfer_id)!r}", concealed=True, refusal=refusal) from None
    request_seq = params.get("request_seq")
    if request_seq is not None and str(request_seq).isdigit():  # (not a number: the route's 422)
        # a survivor's contact request: staff assigned to its case, and coordinators, see it
        contact_requests.visible_request(session, actor=actor, seq=int(str(request_seq)))
    item_id = params.get("item_id")
    if item_id is not None:
        items.get_item(session, str(item_id))
        try:
            custody.require_item_visible(session, actor=actor, item_id=str(item_id))
        except PermissionDenied as refusal:
            # the words of items.get_item for an unknown id (the test compares both answers)
            raise NotFound(f"no evidence item {str(item_id)!r}: check the id on the label", concealed=True,
                           refusal=refusal) from None
