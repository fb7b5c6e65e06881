"""Agency accountability (the Blueprint for Safety's agency-to-agency accountability): per RECEIVING agency and
period, what it received (each handoff: item, kind, purpose, offered at, accepted at = its acknowledgement) and
which of the deadlines it owns are overdue, and by how long.

The deadlines an agency owns (policies.deadlines.alerts.AGENCY_CLOCKS), from the jurisdiction pack's numbers:
  * police pickup — owned by the officer the release was offered to (the agency of the offer's receiver);
  * lab submission — owned by the officer who accepted the release (the agency holding the kit);
  * lab analysis — owned by the lab staff who accepted the submission.
Which agency a handoff went to is the receiver's: the ledger's to_user, then that staff account's agency_id.
No survivor data: opaque item ids, item kinds, purposes and times only (not even the case id).
The case-review action items the agency owns (policies.review) are listed too, with how long overdue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.cases import Case
from core.clock import as_utc, utcnow
from core.errors import ValidationFailed
from policies.agencies import Agency, resolve_agency
from policies.authz import User
from policies.deadlines.alerts import AGENCY_CLOCKS
from policies.deadlines.clocks import compute_clocks
from policies.deadlines.hands import Handoff, ItemHands, read_hands
from policies.deadlines.names import ClockName, ClockState
from policies.jurisdictions import get_pack
from policies.review.models import ActionStatus, ReviewAction

DEFAULT_PERIOD = timedelta(days=30)
# The deadline a handoff of each purpose answers: an offered release is picked up, a submission accepted.
_DUE_FOR_PURPOSE = {"release": ClockName.POLICE_PICKUP, "lab": ClockName.LAB_SUBMISSION}


def readable_duration(delta: timedelta) -> str:
    """A duration people read at a glance: "1 d 18 h", "5 h", "35 min" (never negative; minutes under 1 h)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h"
    return f"{mins} min"


def lateness(due_at: datetime, done_at: datetime | None, now: datetime) -> timedelta | None:
    """How late a step is (done late, or not done and past due at `now`); None when on time or not yet due."""
    late = (done_at or now) - due_at
    return late if late > timedelta(0) else None


@dataclass
class HandoffRow:
    """One handoff the agency received."""

    item_id: str
    item_kind: str | None
    purpose: str
    offered_at: datetime
    accepted_at: datetime | None
    outcome: str
    due_at: datetime | None
    overdue_by: str | None


@dataclass
class DutyRow:
    """One deadline the agency owns for an item."""

    clock: str
    item_id: str
    item_kind: str | None
    starts_at: datetime
    due_at: datetime
    met_at: datetime | None
    status: str
    overdue_by: str | None
    overdue_seconds: int | None


@dataclass
class ReviewActionRow:
    """One action item of a case review the agency owns, due in the period (ids and dates only, no text)."""

    review_id: str
    action_id: int
    due_at: datetime
    status: str
    done_at: datetime | None
    overdue_by: str | None
    overdue_seconds: int | None


@dataclass
class ComplianceReport:
    """What a receiving agency received in [start, end) and the deadlines it owns, judged at `generated_at`."""

    agency_id: str
    agency_name: str
    agency_kind: str
    start: datetime
    end: datetime
    generated_at: datetime
    handoffs: list[HandoffRow] = field(default_factory=list)
    duties: list[DutyRow] = field(default_factory=list)
    review_actions: list[ReviewActionRow] = field(default_factory=list)

    @property
    def overdue(self) -> list[DutyRow]:
        """The duties done late or not done past their due date."""
        return [d for d in self.duties if d.overdue_by is not None]

    @property
    def overdue_review_actions(self) -> list[ReviewActionRow]:
        """The case-review action items the agency did late or has not done past their due date."""
        return [a for a in self.review_actions if a.overdue_by is not None]


def _review_actions(session: Session, agency_id: str, start: datetime, end: datetime,
                    now: datetime) -> list[ReviewActionRow]:
    """The agency's case-review action items due before `end` and not done before `start`."""
    rows = session.execute(select(ReviewAction).where(ReviewAction.owner_agency_id == agency_id)
                           .order_by(ReviewAction.due_at, ReviewAction.id)).scalars()
    out = []
    for a in rows:
        due, done = as_utc(a.due_at), as_utc(a.done_at) if a.done_at else None
        if due >= end or (done is not None and done < start):
            continue
        late = lateness(due, done if a.status == ActionStatus.DONE.value else None, now)
        out.append(ReviewActionRow(review_id=a.review_id, action_id=a.id, due_at=due, status=a.status, done_at=done,
                                   overdue_by=readable_duration(late) if late else None,
                                   overdue_seconds=int(late.total_seconds()) if late else None))
    return out


def _owner(hands: ItemHands, clock: ClockName) -> str | None:
    """The staff id owning `clock` of the item: the receiver of the release offer (pickup), of the accepted
    release (submission), or of the accepted lab submission (analysis)."""
    def last(purpose: str, accepted: bool) -> Handoff | None:
        found = [h for h in hands.handoffs if h.purpose == purpose and (h.outcome == "accepted" or not accepted)]
        return found[-1] if found else None

    if clock is ClockName.POLICE_PICKUP:
        h = last("release", accepted=True) or last("release", accepted=False)
    elif clock is ClockName.LAB_SUBMISSION:
        h = last("release", accepted=True)
    else:
        h = last("lab", accepted=True)
    return h.to_user if h is not None else None


def compliance_report(session: Session, *, agency: str, start: datetime | None = None, end: datetime | None = None,
                      now: datetime | None = None) -> ComplianceReport:
    """The accountability report of the agency named `agency` (name or id) for [start, end) (default: the last
    30 days up to now); overdue durations are judged at `now` for what is still not done."""
    now = now or utcnow()
    end = end or now
    start = start or end - DEFAULT_PERIOD
    if start >= end:
        raise ValidationFailed(f"the period is empty: from ({start.isoformat()}) must be before to ({end.isoformat()})")
    ag: Agency = resolve_agency(session, agency)
    staff = set(session.execute(select(User.id).where(User.agency_id == ag.id)).scalars().all())
    report = ComplianceReport(agency_id=ag.id, agency_name=ag.name, agency_kind=str(ag.kind), start=start, end=end,
                              generated_at=now)
    hands = read_hands(session, upto=now)
    touched = {h.case_id for h in hands.values()
               if h.case_id and any(o.to_user in staff for o in h.handoffs)}
    clocks: dict[tuple[str, ClockName], ClockState] = {}
    for case_id in sorted(touched):
        case = session.get(Case, case_id)
        if case is None:
            continue
        for c in compute_clocks(session, case, get_pack(case.jurisdiction), now):
            if c.item_id is not None and c.name in AGENCY_CLOCKS:
                clocks[(c.item_id, c.name)] = c
    for item_id, h in sorted(hands.items()):
        for o in h.handoffs:
            if o.to_user not in staff or not (start <= o.offered_at < end):
                continue
            due = clocks.get((item_id, _DUE_FOR_PURPOSE.get(o.purpose, ClockName.LAB_SUBMISSION)))
            due_at = due.deadline if due is not None and o.purpose in _DUE_FOR_PURPOSE else None
            late = lateness(due_at, o.accepted_at, now) if due_at is not None and o.outcome in ("open", "accepted") \
                else None
            report.handoffs.append(HandoffRow(item_id=item_id, item_kind=h.kind, purpose=o.purpose,
                                              offered_at=o.offered_at, accepted_at=o.accepted_at, outcome=o.outcome,
                                              due_at=due_at, overdue_by=readable_duration(late) if late else None))
        for name in AGENCY_CLOCKS:
            c = clocks.get((item_id, name))
            if c is None or _owner(h, name) not in staff:
                continue
            if c.starts_at >= end or (c.met_at is not None and c.met_at < start):
                continue  # outside the period: began after it, or done before it
            late = lateness(c.deadline, c.met_at, now)
            report.duties.append(DutyRow(clock=str(name), item_id=item_id, item_kind=h.kind, starts_at=c.starts_at,
                                         due_at=c.deadline, met_at=c.met_at, status=str(c.status),
                                         overdue_by=readable_duration(late) if late else None,
                                         overdue_seconds=int(late.total_seconds()) if late else None))
    report.review_actions = _review_actions(session, ag.id, start, end, now)
    return report
