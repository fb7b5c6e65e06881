"""A database that cannot write answers 503 with a reason (not 500 "internal server error"), nothing is recorded
by the failed request, and /health reports the database as not ready (it commits a write) — on SQLite (read-only
file, full database) and PostgreSQL (read-only database)."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlmodel import Session

from core.cases import Case
from core.ledger import LedgerEntry
from tests.api_helpers import api_harness

CANARY = "Canary-Survivor-5521"


def _database_part(h) -> dict:
    return h.client.get("/health").json()["parts"]["database"]


def _counts(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Case)), s.scalar(select(func.count()).select_from(LedgerEntry))


def _make_read_only(h, db_url: str) -> None:
    url = make_url(db_url)
    h.app.state.engine.dispose() if h.app.state.engine is not None else None
    if url.get_backend_name() == "sqlite":
        path = url.database
        h.app.state.engine = create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))
    else:
        with h.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on'))
        h.app.state.engine = create_engine(db_url)


def _make_writable(h, db_url: str) -> None:
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        with h.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text(f'ALTER DATABASE "{url.database}" RESET default_transaction_read_only'))


def test_a_read_only_database_answers_503_with_the_reason_and_health_says_so(db_url, tmp_path):
    h = api_harness(db_url, tmp_path)
    try:
        examiner = h.user("examiner")
        assert h.client.post("/cases", json={}, headers=examiner.headers).status_code == 201
        part = _database_part(h)
        assert part["ok"] is True and "a write commits" in part["detail"]
        before = _counts(h.engine)

        _make_read_only(h, db_url)
        try:
            resp = h.client.post("/cases", json={}, headers=examiner.headers)
            assert resp.status_code == 503, resp.text
            body = resp.json()
            assert body["type"].endswith("/database-unavailable")
            assert "nothing was recorded" in body["detail"] and "read-only" in body["detail"]
            assert resp.headers["Retry-After"] == "5"
            assert "INSERT" not in resp.text and "case_" not in resp.text
            part = _database_part(h)
            assert part["ok"] is False
            assert part["detail"].startswith("reachable but cannot write: the database is read-only")
            # Reads still work: staff can look things up while the database refuses writes.
            assert h.client.get("/me", headers=examiner.headers).status_code == 200
        finally:
            _make_writable(h, db_url)
        assert _counts(h.engine) == before, "the refused request left a case or a ledger entry behind"
    finally:
        h.close()


def test_a_full_sqlite_database_answers_503_disk_full_and_keeps_nothing_of_the_failed_request(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'full.db'}"
    from core import migrate

    migrate.upgrade(db_url, "head")
    h = api_harness(db_url, tmp_path / "data")
    try:
        examiner = h.user("examiner")
        path = make_url(db_url).database
        with sqlite3.connect(path) as c:
            pages = c.execute("PRAGMA page_count").fetchone()[0]
        engine = create_engine(db_url)

        @event.listens_for(engine, "connect")
        def _cap(dbapi_conn, _record) -> None:  # the database may not grow past its current size: "full"
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        h.app.state.engine = engine
        statuses = []
        for _ in range(200):
            resp = h.client.post("/cases", json={}, headers=examiner.headers)
            statuses.append(resp.status_code)
            if resp.status_code != 201:
                break
        assert statuses[-1] == 503, statuses
        body = resp.json()
        assert "disk is full" in body["detail"] and body["type"].endswith("/database-unavailable")
        assert statuses.count(500) == 0
        created = statuses.count(201)
        cases, _ = _counts(h.engine)
        assert cases == created + 0, "the failed request left a case behind"
    finally:
        h.close()
