"""Read requests never queue for SQLite's write lock (issue #17: 39 of 14,781 soak requests answered 503 "database
is busy" because GETs began BEGIN IMMEDIATE), while what a GET writes stays correct and every write still takes the
lock up front (core.db "SQLite: readers and writers", api.deps.get_session).

Another connection holds a write transaction open on the database: plain GETs answer 200 while it does; a GET that
writes an access-log row answers 200 once the writer is done, within the busy timeout, and its row is there; a
write (and an access-logged read) the writer holds up past the busy timeout answers 503 "busy", records nothing
and returns no data. On PostgreSQL the same requests answer the same (its transactions are unchanged). Outcomes
only: no durations are asserted.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

import core.db as db
from api.app import iter_api_routes
from core.cases import Case
from core.clock import utcnow
from core.ledger import EventKind, LedgerEntry
from policies.access import AccessLog
from policies.permissions import Role
from tests.api_helpers import api_harness
from tests.api_world import build_world

BUSY_S = 2  # the SQLite harness's busy timeout (the URL's ?timeout=), so a write held up fails fast
NAME = "Reads-Under-Load Person"


def _busy_url(db_url: str) -> str:
    return f"{db_url}?timeout={BUSY_S}" if db_url.startswith("sqlite") else db_url


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(_busy_url(db_url), tmp_path)
    yield h
    h.close()


@contextmanager
def writer_holding_the_lock(db_url: str) -> Iterator[sa.Connection]:
    """Another connection with a write transaction open (SQLite: BEGIN IMMEDIATE holds the write lock) until the
    block ends, then committed."""
    engine = db.make_engine(_busy_url(db_url))
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("INSERT INTO health_probe (id, checked_at) VALUES (77, CURRENT_TIMESTAMP)"))
            yield conn
    finally:
        engine.dispose()


def _access_rows(engine, user_id: str, resource: str) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(AccessLog).where(
            AccessLog.user_id == user_id, AccessLog.resource == resource, AccessLog.outcome == "read"))


def _case_with_identity(h):
    examiner = h.user(Role.EXAMINER)
    case_id = h.client.post("/cases", json={}, headers=examiner.headers).json()["id"]
    assert h.client.put(f"/cases/{case_id}/identity", json={"full_name": NAME},
                        headers=examiner.headers).status_code == 204
    return examiner, case_id


def test_reads_answer_while_another_connection_holds_a_write_open(harness, db_url):
    h = harness
    examiner, case_id = _case_with_identity(h)
    hd = examiner.headers
    identity_route = "GET /cases/{case_id}/identity"
    before = _access_rows(h.engine, examiner.id, identity_route)
    answers: dict[str, object] = {}

    def read_identity() -> None:
        answers["identity"] = h.client.get(f"/cases/{case_id}/identity", headers=hd)

    with writer_holding_the_lock(db_url) as held:
        # Plain reads answer while the writer holds its transaction (before: BEGIN IMMEDIATE queued them behind it
        # until the busy timeout, then 503 "database is busy").
        for path in ("/me", f"/cases/{case_id}", f"/cases/{case_id}/items", "/cases", "/inbox"):
            resp = h.client.get(path, headers=hd)
            assert resp.status_code == 200, (path, resp.status_code, resp.text)
        # An access-logged read: its row needs the write lock, so it waits for the writer like any writer.
        reader = threading.Thread(target=read_identity)
        reader.start()
        assert held.in_transaction()  # the writer still held the lock while every read above answered
    reader.join(timeout=120)
    assert not reader.is_alive()
    resp = answers["identity"]
    assert resp.status_code == 200, resp.text
    assert resp.json()["full_name"] == NAME
    assert _access_rows(h.engine, examiner.id, identity_route) == before + 1  # the read is on record


def test_a_write_held_up_past_the_busy_timeout_answers_503_and_records_nothing(harness, db_url):
    """SQLite: a write (POST) still takes the lock up front, waits for the writer ahead and, past the busy timeout,
    answers 503 "busy, nothing recorded"; an access-logged read whose row cannot be written in time fails closed
    (503, no data, no row). PostgreSQL: writers to other rows do not block them (row locks): both answer."""
    h = harness
    examiner, case_id = _case_with_identity(h)
    hd = examiner.headers
    identity_route = "GET /cases/{case_id}/identity"
    with Session(h.engine) as s:
        cases_before = s.scalar(select(func.count()).select_from(Case))
    rows_before = _access_rows(h.engine, examiner.id, identity_route)
    with writer_holding_the_lock(db_url):
        opened = h.client.post("/cases", json={}, headers=hd)
        identity = h.client.get(f"/cases/{case_id}/identity", headers=hd)
        plain = h.client.get(f"/cases/{case_id}", headers=hd)
    assert plain.status_code == 200, plain.text
    with Session(h.engine) as s:
        cases_after = s.scalar(select(func.count()).select_from(Case))
    rows_after = _access_rows(h.engine, examiner.id, identity_route)
    if db.is_sqlite(db_url):
        for resp in (opened, identity):
            assert resp.status_code == 503, resp.text
            assert "busy" in resp.json()["detail"] and "nothing was recorded" in resp.json()["detail"]
        assert NAME not in identity.text  # no access-log row, no data
        assert (cases_after, rows_after) == (cases_before, rows_before)
    else:
        assert opened.status_code == 201 and identity.status_code == 200
        assert (cases_after, rows_after) == (cases_before + 1, rows_before + 1)


def _insert_probe(session: Session, row_id: int) -> None:
    session.execute(sa.text("INSERT INTO health_probe (id, checked_at) VALUES (:i, CURRENT_TIMESTAMP)"),
                    {"i": row_id})


def _probe_ids(engine) -> set[int]:
    with engine.connect() as c:
        return set(c.execute(sa.text("SELECT id FROM health_probe")).scalars())


def test_a_deferred_transaction_writes_only_over_a_snapshot_nobody_changed(engine, db_url):
    """core.db: a deferred transaction's first write takes the lock in place; it goes on when nobody committed
    since its snapshot, and is refused "database is locked" (nothing written) when somebody did, as is every later
    write of that transaction. start_writing's writes (a record of a read) go on either way. PostgreSQL: deferred
    changes nothing, every write goes on."""
    with db.transaction(engine, deferred=True) as s:
        s.execute(sa.text("SELECT count(*) FROM staff_user")).scalar()
        _insert_probe(s, 1)  # nobody committed since the snapshot
    stale = db.is_sqlite(db_url)
    refused = []
    with db.transaction(engine, deferred=True) as s:
        s.execute(sa.text("SELECT count(*) FROM health_probe")).scalar()
        with db.transaction(engine) as other:
            _insert_probe(other, 2)  # committed after the snapshot
        for row in (3, 4):  # the second: a later write of the same transaction
            try:
                _insert_probe(s, row)
            except OperationalError as exc:
                refused.append(str(exc.orig))
    with db.transaction(engine, deferred=True) as s:
        s.execute(sa.text("SELECT count(*) FROM health_probe")).scalar()
        with db.transaction(engine) as other:
            _insert_probe(other, 5)
        db.start_writing(s, "the row records the read")
        _insert_probe(s, 6)
    if stale:
        assert len(refused) == 2 and all("database is locked" in r for r in refused)
        assert _probe_ids(engine) == {1, 2, 5, 6}
    else:
        assert refused == [] and _probe_ids(engine) == {1, 2, 3, 4, 5, 6}


def test_every_get_route_announces_its_writes(db_url, tmp_path, clock, s3_settings):
    """Every GET route of the app, called on the real objects of tests.api_world by the people who may: none of
    them writes without core.db.start_writing (an in-place write could be refused as stale under load), and the
    reads that are access-logged leave their rows."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-rd-{secrets.token_hex(5)}")
    try:
        world = build_world(h)
        people = [world.opener, world.chair, world.advocate, h.user(Role.AUDITOR), h.user(Role.LAB),
                  h.user(Role.COORDINATOR, assign_to=world.case_id)]
        before = db.in_place_writes
        with Session(h.engine) as s:
            rows_before = s.scalar(select(func.count()).select_from(AccessLog))
        answered = 0
        for route in iter_api_routes(h.app):
            if "GET" not in route.methods or route.path.startswith("/status") or route.path == "/health":
                continue  # the survivor's page reads no staff data; /health's probe is its own (no Prefect here)
            path = route.path
            for name, value in {**world.path_values(), "user_id": world.opener.id}.items():
                path = path.replace("{" + name + "}", value)
            for who in people:
                resp = h.client.get(path, headers=who.headers)
                assert resp.status_code < 500, (path, resp.status_code, resp.text[:200])
                answered += resp.status_code == 200
        assert answered > 40
        assert db.in_place_writes == before, "a GET route wrote without core.db.start_writing"
        with Session(h.engine) as s:
            assert s.scalar(select(func.count()).select_from(AccessLog)) > rows_before
    finally:
        h.close()


def test_a_read_the_checkpoint_decides_waits_for_the_writer_and_its_decision_is_on_the_ledger(harness, db_url):
    """An advocate's read of the exam passes the consent checkpoint, whose decision is a ledger entry: on SQLite it
    takes the write lock (core.db.start_writing in policies.checkpoint.decide), so it waits for the writer ahead
    and answers once that one is done, with its CHECKPOINT_ALLOWED entry committed before the data is returned."""
    h = harness
    examiner, case_id = _case_with_identity(h)
    expires = (utcnow() + timedelta(days=90)).isoformat()
    assert h.client.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
        "scope": "forensic-exam", "decision": "granted", "method": "written", "form_ref": "F-exam"}).status_code == 201
    assert h.client.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
        "scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-share",
        "expires_at": expires}).status_code == 201
    assert h.client.post(f"/cases/{case_id}/exam", headers=examiner.headers,
                         json={"started_at": utcnow().isoformat(), "narrative": "exam notes"}).status_code == 201
    advocate = h.user(Role.ADVOCATE, assign_to=case_id)
    answers: dict[str, object] = {}
    reader = threading.Thread(target=lambda: answers.setdefault(
        "exam", h.client.get(f"/cases/{case_id}/exam", headers=advocate.headers)))
    with writer_holding_the_lock(db_url) as held:
        reader.start()
        assert h.client.get(f"/cases/{case_id}", headers=examiner.headers).status_code == 200
        assert held.in_transaction()
    reader.join(timeout=120)
    assert not reader.is_alive()
    resp = answers["exam"]
    assert resp.status_code == 200, resp.text
    assert [e["narrative"] for e in resp.json()] == ["exam notes"]
    with Session(h.engine) as s:
        allowed = s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.case_id == case_id, LedgerEntry.kind == EventKind.CHECKPOINT_ALLOWED.value))
    assert allowed >= 1


def test_a_transaction_opened_on_a_read_sessions_bind_writes_immediate(engine, db_url):
    """A record written "in a transaction of its own" from a read request's bind (an integrity incident during a
    download: transaction(session.get_bind())) begins IMMEDIATE, as every write does; the read session stays
    deferred until start_writing. PostgreSQL: no session is ever "reading"."""
    sqlite = db.is_sqlite(db_url)
    with db.transaction(engine, deferred=True) as reading_session:
        reading_session.execute(sa.text("SELECT count(*) FROM health_probe")).scalar()
        assert db.is_reading(reading_session) is sqlite
        with db.transaction(reading_session.get_bind()) as own:
            own.execute(sa.text("SELECT count(*) FROM health_probe")).scalar()
            assert db.is_reading(own) is False
            _insert_probe(own, 12)
        db.start_writing(reading_session, "the row records the read")
        assert db.is_reading(reading_session) is False
        _insert_probe(reading_session, 13)
    assert {12, 13} <= _probe_ids(engine)
