"""The pathway's follow-up stage: after the exam, wait (suspended) for each follow-up date of the pack (1 week,
6 weeks, 3 months by default), raise the follow-up as a task for the case's assigned advocate when it comes due,
and stop when a declined or withdrawn sharing release or medical-care consent ends them (why those two:
policies.advocacy_rules).

`follow_up_timers(case_id)` runs one pass of the stage in its own transaction and returns the FUTURE date to
wait for as (key, at) pairs; whatever is due is done during the pass, once (the follow-up row's raised_at).
flows.pathway.run_pass turns them into its Timers. No survivor data: the key is the follow-up's pack name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.actors import system_actor
from core.clock import utcnow
from core.db import get_engine, transaction
from policies.advocacy_followups import raise_due_follow_ups, schedule_follow_ups

ACTOR = system_actor("pathway")
TIMER_KEY = "follow-up"


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def follow_up_pass(session: Session, case_id: str, now: datetime) -> datetime | None:
    """Schedule the follow-ups once an exam is on record, raise those due, end them on a declined/withdrawn
    consent; the next due date to wait for, or None (no exam yet, none left, or ended)."""
    if not schedule_follow_ups(session, actor=ACTOR, case_id=case_id, now=now):
        return None
    return raise_due_follow_ups(session, actor=ACTOR, case_id=case_id, now=now)


def follow_up_timers(case_id: str, run_id: str | None = None) -> list[tuple[str, datetime]]:
    """One pass of the stage (its own transaction); [(key, when)] for the next follow-up date, if any."""
    now = utcnow()
    try:
        with transaction(_session) as session:
            at = follow_up_pass(session, case_id, now)
    except IntegrityError:  # another run of the case scheduled them at the same instant: read theirs
        with transaction(_session) as session:
            at = follow_up_pass(session, case_id, now)
    return [(TIMER_KEY, at)] if at is not None else []
