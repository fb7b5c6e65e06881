"""Reads of the ledger tables: the head, the entry count, and stored Merkle tree nodes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from core.errors import IntegrityViolation
from core.ledger import merkle
from core.ledger.model import GENESIS, LedgerEntry

_HEAD_SQL = text("SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1")


def head(session: Session) -> tuple[int, str]:
    """The last (seq, entry_hash), or (0, GENESIS) for an empty ledger."""
    row = session.connection().execute(_HEAD_SQL).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def count(session: Session) -> int:
    """Number of entries in the ledger."""
    return session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


def _nodes_sql(count: int):
    """SELECT of `count` (level, idx) pairs: a UNION ALL of primary-key lookups (the planner never scans)."""
    parts = [f"SELECT level, idx, hash FROM ledger_node WHERE level = :l{j} AND idx = :i{j}"  # noqa: S608
             for j in range(count)]
    return text(" UNION ALL ".join(parts))


_NODES_SQL = [_nodes_sql(c) if c else None for c in range(64)]


# PostgreSQL: one statement shape for any number of keys, so psycopg prepares it once and the planner runs
# once per connection (a nested loop of primary-key lookups).
_NODES_PG = text("SELECT n.level, n.idx, n.hash FROM unnest(CAST(:lv AS integer[]), CAST(:ix AS bigint[])) "
                 "AS k(level, idx) JOIN ledger_node n ON n.level = k.level AND n.idx = k.idx")


def _fetch_nodes(conn, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_NODES_PG, {"lv": [k[0] for k in keys], "ix": [k[1] for k in keys]})
        return {(lv, ix): bytes(h) for lv, ix, h in rows}
    for start in range(0, len(keys), 63):
        chunk = keys[start:start + 63]
        params = {}
        for j, (lv, ix) in enumerate(chunk):
            params[f"l{j}"], params[f"i{j}"] = lv, ix
        for lv, ix, h in conn.execute(_NODES_SQL[len(chunk)], params):
            found[(lv, ix)] = bytes(h)
    return found


def _new_nodes(conn, index: int, leaf: bytes,
               known: dict[tuple[int, int], bytes] | None = None) -> list[dict[str, Any]]:
    """Rows for the leaf at `index` and every subtree it completes (left children read in one query,
    or taken from `known`, the frontier already read with the head)."""
    rows = [{"level": 0, "idx": index, "hash": leaf}]
    done = merkle.completed_nodes(index)
    if done:
        lefts = [(level - 1, 2 * idx) for level, idx in done]
        found = known if known is not None else _fetch_nodes(conn, lefts)
        h = leaf
        for (level, idx), left in zip(done, lefts, strict=True):
            if left not in found:
                raise IntegrityViolation(f"ledger tree node {left} is missing: run the ledger verification")
            h = merkle.node_hash(found[left], h)
            rows.append({"level": level, "idx": idx, "hash": h})
    return rows


class DbNodes:
    """merkle.NodeSource over the ledger_node table (one query per call)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def nodes(self, keys) -> dict[tuple[int, int], bytes]:
        """Stored hashes for the given (level, idx) keys."""
        return _fetch_nodes(self.session.connection(), list(keys))
