"""Survivors' "please contact me about my kit" requests: who sees them, and closing one with its outcome.

A request is the ledger entry the status page wrote (evidence.lookup_page.request_contact, kind
STATUS_CONTACT_REQUESTED); closing it is one more ledger entry (STATUS_CONTACT_HANDLED: the request's seq, a
closed outcome, the staff id), so nothing here has a table of its own. Visibility (rules.may_see) is decided
before anything else about a request: a request of a case the caller may not see answers exactly as a missing
one (NotFound marked `concealed`, carrying the real refusal and the case, so api.refusals records the attempt).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, select

from core import ledger
from core.actors import Actor
from core.cases import Case
from core.clock import utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.ledger import EventKind, LedgerEntry
from evidence.contact_requests.rules import (
    ContactOutcome,
    Handling,
    RequestState,
    handled_index,
    handling_data,
    may_see,
    sees_every_case,
)
from evidence.contact_requests.shapes import ContactRequestPublic
from policies import authz
from policies.authz import User
from policies.permissions import Permission, role_allows

LIMIT_MAX = 1000
SEQ_MAX = 2**31 - 1  # ledger_entry.seq is an INTEGER column: a larger number is no entry (never a query error)


def visible_case_ids(session: Session, actor: Actor) -> list[str] | None:
    """The cases whose requests `actor` sees: None = every case (a coordinator)."""
    return None if sees_every_case(actor.role) else authz.assigned_case_ids(session, actor.id)


def _missing(seq: int) -> str:
    return f"no contact request {seq}: check the number in `coc evidence contact-requests`"


def get_request(session: Session, seq: int) -> LedgerEntry:
    """The request entry numbered `seq` (NotFound for any other seq, whatever entry it is)."""
    entry = session.get(LedgerEntry, int(seq)) if 0 < int(seq) <= SEQ_MAX else None
    if entry is None or entry.kind != EventKind.STATUS_CONTACT_REQUESTED.value or entry.case_id is None:
        raise NotFound(_missing(seq))
    return entry


def visible_request(session: Session, *, actor: Actor, seq: int) -> LedgerEntry:
    """The request, if `actor` may see it; a hidden one answers exactly as a missing one."""
    entry = get_request(session, seq)
    case_id = str(entry.case_id)
    if not may_see(actor.role, case_id, visible_case_ids(session, actor) or ()):
        refusal = PermissionDenied("you are not assigned to this contact request's case")
        raise NotFound(_missing(seq), concealed=True, refusal=refusal, case_id=case_id)
    return entry


def _handlings(session: Session, cases: list[str] | None) -> dict[int, Handling]:
    """Request seq → its handling, for the given cases (None: every case)."""
    stmt = select(LedgerEntry.seq, LedgerEntry.recorded_at, LedgerEntry.body).where(
        LedgerEntry.kind == EventKind.STATUS_CONTACT_HANDLED.value)
    if cases is not None:
        stmt = stmt.where(LedgerEntry.case_id.in_(cases))  # type: ignore[union-attr]
    rows = session.execute(stmt).all()
    return handled_index((seq, at, json.loads(bytes(body)).get("data") or {}) for seq, at, body in rows)


def open_request(session: Session, *, case_id: str, item_id: str, lock: bool = False) -> int | None:
    """The seq of the kit's request not handled yet, else None (the page records a second press as none more).
    `lock` serializes it with the case's other requests and handlings (two presses at once record one)."""
    if lock:
        session.execute(select(Case.id).where(Case.id == case_id).with_for_update()).first()
    handled = _handlings(session, [case_id])
    seqs = session.execute(select(LedgerEntry.seq).where(
        LedgerEntry.kind == EventKind.STATUS_CONTACT_REQUESTED.value, LedgerEntry.case_id == case_id,
        LedgerEntry.item_id == item_id)).scalars().all()
    return next((seq for seq in seqs if seq not in handled), None)


def _usernames(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())  # type: ignore[attr-defined]


def _public(entry_seq: int, case_id: str, item_id: str, at: datetime, handling: Handling | None,
            names: dict[str, str]) -> ContactRequestPublic:
    out = ContactRequestPublic(seq=entry_seq, case_id=case_id, item_id=item_id, requested_at=at)
    if handling is not None:
        out.outcome, out.handled_at, out.handled_by = handling.outcome, handling.at, handling.by
        out.handled_by_username = names.get(handling.by)
    return out


def list_contact_requests(session: Session, *, actor: Actor, state: RequestState | str = RequestState.OPEN,
                          limit: int = 200) -> list[ContactRequestPublic]:
    """The requests `actor` sees (a coordinator: every case's; anyone else: their assigned cases'), newest first:
    the open ones, or with state "all" the handled ones too, with their outcome, who and when."""
    state = RequestState(state)
    cases = visible_case_ids(session, actor)
    if cases == []:
        return []
    handled = _handlings(session, cases)
    stmt = (select(LedgerEntry.seq, LedgerEntry.case_id, LedgerEntry.item_id, LedgerEntry.recorded_at)
            .where(LedgerEntry.kind == EventKind.STATUS_CONTACT_REQUESTED.value)
            .order_by(LedgerEntry.seq.desc()).limit(max(1, min(int(limit), LIMIT_MAX))))  # type: ignore[union-attr]
    if cases is not None:
        stmt = stmt.where(LedgerEntry.case_id.in_(cases))  # type: ignore[union-attr]
    if state is RequestState.OPEN and handled:
        stmt = stmt.where(LedgerEntry.seq.not_in(list(handled)))  # type: ignore[attr-defined]
    rows = session.execute(stmt).all()
    names = _usernames(session, {h.by for seq, *_ in rows if (h := handled.get(seq)) is not None})
    return [_public(seq, str(case_id), str(item_id), at, handled.get(seq), names) for seq, case_id, item_id, at in rows]


def handle_contact_request(session: Session, *, actor: Actor, seq: int, outcome: ContactOutcome | str,
                           now: datetime | None = None) -> ContactRequestPublic:
    """Record that the request numbered `seq` was handled, with its closed outcome: one ledger entry (the seq, the
    outcome, the staff id) in the caller's transaction. Only someone who sees the request (a coordinator, or
    staff assigned to its case; else NotFound as for a missing one) may; a request already handled is a
    Conflict naming how and when. Flushes; the caller commits."""
    now = now or utcnow()
    outcome = ContactOutcome(outcome)
    if not role_allows(actor.role, Permission.CONTACT_HANDLE):
        raise PermissionDenied(f"your role ({actor.role}) does not allow {Permission.CONTACT_HANDLE.value}")
    entry = visible_request(session, actor=actor, seq=seq)
    case_id = str(entry.case_id)
    # Serialize the handlings of one case's requests (PostgreSQL; SQLite writers already hold the write lock),
    # so two people closing the same request at once cannot both record it.
    session.execute(select(Case.id).where(Case.id == case_id).with_for_update()).first()
    earlier = _handlings(session, [case_id]).get(entry.seq)
    if earlier is not None:
        who = _usernames(session, {earlier.by}).get(earlier.by, earlier.by)
        raise Conflict(f"contact request {entry.seq} was already handled ({earlier.outcome.value}, by {who} at "
                       f"{earlier.at.isoformat(timespec='minutes')}); nothing was recorded")
    done = ledger.append(session, kind=EventKind.STATUS_CONTACT_HANDLED, actor=actor, case_id=case_id,
                         item_id=entry.item_id, at=now, data=handling_data(entry.seq, outcome, actor.id))
    handling = Handling(outcome, actor.id, done.recorded_at)
    return _public(entry.seq, case_id, str(entry.item_id), entry.recorded_at, handling,
                   _usernames(session, {actor.id}))
