"""Guessing guard of the survivor's status lookup: one credential check doing the same work on every path,
failures counted per card and the card locked after too many; the centre reissues a card (old codes revoked).

Equal answers: an unknown code, a wrong password, a locked card and a revoked card all give `None` from
`check_credentials` after the same scrypt work and the same UPDATE statement (zero rows for an unknown code), so
neither the answer nor the work tells them apart. Per-address and per-code throttling (a sliding window) is
the API's (api.ratelimit); this module keeps what must outlive a restart: the failure count and the lock.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from core import ledger
from core.actors import Actor, system_actor
from core.clock import utcnow
from core.ids import is_valid_id, new_id
from core.ledger import EventKind
from evidence.items import get_item
from evidence.lookup_models import DUMMY_HASH, KitLookup, hash_password
from policies import checkpoint
from policies.handoffs import Handoff

GUARD = system_actor("status-page")


def credential_digest(password: str, row: KitLookup | None) -> tuple[bytes, bytes]:
    """(computed, expected) digests: the card's hash, or the dummy hash when there is no card (same work)."""
    salt, expected = (bytes(row.salt), bytes(row.password_hash)) if row is not None else \
        (DUMMY_HASH.salt, DUMMY_HASH.digest)
    return hash_password(password, salt).digest, expected


def check_credentials(session: Session, *, code: str, password: str, max_failures: int,
                      now: datetime | None = None) -> KitLookup | None:
    """The card for a valid, usable code + password, else None (unknown code, wrong password, locked, revoked:
    one answer). A failure counts against the code and locks the card at `max_failures` failures in a row
    (recorded on the ledger); a success resets the count. Flushes; the caller commits (also on failure)."""
    now = now or utcnow()
    row = session.get(KitLookup, code) if is_valid_id(code, "lookup") else None
    computed, expected = credential_digest(password, row)
    matches = hmac.compare_digest(computed, expected)
    usable = row is not None and row.locked_at is None and row.revoked_at is None
    if matches and usable:
        if row.failed_attempts:
            row.failed_attempts = 0
            session.add(row)
            session.flush()
        return row
    # The same one statement whether or not the code exists (it matches no row for an unknown one).
    failures = session.execute(
        update(KitLookup).where(KitLookup.code == code)
        .values(failed_attempts=KitLookup.failed_attempts + 1).returning(KitLookup.failed_attempts)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    if row is not None and failures is not None:
        set_committed_value(row, "failed_attempts", failures)
        if row.locked_at is None and failures >= max_failures:
            row.locked_at = now
            session.add(row)
            session.flush()
            ledger.append(session, kind=EventKind.STATUS_LOOKUP_LOCKED, actor=GUARD, case_id=get_item(
                session, row.item_id).case_id, item_id=row.item_id, at=now,
                data={"failures": int(row.failed_attempts)})
    return None


def issue_card(session: Session, *, actor: Actor, item_id: str, now: datetime | None = None) -> tuple[str, str]:
    """A new card for the item: a fresh code and temporary password (consent checkpoint first); every earlier
    card of the item stops working (revoked). Returns (code, password); only their hash is kept. The ledger
    records that a card was issued and how many were revoked, never the code."""
    now = now or utcnow()
    item = get_item(session, item_id)
    checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.STATUS_LOOKUP_ENROL, actor=actor, now=now,
                       subject={"item_id": item.id})
    active = session.exec(select(KitLookup).where(KitLookup.item_id == item.id,
                                                  KitLookup.revoked_at.is_(None))).all()  # type: ignore[union-attr]
    for old in active:
        old.revoked_at = now
        session.add(old)
    code, password = new_id("lookup"), secrets.token_urlsafe(12)
    h = hash_password(password)
    session.add(KitLookup(code=code, item_id=item.id, salt=h.salt, password_hash=h.digest, enrolled_at=now,
                          enrolled_by=actor.id))
    session.flush()
    ledger.append(session, kind=EventKind.STATUS_CARD_ISSUED, actor=actor, case_id=item.case_id, item_id=item.id,
                  at=now, data={"revoked": len(active)})
    return code, password
