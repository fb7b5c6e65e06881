"""Proof for the survivor that nobody rewrote their kit's history: each ledger entry of the kit's custody is
included in the signed ledger tree (RFC 9162 inclusion proofs checked against a freshly signed tree head).

The leaf is hashed from the entry's stored body (not read from the tree's own leaf nodes), its row fields are
checked against that body, and the tree head's signature is checked with the ledger's public key: an entry
edited in the database fails here. The answer holds no entry content: a yes/no, the number of entries and
the key's fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from core.clock import utcnow
from core.errors import DomainError
from core.ledger import LedgerEntry, inclusion_proof, leaf_hash, merkle, sha256_hex, signed_tree_head, signing


@dataclass(frozen=True)
class HistoryProof:
    """The outcome shown on the page."""

    verified: bool
    entries: int
    key_fingerprint: str
    tree_size: int


def _entry_ok(entry: LedgerEntry, item_id: str, size: int, root: bytes, session: Session) -> bool:
    body = bytes(entry.body)
    if sha256_hex(body) != entry.entry_hash:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    if parsed.get("seq") != entry.seq or parsed.get("item") != item_id or parsed.get("kind") != entry.kind:
        return False
    proof = inclusion_proof(session, entry.seq, size)
    return merkle.verify_inclusion(leaf_hash(body), entry.seq - 1, size, [bytes.fromhex(p) for p in proof["path"]],
                                   root)


def verify_kit_history(session: Session, *, item_id: str, data_dir: Path | None = None,
                       now: datetime | None = None) -> HistoryProof:
    """Check every custody entry of `item_id` against a signed tree head of the whole ledger."""
    now = now or utcnow()
    sth = signed_tree_head(session, now=now, data_dir=data_dir)
    fingerprint = str(sth["key_fingerprint"])
    size, root = int(sth["tree_size"]), bytes.fromhex(sth["root_hash"])
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.item_id == item_id,
                                                     LedgerEntry.seq <= size,
                                                     LedgerEntry.kind.startswith("custody:"))  # type: ignore[union-attr]
                           .order_by(LedgerEntry.seq)).all()  # type: ignore[arg-type]
    ok = bool(entries) and signing.verify_tree_head(sth, signing.public_key_pem(data_dir))
    try:
        ok = ok and all(_entry_ok(e, item_id, size, root, session) for e in entries)
    except DomainError:  # missing tree nodes and the like: not verified, never a crash on the survivor's page
        ok = False
    return HistoryProof(verified=ok, entries=len(entries), key_fingerprint=fingerprint, tree_size=size)
