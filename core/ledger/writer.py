"""append(): one entry and its Merkle nodes in the caller's transaction, serialized across processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from core.actors import Actor
from core.clock import utcnow
from core.ledger import merkle
from core.ledger.codec import _body, canonical, sha256_hex
from core.ledger.model import GENESIS, EventKind, LedgerEntry, LedgerNode
from core.ledger.nodes import _new_nodes, head

_INSERT_ENTRY = LedgerEntry.__table__.insert()
_INSERT_NODE = LedgerNode.__table__.insert()


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


def _forget_barrier(session: OrmSession) -> None:
    """A rolled-back append needs no durability barrier."""
    session.info.pop(_BARRIER_FLAG, None)


def install_durability_barrier() -> None:
    """Install the session hooks group commit needs (idempotent; called by the composition root,
    evidence.bootstrap). Without them, appends keep synchronous commits whatever PG_GROUP_COMMIT says."""
    if not event.contains(OrmSession, "after_commit", _durability_barrier):
        event.listen(OrmSession, "after_commit", _durability_barrier)
    if not event.contains(OrmSession, "after_rollback", _forget_barrier):
        event.listen(OrmSession, "after_rollback", _forget_barrier)


def _group_commit() -> bool:
    """Group commit only when asked for AND the barrier that restores durability is installed."""
    return PG_GROUP_COMMIT and event.contains(OrmSession, "after_commit", _durability_barrier)


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
        if _group_commit() and not session.info.get(_BARRIER_FLAG):
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
