"""The pathway's retention stage as a durable wait: after the last handoff the run suspends (at no cost) until
the survivor's notice date, then until destruction is due, then completes.

Called from flows.pathway.run_pass once no checkpoint is waiting for a decision. The dates are read from the
database at every pass (evidence.notice_tasks.retention_dates): an extension, a conversion or a hold enqueues a
WAKE, the run re-passes and waits for the new dates. What is due during a pass is done here, idempotently:
a notice that has come due raises its `destruction-notice` alert once (dedupe key per item and date). Timers
are only for future dates (flows.pathway.Timer); a legal hold on an item past its date waits for the hold to
be lifted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from core.actors import system_actor
from core.clock import utcnow
from core.db import get_engine, transaction
from evidence.notice_tasks import RetentionDates, raise_due_notice_alerts, retention_dates

ACTOR = system_actor("pathway")
TIMER_NOTICE = "retention-notice"  # the notice date: notice_days before the item's destruction date
TIMER_DESTRUCTION = "retention-destruction"  # the item's destruction date (retention_until, read now)
CP_LEGAL_HOLD = "legal-hold"  # destruction date passed but a legal hold keeps the item: wait for its lift


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


class _Pass(Protocol):
    """The part of flows.pathway.PassResult this stage reads and adds to (no import of flows.pathway: no cycle)."""

    open: list[str]


def retention_stage(case_id: str, run_id: str | None, result: _Pass) -> list[tuple[str, datetime]]:
    """The retention stage's timers (key, at) for `result` (only after the last handoff: nothing open);
    a legal hold past the destruction date is added to `result.open`. `run_id` is unused: kept for the
    stage signature of flows.pathway."""
    if result.open:
        return []
    now = utcnow()

    with transaction(_session) as session:
        raise_due_notice_alerts(session, actor=ACTOR, case_id=case_id, now=now)
        dates: RetentionDates = retention_dates(session, case_id=case_id, now=now)
    timers = []
    if dates.notice_at is not None:
        timers.append((TIMER_NOTICE, dates.notice_at))
    if dates.destruction_at is not None:
        timers.append((TIMER_DESTRUCTION, dates.destruction_at))
    if dates.held:
        result.open.append(CP_LEGAL_HOLD)
    return timers
