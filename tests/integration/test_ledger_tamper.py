"""Direct database edits to the ledger (bypassing the append-only triggers) are found, at the first bad seq.

Each hypothesis example tampers inside one transaction on a connection, verifies through a session bound to
that connection, then rolls back, so the same ledger serves every example (DDL is transactional on both).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.ledger import EventKind

N = 40
DB_SETTINGS = settings(max_examples=30, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def filled(engine, clock):
    """A committed ledger of N entries over a few cases and items."""
    actor = Actor(id="U-lab-7", role="lab")
    with Session(engine) as s:
        for i in range(N):
            clock.advance(timedelta(seconds=7, microseconds=i))
            ledger.append(s, kind=EventKind.TRANSFER_ACCEPTED if i % 3 else EventKind.ITEM_COLLECTED,
                          actor=actor, case_id=f"C{i % 4:04d}", item_id=None if i % 5 == 0 else f"I{i % 6:04d}",
                          data={"n": i, "reason": "storage", "seal_number": f"S-{i}", "note": "é✓"})
        s.commit()
    return engine


def _disable_triggers(conn) -> None:
    if conn.dialect.name == "sqlite":
        for table in ("ledger_entry", "ledger_node"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    else:
        conn.exec_driver_sql("ALTER TABLE ledger_entry DISABLE TRIGGER USER")
        conn.exec_driver_sql("ALTER TABLE ledger_node DISABLE TRIGGER USER")


def _tamper_and_verify(engine, tamper, deep: bool = False, batch: int = 7) -> ledger.ChainReport:
    """Apply `tamper` with the append-only triggers off, verify in the same transaction, roll it all back."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            _disable_triggers(conn)
            tamper(conn)
            with Session(bind=conn) as s:
                return ledger.verify_ledger(s, deep=deep, batch=batch)
        finally:
            trans.rollback()


_TS = sa.DateTime(timezone=True)


def _row(conn, seq):
    # Typed columns so SQLite's stored text comes back as a datetime, as on PostgreSQL.
    stmt = sa.text("SELECT kind, case_id, item_id, recorded_at, body, entry_hash FROM ledger_entry WHERE seq = :s")
    return conn.execute(stmt.columns(sa.column("kind"), sa.column("case_id"), sa.column("item_id"),
                                     sa.column("recorded_at", _TS), sa.column("body"), sa.column("entry_hash")),
                        {"s": seq}).one()


def test_untouched_ledger_verifies(filled):
    with Session(filled) as s:
        fast, deep = ledger.verify_ledger(s), ledger.verify_ledger(s, deep=True)
        assert fast.ok and deep.ok and fast.entries == N, fast
        assert fast.root_hash == ledger.tree_root(s)[1].hex()
    assert _tamper_and_verify(filled, lambda conn: None).ok


@DB_SETTINGS
@given(data=st.data())
def test_any_single_byte_change_is_found(filled, data):
    seq = data.draw(st.integers(1, N), label="seq")
    column = data.draw(st.sampled_from(["body", "entry_hash", "kind", "case_id", "item_id", "recorded_at"]))
    deep = data.draw(st.booleans(), label="deep")

    def tamper(conn):
        kind, case_id, item_id, recorded_at, body, entry_hash = _row(conn, seq)
        values = {"body": bytes(body), "entry_hash": entry_hash, "kind": kind, "case_id": case_id,
                  "item_id": item_id, "recorded_at": recorded_at}
        old = values[column]
        if column == "recorded_at":
            new = old + timedelta(microseconds=data.draw(st.sampled_from([-1, 1, 1000000])))
        elif old is None:
            new = "I0000"
        else:
            raw = old if isinstance(old, bytes) else old.encode()
            pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
            byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]), label="byte")
            if not isinstance(old, bytes):  # text columns: keep it decodable by changing to another ASCII byte
                byte = data.draw(st.integers(33, 126).filter(lambda b: b != raw[pos]), label="ascii")
            raw = raw[:pos] + bytes([byte]) + raw[pos + 1:]
            new = raw if isinstance(old, bytes) else raw.decode()
        stmt = sa.text(f"UPDATE ledger_entry SET {column} = :v WHERE seq = :s")  # noqa: S608 - fixed names
        if column == "recorded_at":
            stmt = stmt.bindparams(sa.bindparam("v", type_=_TS))
        conn.execute(stmt, {"v": new, "s": seq})

    report = _tamper_and_verify(filled, tamper, deep)
    assert not report.ok
    assert report.first_bad_seq == seq, report


@DB_SETTINGS
@given(data=st.data())
def test_any_tree_node_change_is_found(filled, data):
    level = data.draw(st.integers(0, 5))
    idx = data.draw(st.integers(0, (N >> level) - 1))
    pos = data.draw(st.integers(0, 31))

    def tamper(conn):
        h = bytes(conn.execute(sa.text("SELECT hash FROM ledger_node WHERE level = :l AND idx = :i"),
                               {"l": level, "i": idx}).scalar_one())
        h = h[:pos] + bytes([h[pos] ^ 0x5A]) + h[pos + 1:]
        conn.execute(sa.text("UPDATE ledger_node SET hash = :h WHERE level = :l AND idx = :i"),
                     {"h": h, "l": level, "i": idx})

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq == (idx << level) + 1, report


@DB_SETTINGS
@given(seq=st.integers(1, N))
def test_any_deletion_is_found(filled, seq):
    report = _tamper_and_verify(filled, lambda conn: conn.execute(
        sa.text("DELETE FROM ledger_entry WHERE seq = :s"), {"s": seq}))
    assert not report.ok and report.first_bad_seq == seq, report


@DB_SETTINGS
@given(pair=st.lists(st.integers(1, N), min_size=2, max_size=2, unique=True).map(sorted))
def test_any_reordering_is_found(filled, pair):
    a, b = pair

    def tamper(conn):  # swap the two rows' positions (renumber through a free sequence number)
        for old, new in ((a, -1), (b, a), (-1, b)):
            conn.execute(sa.text("UPDATE ledger_entry SET seq = :n WHERE seq = :o"), {"n": new, "o": old})

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq == a, report


@DB_SETTINGS
@given(seq=st.integers(1, N + 1), relink=st.booleans())
def test_any_insertion_is_found(filled, seq, relink):
    """A forged entry slipped in at `seq` (later rows renumbered), correctly linked to its predecessor."""

    def tamper(conn):
        prev = ledger.GENESIS if seq == 1 else _row(conn, seq - 1)[5]
        at = _row(conn, min(seq, N))[3]
        # Renumber in two steps so no primary key clashes midway.
        conn.execute(sa.text("UPDATE ledger_entry SET seq = -seq - 1 WHERE seq >= :s"), {"s": seq})
        conn.execute(sa.text("UPDATE ledger_entry SET seq = -seq WHERE seq < 0"))
        body = ledger.canonical({"v": 1, "seq": seq, "prev": prev, "kind": "custody:item:released", "at": at,
                                 "actor": {"id": "U-forger", "role": "lab"}, "case": "C0001", "item": "I0001",
                                 "data": {}})
        conn.execute(sa.text("INSERT INTO ledger_entry (seq, kind, case_id, item_id, recorded_at, body, entry_hash) "
                             "VALUES (:s, 'custody:item:released', 'C0001', 'I0001', :t, :b, :h)").bindparams(
                         sa.bindparam("t", type_=_TS)),
                     {"s": seq, "t": at, "b": body, "h": hashlib.sha256(body).hexdigest()})
        if relink and seq <= N:  # also add its leaf so the tree's leaf count matches
            conn.execute(sa.text("INSERT INTO ledger_node (level, idx, hash) VALUES (0, :i, :h)"),
                         {"i": N, "h": ledger.leaf_hash(body)})

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq == seq, report


def test_deleting_tail_entry_and_its_nodes_still_breaks_the_tree(filled):
    """Removing the last entry together with its leaf leaves interior nodes that no longer add up."""

    def tamper(conn):
        conn.execute(sa.text("DELETE FROM ledger_entry WHERE seq = :s"), {"s": N})
        conn.execute(sa.text("DELETE FROM ledger_node WHERE level = 0 AND idx = :i"), {"i": N - 1})

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq is not None and report.first_bad_seq <= N, report
