"""Tree heads and RFC 9162 inclusion and consistency proofs from the stored tree nodes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core.clock import utcnow
from core.errors import IntegrityViolation, ValidationFailed
from core.ledger import merkle, signing
from core.ledger.nodes import DbNodes, head

# -- tree heads and proofs -------------------------------------------------------------------------


def _size(session: Session, size: int | None) -> int:
    """Validate a tree size against the ledger (its last seq: an index lookup, not a count)."""
    total = head(session)[0]
    size = total if size is None else size
    if not 0 <= size <= total:
        raise ValidationFailed(f"tree size {size} is outside 0..{total}")
    return size


def tree_root(session: Session, size: int | None = None) -> tuple[int, bytes]:
    """(size, root hash) of the tree of the first `size` entries (default: all), from stored nodes."""
    size = _size(session, size)
    return size, merkle.root(size, DbNodes(session))


def inclusion_proof(session: Session, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """Inclusion proof of entry `seq` in the tree of `tree_size` entries (default: current size)."""
    size = _size(session, tree_size)
    if not 1 <= seq <= size:
        raise ValidationFailed(f"entry {seq} is not in a tree of size {size}")
    # One round trip: the leaf, the proof's subtrees and the root's frontier.
    ranges = merkle.inclusion_ranges(seq - 1, size)
    keys = {(0, seq - 1), *merkle.frontier(size)} | {n for r in ranges for n in merkle.decompose(*r)}
    found = DbNodes(session).nodes(keys)
    if len(found) != len(keys):
        raise IntegrityViolation("ledger tree nodes are missing: run the ledger verification")
    get = found.__getitem__
    path = [merkle.range_hash(a, b, get) for a, b in ranges]
    return {"seq": seq, "leaf_index": seq - 1, "tree_size": size, "leaf_hash": found[(0, seq - 1)].hex(),
            "root_hash": merkle.range_hash(0, size, get).hex(), "path": [p.hex() for p in path]}


def consistency_proof(session: Session, first: int, second: int | None = None) -> dict[str, Any]:
    """Consistency proof that the tree of `first` entries is a prefix of the tree of `second`."""
    second, second_root = tree_root(session, second)
    if not 1 <= first <= second:
        raise ValidationFailed(f"no consistency proof from size {first} to size {second}")
    _, first_root = tree_root(session, first)
    path = merkle.consistency_proof(first, second, DbNodes(session))
    return {"first": first, "second": second, "first_root": first_root.hex(), "second_root": second_root.hex(),
            "path": [p.hex() for p in path]}


def signed_tree_head(session: Session, *, tree_size: int | None = None, now: datetime | None = None,
                     data_dir: Path | None = None) -> dict[str, Any]:
    """Sign the current (or given-size) tree head with the ledger key (core.ledger.signing; key under data_dir)."""

    size, root_hash = tree_root(session, tree_size)
    return signing.sign_tree_head(size, root_hash, now or utcnow(), data_dir)
