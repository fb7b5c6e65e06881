"""The append-only, hash-chained audit ledger.

Canonical serialization (version 1) of an entry — these exact bytes are stored in `body` and hashed:
  * a JSON object with keys v, seq, prev, kind, at, actor, case, item, data;
  * keys sorted, separators "," and ":" (no whitespace), UTF-8, non-ASCII kept as is (ensure_ascii off);
  * no floats anywhere (amounts are integers or strings), no NaN; datetimes as ISO-8601 UTC strings
    with microseconds and a trailing "Z";
  * `prev` is the hex SHA-256 of the previous entry's body (64 zeros for seq 1), `seq` starts at 1.
entry_hash = SHA-256(body); Merkle leaf = SHA-256(0x00 || body) (RFC 9162 §2.1), leaf index = seq - 1.
No personal data goes in: pseudonymous case/item ids and staff ids only.

Because keys are sorted, every canonical body ends with the fixed tail
  ,"item":<item|null>,"kind":"<kind>","prev":"<prev>","seq":<seq>,"v":1}
which the fast verifier checks byte for byte (the deep verifier also re-parses and re-renders each body).

Merkle tree (core.merkle): `ledger_node(level, idx, hash)` holds the hash of every complete subtree
(level 0 = leaf hashes, idx = leaf index) and is written by `append` in the same transaction as the entry,
so an inclusion or consistency proof at any size needs O(log n) row lookups. Both tables are append-only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    String,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel

from core import merkle
from core.actors import Actor
from core.clock import utcnow
from core.errors import IntegrityViolation, ValidationFailed

GENESIS = "0" * 64
FORMAT_VERSION = 1


class EventKind(StrEnum):
    """Every kind of ledger entry (closed set, named scope:resource:action)."""

    CASE_OPENED = "case:case:opened"
    CASE_UPDATED = "case:case:updated"
    CASE_IDENTITY_STORED = "case:identity:stored"
    CASE_ASSIGNED = "case:assignment:granted"
    CASE_UNASSIGNED = "case:assignment:revoked"
    EXAM_RECORDED = "exam:exam:recorded"
    CARE_RECORDED = "exam:care:recorded"
    ITEM_COLLECTED = "custody:item:collected"
    ITEM_SEALED = "custody:item:sealed"
    FILE_STORED = "custody:file:stored"
    LEGAL_HOLD_SET = "custody:file:legal-hold"
    TRANSFER_OFFERED = "custody:transfer:offered"
    TRANSFER_ACCEPTED = "custody:transfer:accepted"
    TRANSFER_DECLINED = "custody:transfer:declined"
    TRANSFER_CANCELLED = "custody:transfer:cancelled"
    CHECKED_IN = "custody:item:checked-in"
    CHECKED_OUT = "custody:item:checked-out"
    ANALYSED = "custody:item:analysed"
    RETURNED = "custody:item:returned"
    RELEASED = "custody:item:released"
    DESTROYED = "custody:item:destroyed"
    DESTRUCTION_NOTICE = "custody:item:destruction-noticed"
    ITEM_RESTRICTED = "custody:item:restricted"
    INTEGRITY_INCIDENT = "integrity:item:incident"
    FIXITY_CHECKED = "integrity:store:fixity-checked"
    CONSENT_RECORDED = "consent:decision:recorded"
    CONSENT_OVERRIDE = "consent:override:recorded"
    CHECKPOINT_ALLOWED = "checkpoint:handoff:allowed"
    CHECKPOINT_DENIED = "checkpoint:handoff:denied"
    ALERT_RAISED = "deadline:alert:raised"
    PATHWAY_STEP = "pathway:step:completed"
    ADVOCACY_RECORDED = "advocacy:service:recorded"
    REFERRAL_MADE = "advocacy:referral:made"
    BREAK_GLASS = "access:case:break-glass"
    USER_CHANGED = "admin:user:changed"
    AGENCY_CREATED = "admin:agency:created"
    BOUNDARY_REFUSED = "custody:boundary:refused"  # a move into another agency's hands refused (not consent)


class LedgerEntry(SQLModel, table=True):
    """One immutable ledger row; UPDATE and DELETE are refused by database triggers."""

    __tablename__ = "ledger_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    item_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class LedgerNode(SQLModel, table=True):
    """Hash of one complete Merkle subtree (level 0 = leaf); written with its entry, never changed."""

    __tablename__ = "ledger_node"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


_INSERT_ENTRY = LedgerEntry.__table__.insert()
_INSERT_NODE = LedgerNode.__table__.insert()

# Keys that would carry a survivor's identity; refused in ledger data as a last line of defence.
_FORBIDDEN_KEYS = frozenset(
    {"name", "first_name", "last_name", "full_name", "dob", "date_of_birth", "birth_date", "address",
     "phone", "email", "ssn", "identity", "narrative", "safety_plan"}
)


def _normalize(value: Any, path: str = "data") -> Any:
    """Turn `value` into canonical JSON types, refusing floats and identity-bearing keys."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise ValidationFailed(f"ledger {path}: floats are not allowed in the canonical form")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationFailed(f"ledger {path}: keys must be strings")
            if k.lower() in _FORBIDDEN_KEYS:
                raise ValidationFailed(f"ledger {path}.{k}: personal data never goes into the ledger")
            out[k] = _normalize(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(v, f"{path}[]") for v in value]
    raise ValidationFailed(f"ledger {path}: unsupported type {type(value).__name__}")


def iso(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and 'Z' (the ledger's only datetime form)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(obj: Any) -> bytes:
    """The canonical bytes of a JSON-able object (sorted keys, compact, UTF-8, no floats)."""
    return json.dumps(_normalize(obj, "entry"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def leaf_hash(body: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + body).digest()


_HEAD_SQL = text("SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1")


# PostgreSQL group commit. Appenders are serialized by a transaction-scoped advisory lock, which PostgreSQL
# releases only after the commit's WAL flush: with synchronous commit every writer would wait for every other
# writer's fsync (one fsync per append, whatever the number of writers). So an appending transaction commits
# with synchronous_commit=off (the lock is released once the commit record is written), and Session.commit()
# then waits for durability with a barrier: a tiny synchronous transaction whose flush covers our commit
# record (WAL is sequential), shared by concurrent writers. Session.commit() therefore still returns only
# once the change is on disk; a crash can lose only commits whose commit() had not returned, and since WAL
# order is chain order, what survives is always a prefix of the chain (no fork, no hole).
# Off by default: on our shared 2-core test machine appends were CPU-bound and it showed no measurable gain
# (benchmarks/ledger.py prints both figures); turn it on where fsync latency dominates.
PG_GROUP_COMMIT = False
_BARRIER_FLAG = "coc_ledger_durability_barrier"
_ASYNC_PG = "SET LOCAL synchronous_commit = off"
_BARRIER_PG = "SELECT pg_current_xact_id()"  # assigns an xid, so its commit writes and flushes WAL
_BARRIER_SQL = text(_BARRIER_PG)
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE (core imports no driver at module level)


@event.listens_for(OrmSession, "after_commit")
def _durability_barrier(session: OrmSession) -> None:
    """After an appending transaction committed asynchronously, wait until its commit record is flushed."""
    raw = session.info.pop(_BARRIER_FLAG, None)
    if raw is None:
        return
    # The appending connection is still checked out here (the session closes its connections after this
    # hook) and idle: one pipelined round trip on it is the barrier, with no pool checkout or ping.
    if not raw.closed and raw.info.transaction_status == _IDLE:
        with raw.pipeline():
            raw.execute(_BARRIER_PG)
            raw.commit()
        return
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    with engine.connect() as conn:
        conn.execute(_BARRIER_SQL)
        conn.commit()


@event.listens_for(OrmSession, "after_rollback")
def _forget_barrier(session: OrmSession) -> None:
    """A rolled-back append needs no durability barrier."""
    session.info.pop(_BARRIER_FLAG, None)


def head(session: Session) -> tuple[int, str]:
    """The last (seq, entry_hash), or (0, GENESIS) for an empty ledger."""
    row = session.connection().execute(_HEAD_SQL).first()
    return (row[0], row[1]) if row else (0, GENESIS)


@dataclass(frozen=True, slots=True)
class AppendedEntry:
    """What `append` returns: the new entry's columns (a plain record; building a table model costs more)."""

    seq: int
    kind: str
    case_id: str | None
    item_id: str | None
    recorded_at: datetime
    body: bytes
    entry_hash: str


def append(
    session: Session,
    *,
    kind: EventKind,
    actor: Actor,
    data: dict[str, Any] | None = None,
    case_id: str | None = None,
    item_id: str | None = None,
    at: datetime | None = None,
) -> AppendedEntry:
    """Append one entry in the caller's transaction (it commits with the state change, or not at all)."""
    kind = EventKind(kind)
    at = at or utcnow()
    # Everything that does not depend on the head is built before the lock is taken: the critical section
    # (serialized across every API process and flow worker) holds only the head read, two hashes and the
    # inserts. The canonical body's keys are sorted, so "prev", "seq" and "v" come last: the body is
    # prefix + prev + middle + seq + tail, byte for byte what canonical() renders (checked in the tests).
    prefix = canonical({"actor": actor.ledger_ref(), "at": at, "case": case_id, "data": data or {},
                        "item": item_id, "kind": str(kind)})[:-1] + b',"prev":"'
    session.flush()  # the caller's pending changes go first, as they did when append used the ORM
    conn = session.connection()
    raw = conn.connection.dbapi_connection if conn.dialect.name == "postgresql" else None
    known: dict[tuple[int, int], bytes] | None = None
    if raw is not None:
        seq, prev, known = _lock_and_read_head_pg(session, raw)
    else:  # SQLite: the transaction began with BEGIN IMMEDIATE, which already serializes writers
        seq, prev = head(session)
    seq += 1
    body = _body(prefix, prev, seq)
    row = {"seq": seq, "kind": str(kind), "case_id": case_id, "item_id": item_id, "recorded_at": at,
           "body": body, "entry_hash": sha256_hex(body)}
    nodes = _new_nodes(conn, seq - 1, merkle.leaf_hash(body), known)
    if raw is not None:
        with raw.pipeline():  # both inserts in one round trip
            raw.execute(_INSERT_ENTRY_PG, tuple(row.values()))
            raw.execute(_INSERT_NODES_PG, ([n["level"] for n in nodes], [n["idx"] for n in nodes],
                                            [n["hash"] for n in nodes]))
    else:
        conn.execute(_INSERT_ENTRY, row)
        conn.execute(_INSERT_NODE, nodes)
    return AppendedEntry(**row)


def _body(prefix: bytes, prev: str, seq: int) -> bytes:
    """The canonical body from its head-independent prefix, the previous hash and the sequence number."""
    return b"%s%s\",\"seq\":%d,\"v\":%d}" % (prefix, prev.encode(), seq, FORMAT_VERSION)


_LOCK_PG = "SELECT pg_advisory_xact_lock(7061993)"
# Column order = the order of `row` in append().
_INSERT_ENTRY_PG = ("INSERT INTO ledger_entry (seq, kind, case_id, item_id, recorded_at, body, entry_hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)")
_INSERT_NODES_PG = ("INSERT INTO ledger_node (level, idx, hash) "
                    "SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::bytea[])")


def _lock_and_read_head_pg(session: Session, raw) -> tuple[int, str, dict[tuple[int, int], bytes]]:
    """Take the append lock and read (last seq, its hash, frontier nodes) in one round trip (PostgreSQL).

    The advisory lock serializes appenders so the chain never forks. Pipelining is safe: the server runs
    the head query only after the lock is granted, and in READ COMMITTED that statement takes a fresh
    snapshot, so it sees every earlier holder's commit. Statements go straight to the psycopg connection in
    the session's transaction (the SQLAlchemy layer cost more than the database inside the lock).
    """
    with raw.pipeline():
        if PG_GROUP_COMMIT and not session.info.get(_BARRIER_FLAG):
            raw.execute(_ASYNC_PG)
            session.info[_BARRIER_FLAG] = raw
        raw.execute(_LOCK_PG)
        cur = raw.execute(_HEAD_FRONTIER_PG_SQL)
    rows = cur.fetchall()
    if not rows:
        return 0, GENESIS, {}
    seq, prev = rows[0][0], rows[0][1]
    return seq, prev, {(lv, (seq >> lv) - 1): bytes(h) for _, _, lv, h in rows if h is not None}


# The last entry and the stored frontier of the tree of its size (the complete subtrees covering leaves
# 0..seq-1: one per set bit of seq). The left children a new leaf completes are among them. Read after the
# advisory lock like head(): a fresh statement snapshot sees every earlier appender's commit. Each frontier
# node is a correlated primary-key lookup: written as a join, the planner hashed the whole node table
# (1.5 ms at 3,000 entries and growing with the ledger; 0.1 ms this way at any size).
_HEAD_FRONTIER_PG_SQL = (
    "WITH h AS (SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1) "
    "SELECT h.seq, h.entry_hash, g.l, (SELECT n.hash FROM ledger_node n WHERE n.level = g.l"
    " AND n.idx = (CAST(h.seq AS bigint) >> g.l) - 1) FROM h CROSS JOIN generate_series(0, 62) AS g(l)"
    " WHERE (CAST(h.seq AS bigint) >> g.l) & 1 = 1")


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


def decode(entry: LedgerEntry) -> dict[str, Any]:
    """The entry's body as a dict (for display; the bytes remain the truth)."""
    return json.loads(entry.body)


def count(session: Session) -> int:
    """Number of entries in the ledger."""
    return session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


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
    """Sign the current (or given-size) tree head with the ledger key (core.signing; key under data_dir)."""
    from core import signing

    size, root_hash = tree_root(session, tree_size)
    return signing.sign_tree_head(size, root_hash, now or utcnow(), data_dir)
