"""Follow-ups after the exam (the pack's `followups`: 1 week, 6 weeks, 3 months by default): schedule them,
raise each as a task for the case's assigned advocate when it comes due, record whether it happened, and end
the open ones when the sharing release or the medical-care consent is declined or withdrawn (why those two:
policies.advocacy_rules). The pathway's follow-up stage (flows.followups) calls `schedule_follow_ups` and
`raise_due_follow_ups`; the work queue reads `follow_ups_due_for`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.ledger import EventKind
from policies.advocacy_models import FollowUp
from policies.advocacy_records import require_release
from policies.advocacy_rules import (
    RECORDABLE_OUTCOMES,
    FollowUpOutcome,
    ends_follow_ups,
    next_due,
    plan_follow_ups,
    tasks_may_be_raised,
)
from policies.authz import active_assignment, assigned_case_ids
from policies.checkpoint.rules import CaseFacts, evaluate
from policies.clinical import ExamRecord
from policies.consent import active_overrides, consent_state
from policies.handoffs import ConsentScope, Handoff
from policies.jurisdictions import get_pack

ENDING_SCOPES = frozenset({ConsentScope.SHARE_ADVOCATE, ConsentScope.MEDICAL_CARE})


def list_follow_ups(session: Session, case_id: str, *, lock: bool = False) -> list[FollowUp]:
    """The case's follow-ups by due date (`lock`: row locks, so two runs never raise one twice)."""
    stmt = select(FollowUp).where(FollowUp.case_id == case_id).order_by(FollowUp.due_at, FollowUp.id)
    return list(session.execute(stmt.with_for_update() if lock else stmt).scalars())


def _statuses(session: Session, case_id: str, now: datetime) -> dict[str, str]:
    state = consent_state(session, case_id, now)
    return {str(scope): str(state[scope].status) for scope in ENDING_SCOPES if scope in state}


def schedule_follow_ups(session: Session, *, actor: Actor, case_id: str,
                        now: datetime | None = None) -> list[FollowUp]:
    """Create the pack's follow-ups from the first exam's end (or start), once; [] while no exam is recorded."""
    now = now or utcnow()
    case = get_case(session, case_id)
    existing = list_follow_ups(session, case.id)
    if existing:
        return existing
    exam = session.execute(select(ExamRecord).where(ExamRecord.case_id == case.id)
                           .order_by(ExamRecord.started_at)).scalars().first()
    if exam is None:
        return []
    exam_at = as_utc(exam.ended_at or exam.started_at)
    rules = [(r.name, r.days_after_exam, tuple(str(c) for c in r.checks))
             for r in get_pack(case.jurisdiction).followups]
    planned = plan_follow_ups(exam_at, rules)
    ledger.append(session, kind=EventKind.FOLLOW_UP_SCHEDULED, actor=actor, case_id=case.id, at=now,
                  data={"follow_ups": [p.name for p in planned], "due": [p.due_at for p in planned]})
    rows = [FollowUp(case_id=case.id, name=p.name, checks=",".join(p.checks), due_at=p.due_at, scheduled_at=now)
            for p in planned]
    session.add_all(rows)
    session.flush()
    return rows


def end_follow_ups(session: Session, *, actor: Actor, case_id: str, reason: str,
                   now: datetime | None = None) -> list[FollowUp]:
    """Close every open follow-up of the case as ENDED (one ledger entry); [] when none was open."""
    now = now or utcnow()
    open_rows = [r for r in list_follow_ups(session, case_id, lock=True) if r.outcome is None]
    if not open_rows:
        return []
    for r in open_rows:
        r.outcome, r.outcome_at, r.outcome_by = FollowUpOutcome.ENDED.value, now, actor.id
        session.add(r)
    ledger.append(session, kind=EventKind.FOLLOW_UPS_ENDED, actor=actor, case_id=case_id, at=now,
                  data={"follow_ups": [r.id for r in open_rows], "reason": reason})
    session.flush()
    return open_rows


def end_follow_ups_on_withdrawal(session: Session, case_id: str, scope: ConsentScope, actor: Actor,
                                 now: datetime) -> None:
    """Withdrawal hook (wired in evidence.bootstrap): a withdrawn release or medical-care consent ends them."""
    if ConsentScope(scope) in ENDING_SCOPES:
        end_follow_ups(session, actor=actor, case_id=case_id, now=now,
                       reason=f"the {scope} consent was withdrawn: follow-ups end")


def raise_due_follow_ups(session: Session, *, actor: Actor, case_id: str,
                         now: datetime | None = None) -> datetime | None:
    """Raise the follow-ups due by `now` (FOLLOW_UP_DUE on the ledger, once each) while the release is in force;
    end them all on a declined/withdrawn consent. Returns the next due date to wait for, or None (none left)."""
    now = now or utcnow()
    statuses = _statuses(session, case_id, now)
    why = ends_follow_ups(statuses)
    if why is not None:
        end_follow_ups(session, actor=actor, case_id=case_id, reason=why, now=now)
        return None
    rows = [r for r in list_follow_ups(session, case_id, lock=True) if r.outcome is None]
    if tasks_may_be_raised(statuses):
        for r in rows:
            if r.raised_at is None and as_utc(r.due_at) <= now:
                r.raised_at = now
                session.add(r)
                ledger.append(session, kind=EventKind.FOLLOW_UP_DUE, actor=actor, case_id=case_id, at=now,
                              data={"follow_up": r.id, "step": r.name})
        session.flush()
    return next_due([as_utc(r.due_at) for r in rows], now)


def record_follow_up_outcome(session: Session, *, actor: Actor, case_id: str, follow_up_id: int,
                             outcome: FollowUpOutcome, now: datetime | None = None) -> FollowUp:
    """Whether a due follow-up happened (done / missed / declined), by an advocate assigned to the case."""
    now = now or utcnow()
    case = get_case(session, case_id)
    if FollowUpOutcome(outcome) not in RECORDABLE_OUTCOMES:
        raise ValidationFailed("a follow-up's outcome is done, missed or declined")
    if active_assignment(session, case.id, actor.id) is None:
        raise PermissionDenied("only a staff member assigned to this case records its follow-ups")
    row = session.get(FollowUp, follow_up_id)
    if row is None or row.case_id != case.id:
        raise NotFound(f"no follow-up {follow_up_id} on this case: see `coc advocacy followups CASE_ID`")
    if row.outcome is not None:
        raise Conflict(f"this follow-up is already closed ({row.outcome})")
    if as_utc(row.due_at) > now:
        raise Conflict(f"this follow-up is not due until {as_utc(row.due_at):%Y-%m-%d}")
    require_release(session, actor=actor, case_id=case.id, now=now)
    row.outcome, row.outcome_at, row.outcome_by = str(outcome), now, actor.id
    session.add(row)
    ledger.append(session, kind=EventKind.FOLLOW_UP_OUTCOME, actor=actor, case_id=case.id, at=now,
                  data={"follow_up": row.id, "outcome": str(outcome)})
    session.flush()
    return row


def _release_in_force(session: Session, case_id: str, now: datetime) -> bool:
    """The consent checkpoint's rule for the sharing release (written, unexpired: what the advocacy routes
    require), not merely a "granted" status: a verbal grant tells the advocate nothing."""
    case = get_case(session, case_id)
    return evaluate(Handoff.ADVOCATE_SHARE, state=consent_state(session, case.id, now),
                    overrides=active_overrides(session, case.id, now),
                    facts=CaseFacts.of(case, get_pack(case.jurisdiction))).allowed


def follow_ups_due_for(session: Session, user_id: str, now: datetime | None = None) -> list[FollowUp]:
    """Open follow-ups due by `now` on the cases `user_id` is assigned to, while each case's release holds (the
    checkpoint's rule, as for every advocacy read)."""
    now = now or utcnow()
    cases = assigned_case_ids(session, user_id)
    if not cases:
        return []
    rows = session.execute(select(FollowUp).where(FollowUp.case_id.in_(cases), FollowUp.outcome.is_(None))
                           .order_by(FollowUp.due_at, FollowUp.id)).scalars()
    due = [r for r in rows if as_utc(r.due_at) <= now]
    allowed = {c for c in {r.case_id for r in due} if _release_in_force(session, c, now)
               and ends_follow_ups(_statuses(session, c, now)) is None}
    return [r for r in due if r.case_id in allowed]
