"""Timed pathway waits (core.outbox.wake_due) on SQLite and PostgreSQL: a wait with `wake_at` is woken once, when
the injectable clock reaches it, and not before; re-recording it with a new time arms it again. Migration 0014."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from core import migrate, outbox
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

CASE = "C0000000000000001"
OTHER = "C0000000000000002"


def _wakes(session) -> list[outbox.OutboxMessage]:
    return list(session.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.kind == "wake")
                                .order_by(outbox.OutboxMessage.id)))


def test_a_timed_wait_is_woken_once_when_the_clock_reaches_it(session, clock):
    start = clock.now()
    outbox.record_wait(session, case_id=CASE, key="followup-1w-3", flow_run_id="run-1",
                       wake_at=start + timedelta(days=7))
    outbox.record_wait(session, case_id=OTHER, key="release-consent-1", flow_run_id="run-2")  # a decision wait
    session.commit()

    clock.advance(timedelta(days=6, hours=23))
    assert outbox.wake_due(session) == 0
    assert _wakes(session) == []

    clock.advance(timedelta(hours=1))
    assert outbox.wake_due(session) == 1
    session.commit()
    [wake] = _wakes(session)
    assert (wake.case_id, wake.key, wake.delivered_at) == (CASE, "followup-1w-3", None)

    clock.advance(timedelta(days=30))
    assert outbox.wake_due(session) == 0, "a wait is woken once, not on every sweep"
    [wait] = [w for w in outbox.waits_for(session, CASE)]
    assert wait.woken_at is not None


def test_re_recording_a_wait_with_a_new_time_arms_it_again(session, clock):
    now = clock.now()
    outbox.record_wait(session, case_id=CASE, key="notice-2", flow_run_id="run-1", wake_at=now + timedelta(days=1))
    clock.advance(timedelta(days=2))
    assert outbox.wake_due(session) == 1
    # The run resumed, found the date moved (an extension), and waits again on the same key, later.
    outbox.record_wait(session, case_id=CASE, key="notice-2", flow_run_id="run-1",
                       wake_at=clock.now() + timedelta(days=365))
    [wait] = outbox.waits_for(session, CASE)
    assert wait.woken_at is None
    assert outbox.wake_due(session) == 0
    clock.advance(timedelta(days=366))
    assert outbox.wake_due(session) == 1
    assert len(_wakes(session)) == 2


def test_several_due_waits_of_one_case_make_one_wake(session, clock):
    now = clock.now()
    for n, days in enumerate((1, 2, 3), start=1):
        outbox.record_wait(session, case_id=CASE, key=f"t-{n}", flow_run_id=f"run-{n}",
                           wake_at=now + timedelta(days=days))
    clock.advance(timedelta(days=10))
    assert outbox.wake_due(session) == 1
    assert len(_wakes(session)) == 1


def test_migration_0014_adds_the_timer_columns_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0013")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO pathway_wait (case_id, key, flow_run_id, created_at) "
                                  "VALUES ('C1', 'release-consent-1', 'r', :t)"), {"t": "2026-11-01 10:00:00+00:00"})
            migrate.upgrade(url, "0014")
            cols = {c["name"] for c in sa.inspect(engine).get_columns("pathway_wait")}
            assert {"wake_at", "woken_at"} <= cols
            with engine.begin() as c:
                assert c.execute(sa.text("SELECT wake_at, woken_at FROM pathway_wait")).one() == (None, None)
            command.downgrade(migrate.alembic_config(url), "0013")
            cols = {c["name"] for c in sa.inspect(engine).get_columns("pathway_wait")}
            assert "wake_at" not in cols
        finally:
            engine.dispose()
