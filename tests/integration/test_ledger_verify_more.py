"""verify_ledger: a missing tree node is blamed on itself (not its ancestors), and verification reads entries
and nodes from one consistent snapshot (an append committed mid-verify is no tamper alarm).

Tampering follows tests/integration/test_ledger_tamper.py: inside one transaction on a connection (append-only
triggers off), verify through a session bound to that connection, then roll back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.db import make_engine
from core.ledger import EventKind, merkle
from core.ledger import verify as ledger_verify
from tests.integration.test_ledger_tamper import _tamper_and_verify as tamper_and_verify

N = 37
ACTOR = Actor(id="U-lab-7", role="lab")
DB_SETTINGS = settings(max_examples=25, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])


def _append(s: Session, i: int) -> None:
    ledger.append(s, kind=EventKind.CHECKED_IN, actor=ACTOR, case_id=f"C{i % 3:04d}", item_id=f"I{i % 5:04d}",
                  data={"n": i, "location": f"locker-{i % 4}"})


def _fill(engine, clock):
    with Session(engine) as s:
        for i in range(N):
            clock.advance(timedelta(seconds=3, microseconds=i))
            _append(s, i)
        s.commit()
    return engine


@pytest.fixture
def filled(engine, clock):
    """A committed ledger of N entries (once on SQLite, once on PostgreSQL)."""
    return _fill(engine, clock)


@pytest.fixture
def pg_filled(pg_templates, clock):
    """A committed ledger of N entries on PostgreSQL only: the races below need concurrent writers, which
    SQLite serialises (BEGIN IMMEDIATE: appenders wait for the verifying transaction, nothing to race)."""
    from core.db import dispose_engines

    url = pg_templates.fresh()
    engine = make_engine(url)
    try:
        yield _fill(engine, clock)
    finally:
        engine.dispose()
        dispose_engines()
        pg_templates.drop(url)


def _all_nodes(n: int) -> list[tuple[int, int]]:
    return [(level, idx) for level in range(n.bit_length()) for idx in range(n >> level)]


def _tamper_and_verify(engine, tamper, deep: bool = False) -> ledger.ChainReport:
    return tamper_and_verify(engine, tamper, deep, batch=5)  # small batches: gaps cross batch boundaries


def _delete_nodes(nodes):
    def tamper(conn):
        for level, idx in nodes:
            deleted = conn.execute(sa.text("DELETE FROM ledger_node WHERE level = :l AND idx = :i"),
                                   {"l": level, "i": idx}).rowcount
            assert deleted == 1
    return tamper


def test_the_fixture_has_every_node(filled):
    with filled.connect() as conn:
        stored = sorted(tuple(r) for r in conn.execute(sa.text("SELECT level, idx FROM ledger_node")))
    assert stored == sorted(_all_nodes(N))
    with Session(filled) as s:
        assert ledger.verify_ledger(s).ok


def test_each_deleted_node_is_blamed_on_itself(filled):
    """Every single ledger_node row deleted in turn: first bad seq is the first leaf that node covers."""
    for level, idx in _all_nodes(N):
        report = _tamper_and_verify(filled, _delete_nodes([(level, idx)]))
        assert not report.ok, (level, idx)
        assert report.first_bad_seq == (idx << level) + 1, (level, idx, report)
        assert report.entries == idx << level
        assert report.reason == f"tree node ({level}, {idx}) is missing", (level, idx, report)


@DB_SETTINGS
@given(nodes=st.sets(st.sampled_from(_all_nodes(N)), min_size=1, max_size=6))
def test_any_set_of_deleted_nodes_is_found_at_the_earliest(filled, nodes):
    report = _tamper_and_verify(filled, _delete_nodes(sorted(nodes)))
    first = min(idx << level for level, idx in nodes)
    assert not report.ok and report.first_bad_seq == first + 1, (nodes, report)
    blamed = {(lv, ix) for lv, ix in nodes if ix << lv == first}
    assert any(report.reason == f"tree node ({lv}, {ix}) is missing" for lv, ix in blamed), (nodes, report)


@DB_SETTINGS
@given(node=st.sampled_from(_all_nodes(N)), changed=st.sampled_from(_all_nodes(N)), deep=st.booleans())
def test_deleted_and_changed_nodes_report_the_earliest(filled, node, changed, deep):
    """A deleted node next to a corrupted one: the earlier of the two subtrees is reported, each by name."""

    def tamper(conn):
        _delete_nodes([node])(conn)
        conn.execute(sa.text("UPDATE ledger_node SET hash = :h WHERE level = :l AND idx = :i"),
                     {"h": b"\x42" * 32, "l": changed[0], "i": changed[1]})

    report = _tamper_and_verify(filled, tamper, deep)
    assert not report.ok
    if changed == node:  # the update found no row
        assert report.first_bad_seq == (node[1] << node[0]) + 1, report
        return
    missing, wrong = node[1] << node[0], changed[1] << changed[0]
    # A node is only checked when both its children are good: a changed ancestor of the deleted node is not
    # checked; a changed node below the deleted one is reported (it is at or after the deleted one's start).
    ancestor = changed[0] > node[0] and node[1] >> (changed[0] - node[0]) == changed[1]
    expect = missing if ancestor else min(missing, wrong)
    assert report.first_bad_seq == expect + 1, (node, changed, report)


@DB_SETTINGS
@given(level=st.integers(0, 7), extra=st.integers(0, 3))
def test_nodes_beyond_the_last_entry_are_found(filled, level, extra):
    idx = (N >> level) + extra

    def tamper(conn):
        conn.execute(sa.text("INSERT INTO ledger_node (level, idx, hash) VALUES (:l, :i, :h)"),
                     {"l": level, "i": idx, "h": b"\x07" * 32})

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq == N + 1, report
    assert "beyond the last entry" in report.reason


def test_deleted_entry_and_its_leaf_are_blamed_on_the_entry(filled):
    def tamper(conn):
        conn.execute(sa.text("DELETE FROM ledger_entry WHERE seq = 10"))
        conn.execute(sa.text("DELETE FROM ledger_node WHERE level = 0 AND idx = 9"))

    report = _tamper_and_verify(filled, tamper)
    assert not report.ok and report.first_bad_seq == 10, report


# -- one snapshot -------------------------------------------------------------------------------------------


@pytest.fixture
def append_mid_verify(monkeypatch):
    """Make verify_ledger commit `k` appends from another session once the entries are read (before the tree)."""
    state = {"engine": None, "k": 1, "done": 0}
    walk = ledger_verify._walk_chain

    def walk_then_append(rows, leaves, deep):
        out = walk(rows, leaves, deep)  # consumes the whole entry stream
        with Session(state["engine"]) as other:
            for i in range(state["k"]):
                _append(other, 1000 + i)
            other.commit()
        state["done"] += state["k"]
        return out

    monkeypatch.setattr(ledger_verify, "_walk_chain", walk_then_append)
    return state


@DB_SETTINGS
@given(k=st.integers(1, 4), deep=st.booleans())
def test_append_committed_between_the_reads_is_no_alarm(pg_filled, append_mid_verify, k, deep):
    filled = pg_filled
    append_mid_verify.update(engine=filled, k=k)
    with Session(filled) as s:
        size = ledger.head(s)[0]
        s.rollback()
        report = ledger.verify_ledger(s, deep=deep, batch=4)
        assert report.ok, report
        assert report.entries == size  # the snapshot taken by the entry read
        assert report.root_hash == ledger.tree_root(s, size)[1].hex()
        assert ledger.head(s)[0] == size + k  # the appends did commit meanwhile
    append_mid_verify["k"] = 0
    with Session(filled) as s:  # and the grown ledger verifies too
        report = ledger.verify_ledger(s)
        assert report.ok and report.entries == size + k, report


def test_verify_inside_an_open_session_transaction_uses_a_fresh_snapshot(pg_filled, append_mid_verify):
    """The session may already be in a transaction (it read the ledger): verify still sees one snapshot."""
    filled = pg_filled
    append_mid_verify.update(engine=filled, k=2)
    with Session(filled) as s:
        assert ledger.count(s) == N  # the session's transaction is open
        report = ledger.verify_ledger(s)
        assert report.ok and report.entries == N, report
        assert ledger.count(s) == N + 2


def test_verify_leaves_pooled_connections_writable(db_url, clock):
    """The verifier's REPEATABLE READ / read-only settings do not stick to the pooled connection."""
    engine = make_engine(db_url, **({"pool_size": 1, "max_overflow": 0} if db_url.startswith("postgres") else {}))
    try:
        with Session(engine) as s:
            _append(s, 0)
            s.commit()
        with Session(engine) as s:
            assert ledger.verify_ledger(s).ok
        with Session(engine) as s:
            _append(s, 1)
            s.commit()
            if engine.dialect.name == "postgresql":
                conn = s.connection()
                assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
                assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "off"
        with Session(engine) as s:
            assert ledger.verify_ledger(s).ok and ledger.count(s) == 2
    finally:
        engine.dispose()


def test_connection_bound_verify_holds_off_appenders(pg_filled):
    """A session bound to the caller's READ COMMITTED connection: appends wait until that transaction ends."""
    filled = pg_filled
    with filled.connect() as conn:
        with Session(bind=conn) as s:
            assert ledger.verify_ledger(s).ok
            with filled.connect() as other:
                assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(7061993)")).scalar() is False
                other.rollback()
        conn.rollback()
        with filled.connect() as other:
            assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(7061993)")).scalar() is True
            other.rollback()


def test_root_is_unchanged(filled):
    """The tree rework still folds the same root as core.ledger.merkle over the bodies."""
    with Session(filled) as s:
        bodies = [bytes(b) for b in s.execute(sa.text("SELECT body FROM ledger_entry ORDER BY seq")).scalars()]
        assert ledger.verify_ledger(s).root_hash == merkle.mth(bodies).hex()
