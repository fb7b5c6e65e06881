"""Proof for the survivor that nobody rewrote their kit's history: each ledger entry of the kit's custody is
included in the signed ledger tree (RFC 9162 inclusion proofs checked against a freshly signed tree head).

The leaf is hashed from the entry's stored body (not read from the tree's own leaf nodes), its row fields are
checked against that body, and the tree head's signature is checked with the ledger's public key: an entry
edited in the database fails here. The tree head is signed now, over the stored tree, so a writer who also
recomputes the entry's tree nodes would pass that check alone: each entry must also link into the hash chain
(its `prev` is the stored hash of the entry before it; the entry after it names its hash and is itself included).
What the page shows is bound to what is proved: every custody_event row of the kit (the timeline's source) must
point at one of the verified entries, with the same hash, time and kind, and every entry of an event-recording
kind must have its row (an edited or deleted timeline row is "not verified"). The answer holds no entry content:
a yes/no, the number of entries and the key's fingerprint. Residual: a writer who rewrites every entry from the
kit's to the ledger's head, their nodes and rows, is caught only by a tree head published earlier (consistency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from core.clock import utcnow
from core.errors import DomainError
from core.ledger import (
    GENESIS,
    EventKind,
    LedgerEntry,
    inclusion_proof,
    iso,
    leaf_hash,
    merkle,
    sha256_hex,
    signed_tree_head,
    signing,
)
from evidence.custody.models import LEDGER_KIND, CustodyEvent, CustodyEventKind

# The ledger kind of each custody_event kind (custody.service, items, files, incidents write them together).
EVENT_LEDGER_KIND: dict[str, str] = {
    **{str(k): str(v) for k, v in LEDGER_KIND.items()},
    str(CustodyEventKind.COLLECTED): str(EventKind.ITEM_COLLECTED),
    str(CustodyEventKind.FILE_STORED): str(EventKind.FILE_STORED),
}
EVENT_KINDS = frozenset(EVENT_LEDGER_KIND.values())


@dataclass(frozen=True)
class HistoryProof:
    """The outcome shown on the page."""

    verified: bool
    entries: int
    key_fingerprint: str
    tree_size: int


def _parsed(entry: LedgerEntry) -> dict[str, Any] | None:
    body = bytes(entry.body)
    if sha256_hex(body) != entry.entry_hash:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("seq") != entry.seq or parsed.get("kind") != entry.kind:
        return None
    return parsed


def _included(entry: LedgerEntry, size: int, root: bytes, session: Session) -> bool:
    proof = inclusion_proof(session, entry.seq, size)
    return merkle.verify_inclusion(leaf_hash(bytes(entry.body)), entry.seq - 1, size,
                                   [bytes.fromhex(p) for p in proof["path"]], root)


def _chain_ok(kit: list[LedgerEntry], size: int, root: bytes, session: Session) -> bool:
    """Each kit entry and its neighbours hash right, are included, and link: prev(s) = hash(s-1),
    prev(s+1) = hash(s)."""
    seqs = {s for e in kit for s in (e.seq - 1, e.seq, e.seq + 1) if 1 <= s <= size}
    rows = {e.seq: e for e in session.exec(select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)))}  # type: ignore[attr-defined]
    if set(rows) != seqs:
        return False
    parsed = {s: _parsed(e) for s, e in rows.items()}
    if any(p is None for p in parsed.values()) or not all(_included(e, size, root, session) for e in rows.values()):
        return False
    for e in kit:
        before = rows[e.seq - 1].entry_hash if e.seq > 1 else GENESIS
        if parsed[e.seq]["prev"] != before:  # type: ignore[index]
            return False
        if e.seq < size and parsed[e.seq + 1]["prev"] != e.entry_hash:  # type: ignore[index]
            return False
    return True


def _events_bound(session: Session, item_id: str, kit: list[LedgerEntry], size: int) -> bool:
    """The timeline's rows are the verified entries: same seq, hash, time and kind, none missing."""
    by_seq = {e.seq: (e, json.loads(bytes(e.body))) for e in kit}
    events = session.exec(select(CustodyEvent).where(CustodyEvent.item_id == item_id)).all()
    referenced: set[int] = set()
    for ev in events:
        expected_kind = EVENT_LEDGER_KIND.get(str(ev.kind))
        if ev.ledger_seq > size or (expected_kind is not None and not expected_kind.startswith("custody:")):
            continue  # recorded after the tree head was taken; an integrity incident's row (integrity:* entry)
        found = by_seq.get(ev.ledger_seq)
        if found is None:
            return False
        entry, body = found
        if entry.entry_hash != ev.ledger_hash or body.get("at") != iso(ev.at) or \
                (expected_kind is not None and entry.kind != expected_kind):
            return False
        referenced.add(ev.ledger_seq)
    return all(e.seq in referenced for e in kit if e.kind in EVENT_KINDS)


def _entry_ok(entry: LedgerEntry, item_id: str) -> bool:
    parsed = _parsed(entry)
    return parsed is not None and parsed.get("item") == item_id


def verify_kit_history(session: Session, *, item_id: str, data_dir: Path | None = None,
                       now: datetime | None = None) -> HistoryProof:
    """Check every custody entry of `item_id` against a signed tree head of the whole ledger."""
    now = now or utcnow()
    sth = signed_tree_head(session, now=now, data_dir=data_dir)
    fingerprint = str(sth["key_fingerprint"])
    size, root = int(sth["tree_size"]), bytes.fromhex(sth["root_hash"])
    entries = list(session.exec(select(LedgerEntry).where(LedgerEntry.item_id == item_id,
                                                          LedgerEntry.seq <= size,
                                                          LedgerEntry.kind.startswith("custody:"))  # type: ignore[union-attr]
                                .order_by(LedgerEntry.seq)).all())  # type: ignore[arg-type]
    ok = bool(entries) and signing.verify_tree_head(sth, signing.public_key_pem(data_dir))
    try:
        ok = ok and all(_entry_ok(e, item_id) for e in entries) and _chain_ok(entries, size, root, session) \
            and _events_bound(session, item_id, entries, size)
    except DomainError:  # missing tree nodes and the like: not verified, never a crash on the survivor's page
        ok = False
    return HistoryProof(verified=ok, entries=len(entries), key_fingerprint=fingerprint, tree_size=size)
