"""Whose hands an item passed through, read from the custody entries of the ledger (policies may not import
evidence): every offer (to whom, for what, when, and whether and when the receiver accepted it) and who holds
the item now. Used to show agency staff their own deadlines (alerts) and to hold each receiving agency to its
deadlines (policies.deadlines.compliance).

Entries as evidence.custody writes them: custody:transfer:offered (data transfer_id, purpose, to_user),
custody:transfer:accepted / custody:item:released / custody:item:returned (data transfer_id, to_user,
custodian), custody:transfer:declined / cancelled (data transfer_id); any custody entry's data "custodian"
names the holder after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core.clock import as_utc
from core.ledger import EventKind, LedgerEntry

_ACCEPTED = (EventKind.TRANSFER_ACCEPTED, EventKind.RELEASED, EventKind.RETURNED)
_CLOSED = (EventKind.TRANSFER_DECLINED, EventKind.TRANSFER_CANCELLED)


@dataclass
class Handoff:
    """One offer of an item to a receiver, and its outcome (the receiver's acceptance is the acknowledgement)."""

    transfer_id: str
    item_id: str
    case_id: str | None
    purpose: str
    to_user: str
    offered_at: datetime
    accepted_at: datetime | None = None
    closed_at: datetime | None = None  # declined or cancelled
    outcome: str = "open"  # open | accepted | declined | cancelled


@dataclass
class ItemHands:
    """An item's handoffs in ledger order and its custodian after the last entry read."""

    item_id: str
    case_id: str | None = None
    kind: str | None = None
    custodian: str | None = None
    handoffs: list[Handoff] = field(default_factory=list)


def read_hands(session: Session, *, case_id: str | None = None, upto: datetime | None = None) -> dict[str, ItemHands]:
    """Every item's hands (of one case, or of all), from custody and collection entries up to `upto`."""
    stmt = (select(LedgerEntry.kind, LedgerEntry.case_id, LedgerEntry.item_id, LedgerEntry.recorded_at,
                   LedgerEntry.body)
            .where(LedgerEntry.item_id.is_not(None))  # type: ignore[union-attr]
            .where((LedgerEntry.kind.like("custody:%")) | (LedgerEntry.kind == EventKind.ITEM_COLLECTED))
            .order_by(LedgerEntry.seq))
    if case_id is not None:
        stmt = stmt.where(LedgerEntry.case_id == case_id)
    items: dict[str, ItemHands] = {}
    offers: dict[str, Handoff] = {}
    for kind, entry_case, item_id, recorded_at, body in session.execute(stmt).all():
        at = as_utc(recorded_at)
        if upto is not None and at > upto:
            continue
        data = json.loads(bytes(body)).get("data") or {}
        hands = items.setdefault(item_id, ItemHands(item_id=item_id, case_id=entry_case))
        if kind == EventKind.ITEM_COLLECTED:
            hands.kind = data.get("item_kind")
        if data.get("custodian"):
            hands.custodian = data["custodian"]
        tid = data.get("transfer_id")
        if kind == EventKind.TRANSFER_OFFERED and tid and data.get("to_user"):
            offers[tid] = Handoff(transfer_id=tid, item_id=item_id, case_id=entry_case,
                                  purpose=str(data.get("purpose") or ""), to_user=data["to_user"], offered_at=at)
            hands.handoffs.append(offers[tid])
        elif kind in _ACCEPTED and tid in offers:
            offers[tid].accepted_at, offers[tid].outcome = at, "accepted"
            if data.get("purpose"):
                offers[tid].purpose = str(data["purpose"])  # accepted as (e.g. a transfer that became a release)
        elif kind in _CLOSED and tid in offers:
            offers[tid].closed_at = at
            offers[tid].outcome = "declined" if kind == EventKind.TRANSFER_DECLINED else "cancelled"
    return items


def items_in_hands_of(session: Session, user_id: str) -> list[str]:
    """Ids of the items `user_id` holds now or that were offered to them (open or accepted offers)."""
    out = []
    for item_id, hands in read_hands(session).items():
        if hands.custodian == user_id or any(h.to_user == user_id and h.outcome in ("open", "accepted")
                                             for h in hands.handoffs):
            out.append(item_id)
    return sorted(out)
