"""The ledger on real SQLite and PostgreSQL: appends chain, the database refuses edits."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import ledger
from core.ledger import EventKind


def test_append_chains_and_verifies(session, examiner, clock):
    for i in range(5):
        ledger.append(session, kind=EventKind.CASE_OPENED, actor=examiner, case_id=f"C{i:016d}",
                      data={"n": i})
    session.commit()
    report = ledger.verify_chain(session)
    assert report.ok and report.entries == 5
    first = session.get(ledger.LedgerEntry, 1)
    assert ledger.decode(first)["prev"] == ledger.GENESIS


@pytest.mark.parametrize("stmt", ["UPDATE ledger_entry SET kind = 'x' WHERE seq = 1",
                                  "DELETE FROM ledger_entry WHERE seq = 1"])
def test_database_refuses_update_and_delete(engine, examiner, stmt):
    with sa.orm.Session(engine) as s:
        ledger.append(s, kind=EventKind.CASE_OPENED, actor=examiner, data={})
        s.commit()
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text(stmt))
        conn.commit()


def test_personal_data_is_refused(session, examiner):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="personal data"):
        ledger.append(session, kind=EventKind.CASE_OPENED, actor=examiner, data={"name": "Jane Doe"})
