"""A database connection lost during COMMIT: on PostgreSQL the server may have stored the change before the answer
was lost, so the API must not say "nothing was recorded" (found by tests/faults/test_postgres_stopped.py: an item
answered 503 "nothing was recorded" was in the database). core.db marks such errors; api.problems answers 503
"may or may not have been recorded: look it up before trying again"."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from api.problems import _db_unavailable_handler
from core.db import OUTCOME_UNKNOWN, make_engine, transaction


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_lost_at_commit_on_postgresql_is_marked_outcome_unknown(db_url):
    engine, admin = make_engine(db_url), make_engine(db_url)
    try:
        with pytest.raises(OperationalError) as caught, transaction(engine) as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            session.execute(text("CREATE TEMP TABLE t (x int)"))
            with admin.connect() as other:  # the server goes away under this session before it commits
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert getattr(caught.value, OUTCOME_UNKNOWN, False) is True
    finally:
        engine.dispose()
        admin.dispose()


def _answer(exc: Exception) -> tuple[int, dict]:
    response = asyncio.run(_db_unavailable_handler(None, exc))  # type: ignore[arg-type]
    return response.status_code, json.loads(response.body)


def test_the_api_says_the_outcome_is_unknown_only_for_a_commit_that_lost_its_connection():
    lost = OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
    status, body = _answer(lost)
    assert status == 503 and "nothing was recorded" in body["detail"]  # not at COMMIT: nothing was stored
    setattr(lost, OUTCOME_UNKNOWN, True)
    status, body = _answer(lost)
    assert status == 503 and body["type"].endswith("/database-outcome-unknown")
    assert "may or may not have been recorded" in body["detail"] and "nothing was recorded" not in body["detail"]
    assert isinstance(lost, DBAPIError)
