"""core.dbhealth.describe_failure: every known database failure gets a reason a person can act on, and the
driver's own text (which can hold the statement and its values) is never repeated."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from core.db import STALE_READ
from core.dbhealth import GENERIC, describe_failure

CANARY = "Maria-Canary-7731"
STATEMENT = "INSERT INTO case_identity VALUES ('Maria-Canary-7731')"  # what a driver error carries


@pytest.mark.parametrize(("driver_text", "expected"), [
    ("database or disk is full", "disk is full"),
    ("could not extend file \"base/1/2\": No space left on device", "disk is full"),
    ("attempt to write a readonly database", "read-only"),
    ("cannot execute INSERT in a read-only transaction", "read-only"),
    ("database is locked", "busy"),
    (STALE_READ, "changed by another writer"),  # a read request's write over a stale SQLite snapshot
    ("disk I/O error", "I/O error"),
    ("connection to server at \"127.0.0.1\", port 5432 failed: Connection refused", "connection refused"),
    ("server closed the connection unexpectedly", "lost"),
    ("terminating connection due to administrator command", "restarting"),
    ("FATAL: the database system is starting up", "starting up"),
    ("something nobody foresaw", GENERIC),
])
def test_each_failure_gets_an_actionable_reason_without_the_drivers_text(driver_text, expected):
    exc = OperationalError(STATEMENT, {"name": CANARY},
                           sqlite3.OperationalError(driver_text))
    reason = describe_failure(exc)
    assert expected in reason
    assert CANARY not in reason and "INSERT" not in reason


def test_a_bug_in_a_statement_is_not_an_outage():
    from sqlalchemy.exc import InternalError, ProgrammingError

    from core.dbhealth import is_unavailable

    assert not is_unavailable(ProgrammingError("SELECT", {}, Exception("syntax error at or near \"FORM\"")))
    assert is_unavailable(InternalError("INSERT", {}, Exception("cannot execute INSERT in a read-only transaction")))
    assert is_unavailable(OperationalError("SELECT 1", {}, Exception("anything at all")))
