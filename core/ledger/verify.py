"""Verification of the whole ledger: the hash chain and the Merkle tree, from one consistent snapshot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from core.errors import ValidationFailed
from core.ledger import merkle
from core.ledger.codec import canonical
from core.ledger.model import FORMAT_VERSION, GENESIS, LedgerEntry, LedgerNode


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a verification: ok, or the first bad sequence number and why (plus the recomputed root)."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_hash: str = GENESIS
    root_hash: str | None = None


def _js(value: str | None) -> str:
    """JSON text of a short id or kind exactly as the canonical form renders it."""
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _at_text(value: datetime) -> str:
    """iso(value) without strftime (the verifier's hot loop); same result."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def _check_deep(seq: int, prev: str, body: bytes, kind: str, case_id, item_id, at: str) -> str | None:
    """Re-parse and re-render one body: None when canonical and consistent, else the reason."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "entry bytes are not valid JSON"
    if not isinstance(doc, dict) or doc.get("seq") != seq or doc.get("prev") != prev:
        return "entry does not link to the previous entry"
    try:
        if canonical(doc) != body:
            return "entry bytes are not in canonical form"
    except ValidationFailed:
        return "entry bytes are not in canonical form"
    if doc.get("kind") != kind or doc.get("case") != case_id or doc.get("item") != item_id or doc.get("at") != at:
        return "indexed columns disagree with the entry's bytes"
    return None


class _ChainBad(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        self.seq, self.reason = seq, reason


def _walk_chain(rows, leaves: list[bytes] | None, deep: bool) -> tuple[int, str, _ChainBad | None]:
    """Check rows (seq, kind, case_id, item_id, recorded_at, body, entry_hash) in order; collect leaf hashes.

    Returns (rows seen, last hash, first problem or None). The walk goes on after a problem so that the
    tree check still gets every leaf (a forged entry can break the chain only at its successor while the
    tree pins the forged entry itself; the report takes the earlier of the two).
    """
    sha, expected_seq, prev, n = hashlib.sha256, 1, GENESIS, 0
    add_leaf = leaves.append if leaves is not None else None
    first: _ChainBad | None = None
    js_cache: dict[str | None, str] = {}

    def js(value: str | None) -> str:
        out = js_cache.get(value)
        if out is None:
            out = js_cache[value] = _js(value)
            if len(js_cache) > 100_000:  # ids are unbounded: keep the cache small
                js_cache.clear()
        return out

    for seq, kind, case_id, item_id, recorded_at, body, entry_hash in rows:
        body = bytes(body)
        n += 1
        digest = sha(body).hexdigest()
        if add_leaf is not None:
            add_leaf(sha(b"\x00" + body).digest())
        if first is None:
            reason = None
            if seq != expected_seq:
                first = _ChainBad(min(seq, expected_seq), f"sequence gap or reorder: expected {expected_seq}, "
                                                          f"found {seq}")
            elif digest != entry_hash:
                reason = "stored hash does not match the entry's bytes"
            else:
                at = recorded_at if recorded_at.__class__ is str else _at_text(recorded_at)
                # The canonical body's tail and middle are fixed by the columns, previous hash and seq
                # (sorted keys), so plain byte comparisons check the links and the indexed columns.
                ji, jk, jc = js_cache.get(item_id) or js(item_id), js_cache.get(kind) or js(kind), \
                    js_cache.get(case_id) or js(case_id)
                tail = f',"item":{ji},"kind":{jk},"prev":"{prev}","seq":{seq},"v":{FORMAT_VERSION}}}'
                if not body.endswith(tail.encode()):
                    reason = "entry does not link to the previous entry, or its columns disagree with its bytes"
                elif f'"at":"{at}","case":{jc},"data":'.encode() not in body:
                    reason = "indexed columns disagree with the entry's bytes"
                elif deep:
                    reason = _check_deep(seq, prev, body, kind, case_id, item_id, at)
            if reason:
                first = _ChainBad(seq, reason)
        if first is not None and leaves is None:
            break
        prev, expected_seq = digest, seq + 1
    return n, prev, first


def verify_rows(rows, deep: bool = True) -> ChainReport:
    """Check (seq, kind, case_id, item_id, recorded_at, body, entry_hash) rows in seq order (chain only)."""
    n, prev, bad = _walk_chain(rows, None, deep)
    if bad is not None:
        return ChainReport(False, bad.seq - 1, bad.seq, bad.reason)
    return ChainReport(True, n, None, None, prev)


def _at_sql(dialect: str):
    """recorded_at rendered as the canonical ISO text by the database itself (saves the verifier's CPU)."""
    if dialect == "postgresql":
        return text("""to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""")
    if dialect == "sqlite":  # SQLAlchemy stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
        return text("replace(recorded_at, ' ', 'T') || 'Z'")
    return LedgerEntry.recorded_at


def _entry_rows(session: Session, batch: int, conn: Connection | None = None):
    conn = conn if conn is not None else session.connection()
    stmt = (
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.case_id, LedgerEntry.item_id,
               _at_sql(conn.dialect.name), LedgerEntry.body, LedgerEntry.entry_hash)
        .order_by(LedgerEntry.seq)
    )
    return _raw_stream(conn, stmt, batch)


def _raw_stream(conn, stmt, batch: int):
    """Stream a parameterless SELECT through the DBAPI cursor (the verifier's hot path skips the row layer)."""
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        cur = dbapi.cursor(name=f"coc_verify_{id(stmt):x}", binary=True)  # server-side, bytea not hex-encoded
        cur.itersize = batch
    else:
        cur = dbapi.cursor()
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(batch):
            yield from rows
    finally:
        cur.close()


def verify_chain(session: Session, batch: int = 5000, deep: bool = True) -> ChainReport:
    """Recompute the whole hash chain from the database and report the first bad entry."""
    return verify_rows(_entry_rows(session, batch), deep)


def _check_tree(conn: Connection, leaves: list[bytes], batch: int) -> tuple[int | None, str | None, bytes]:
    """Compare stored nodes with the leaves recomputed from the bodies, level by level.

    Returns (first bad leaf index, reason, root). Level `level` must hold exactly the nodes
    0 .. (n >> level) - 1; each level is kept at full length with None for a missing node, so a missing node
    is reported at the first leaf it covers and never shifts the positions of the nodes after it or the
    size expected of the level above (a node's index is its position). A node beyond the last entry is
    reported at the end of the ledger. A stored interior node is checked against its stored children only
    when both children were found good (present and matching), so a bad or missing node is pinned to the
    subtree it covers (its ancestors are not blamed for it). A complete level is compared at once (list
    equality in C) and only walked node by node when it differs. The root is folded from the verified
    frontier nodes.
    """
    n = len(leaves)
    bad: list[tuple[int, str]] = []
    frontier: dict[int, bytes] = {}
    below: list = leaves  # of the level below; None where a node is missing
    below_ok: list[bool] | None = None  # None: every node of the level below is present and good
    node_hash = merkle.node_hash
    level = 0
    while True:
        stmt = select(LedgerNode.idx, LedgerNode.hash).where(LedgerNode.level == level).order_by(LedgerNode.idx)
        rows = list(_raw_stream(conn, stmt, batch))
        want = n >> level
        if not rows and not want:
            break
        # Keys are unique and sorted: `want` rows from 0 to want - 1 are exactly 0 .. want - 1.
        if len(rows) == want and rows[0][0] == 0 and rows[-1][0] == want - 1:
            hashes: list[bytes | None] = [bytes(h) for _, h in rows]
        else:
            hashes = [None] * want
            beyond = None
            for ix, h in rows:
                if 0 <= ix < want:
                    hashes[ix] = bytes(h)
                elif beyond is None:
                    beyond = ix
            if beyond is not None:
                bad.append((n, f"tree has level-{level} nodes beyond the last entry (entries deleted?), "
                               f"e.g. ({level}, {beyond})"))
            missing = next((i for i, h in enumerate(hashes) if h is None), None)
            if missing is not None:
                bad.append((missing << level, f"tree node ({level}, {missing}) is missing"))
        ok: list[bool] | None = None
        expected: list[bytes] | None = None
        if below_ok is None:  # the level below is complete and good: compare this level in one go
            expected = leaves if level == 0 else [node_hash(below[2 * i], below[2 * i + 1])
                                                  for i in range(want)]
        if expected is None or hashes != expected:
            ok = []
            for i, h in enumerate(hashes):
                if h is None:  # missing: reported above
                    ok.append(False)
                    continue
                if expected is not None:
                    e = expected[i]
                elif below_ok is not None and below_ok[2 * i] and below_ok[2 * i + 1]:
                    e = node_hash(below[2 * i], below[2 * i + 1])
                else:  # a child is missing or bad: that child is reported, not this node
                    ok.append(False)
                    continue
                good = h == e
                if not good:
                    what = "the entry's bytes" if level == 0 else "its children"
                    bad.append((i << level, f"tree node ({level}, {i}) does not match {what}"))
                ok.append(good)
        if want & 1 and hashes[want - 1] is not None:
            frontier[level] = hashes[want - 1]
        below, below_ok, level = hashes, ok, level + 1
    higher = conn.execute(select(func.count()).select_from(LedgerNode).where(LedgerNode.level >= level)).scalar()
    if higher:
        bad.append((n, f"tree has nodes at level {level} or above, beyond the last entry"))
    if bad:
        first, reason = min(bad)
        return first, reason, b""
    if n == 0:
        return None, None, merkle.EMPTY_ROOT
    levels = sorted(frontier)
    root = frontier[levels[0]]
    for lv in levels[1:]:
        root = node_hash(frontier[lv], root)
    return None, None, root


# Appenders hold this key exclusively (_LOCK_PG) until they commit; a verifier that must read in a READ
# COMMITTED transaction holds it shared, so no append commits between its reads.
_LOCK_SHARED_PG = text("SELECT pg_advisory_xact_lock_shared(7061993)")


@contextmanager
def _snapshot(session: Session) -> Iterator[Connection]:
    """A connection whose reads of both ledger tables all see one consistent state.

    SQLite: the session's own transaction (a SQLite transaction reads one snapshot throughout).
    PostgreSQL, session bound to an engine: a separate connection in a read-only REPEATABLE READ
    transaction, whose snapshot is taken by its first query (in READ COMMITTED every statement takes a new
    snapshot, so an append committed between the entry read and the node read would look like tampering).
    The session's own transaction may already be open, so its isolation level cannot be changed; the
    verification covers what is committed, not the session's uncommitted changes.
    PostgreSQL, session bound to a Connection (the caller owns the transaction, e.g. to verify its own
    uncommitted changes): the reads run in that transaction; unless it is already REPEATABLE READ or
    SERIALIZABLE, the appenders' advisory lock is taken in shared mode, which holds off appends until that
    transaction ends.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        yield session.connection()
        return
    if isinstance(bind, Connection):
        conn = session.connection()
        level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
        if level not in ("repeatable read", "serializable"):
            conn.execute(_LOCK_SHARED_PG)
        yield conn
        return
    with bind.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def verify_ledger(session: Session, *, deep: bool = False, batch: int = 20000) -> ChainReport:
    """Full verification: recompute the hash chain AND the Merkle tree; report the first bad seq.

    deep=True also re-parses each body and checks that it is canonical JSON (slower; the fast path checks
    the bytes that carry the chain and the indexed columns). Entries and tree nodes are read from one
    consistent snapshot (see `_snapshot`), so concurrent appends never raise a false alarm.
    """
    leaves: list[bytes] = []
    with _snapshot(session) as conn:
        n, prev, chain_bad = _walk_chain(_entry_rows(session, batch, conn), leaves, deep)
        tree_first, tree_reason, root = _check_tree(conn, leaves, batch)
    candidates = []
    if chain_bad is not None:
        candidates.append((chain_bad.seq, chain_bad.reason))
    if tree_first is not None:
        candidates.append((tree_first + 1, tree_reason))
    if candidates:
        seq, reason = min(candidates)
        return ChainReport(False, seq - 1, seq, reason)
    return ChainReport(True, n, None, None, prev, root.hex())
