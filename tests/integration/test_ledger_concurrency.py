"""Concurrent appenders (threads, one transaction per append) never fork the chain or the tree."""

from __future__ import annotations

import json
import threading

import pytest
from sqlmodel import Session, select

from core import ledger
from core.actors import Actor
from core.ledger import EventKind, LedgerEntry, merkle
from core.ledger import writer as ledger_writer

THREADS, PER_THREAD = 8, 25


@pytest.fixture(params=[False, True], ids=["sync-commit", "group-commit"])
def group_commit(request, monkeypatch):
    """Both PostgreSQL commit modes of core.ledger (SQLite ignores the switch)."""
    monkeypatch.setattr(ledger_writer, "PG_GROUP_COMMIT", request.param)
    return request.param


def test_concurrent_appends_keep_one_chain_and_tree(engine, group_commit):
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def writer(t: int) -> None:
        actor = Actor(id=f"U-writer-{t}", role="lab")
        try:
            barrier.wait()
            for i in range(PER_THREAD):
                with Session(engine) as s:  # one transaction per append, like a real state change
                    ledger.append(s, kind=EventKind.CHECKED_IN, actor=actor, item_id=f"I{t:03d}",
                                  data={"n": i, "location": f"locker-{t}"})
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    with Session(engine) as s:
        report = ledger.verify_ledger(s, deep=True)
        assert report.ok, report
        assert report.entries == THREADS * PER_THREAD == ledger.count(s)
        bodies = [bytes(b) for b in s.exec(select(LedgerEntry.body).order_by(LedgerEntry.seq))]
        assert ledger.tree_root(s)[1] == merkle.mth(bodies)
        per_writer = {}
        for b in bodies:
            doc = json.loads(b)
            per_writer.setdefault(doc["actor"]["id"], []).append(doc["data"]["n"])
        assert all(ns == list(range(PER_THREAD)) for ns in per_writer.values())
        assert ledger_writer._BARRIER_FLAG not in s.info


def test_group_commit_barrier_runs_once_per_appending_transaction(engine, monkeypatch):
    """With group commit on, commit() returns after the barrier; a rollback leaves nothing pending."""
    monkeypatch.setattr(ledger_writer, "PG_GROUP_COMMIT", True)
    actor = Actor(id="U-1", role="lab")
    with Session(engine) as s:
        ledger.append(s, kind=EventKind.CHECKED_IN, actor=actor, data={})
        ledger.append(s, kind=EventKind.CHECKED_OUT, actor=actor, data={})
        assert (s.info.get(ledger_writer._BARRIER_FLAG) is not None) is (engine.dialect.name == "postgresql")
        s.commit()
        assert ledger_writer._BARRIER_FLAG not in s.info
        ledger.append(s, kind=EventKind.CHECKED_IN, actor=actor, data={})
        s.rollback()
        assert ledger_writer._BARRIER_FLAG not in s.info
    with Session(engine) as s:
        assert ledger.count(s) == 2 and ledger.verify_ledger(s).ok
