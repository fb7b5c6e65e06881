"""Deadline alerts: the alert table, the message a clock calls for, raising each alert once, and listing them.

`scan_deadlines` raises each alert once: a unique key per (case, item, alert kind) in the alert table, with its
ALERT_RAISED ledger entry in the same savepoint (`raise_alert`, also used by evidence.incidents).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.cases import Case
from core.clock import utcnow
from core.ids import new_id
from core.ledger import EventKind
from policies.deadlines.clocks import compute_clocks
from policies.deadlines.hands import items_in_hands_of
from policies.deadlines.names import CLINICAL_LABEL, ClockName, ClockState, ClockStatus
from policies.jurisdictions import RulePack, get_pack


class AlertBase(SQLModel):
    """Fields of an alert shown to staff (no survivor identity)."""

    # None: a centre-wide alert (ledger-not-intact), shown to coordinators and auditors only.
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    item_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    clock: ClockName = Field(sa_type=String(32))
    message: str = Field(max_length=200)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    raised_at: datetime = Field(sa_type=DateTime(timezone=True))


class Alert(AlertBase, table=True):
    """One raised alert; `dedupe_key` is unique so the same alert is never raised twice."""

    __tablename__ = "deadline_alert"

    id: str = Field(primary_key=True, max_length=32)
    dedupe_key: str = Field(sa_column=Column(String(128), unique=True, nullable=False))
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)


class AlertPublic(AlertBase):
    """An alert as shown through the API."""

    id: str
    ledger_seq: int


def _hours(delta: timedelta) -> int:
    return max(int(delta.total_seconds() // 3600), 0)


def _alert_for(clock: ClockState, pack: RulePack, now: datetime) -> str | None:
    """The alert message a clock calls for at `now`, or None."""
    if clock.status is not ClockStatus.RUNNING and clock.status is not ClockStatus.EXPIRED:
        return None
    if clock.name is ClockName.MANDATORY_REPORT:
        what = "minor's case: record the mandatory report (override with its legal basis)"
        if clock.status is ClockStatus.EXPIRED:
            return f"{what} — overdue"
        if now >= clock.deadline - timedelta(hours=pack.alerts.clinical_lead_hours):
            return f"{what} — due in {_hours(clock.remaining(now))} h"
        return None
    if clock.name in CLINICAL_LABEL:
        lead = timedelta(hours=pack.alerts.clinical_lead_hours)
        if clock.status is ClockStatus.RUNNING and now >= clock.deadline - lead:
            return f"{CLINICAL_LABEL[clock.name]} closes in {_hours(clock.remaining(now))} h"
        return None
    lead = timedelta(days=pack.alerts.kit_lead_days)
    if now < clock.deadline - lead:
        return None
    days = (now - clock.starts_at).days
    return {
        ClockName.FACILITY_NOTIFY_POLICE: (f"release to law enforcement consented {_hours(now - clock.starts_at)} h "
                                           "ago: notify the police (offer the kit for release)"),
        ClockName.POLICE_PICKUP: f"kit released {days} days ago, not yet taken by law enforcement",
        ClockName.LAB_SUBMISSION: f"kit with law enforcement {days} days, not submitted to a lab",
        ClockName.LAB_ANALYSIS: f"kit at the lab {days} days, not analysed",
        ClockName.DESTRUCTION_NOTICE: "unreported kit nears the end of retention: send the destruction notice",
    }[clock.name]


def scan_deadlines(session: Session, *, actor: Actor, now: datetime | None = None) -> list[Alert]:
    """Raise every alert that is due at `now` and not raised before; return the new ones (no commit)."""
    now = now or utcnow()
    raised: list[Alert] = []
    cases = session.execute(select(Case).where(Case.closed_at.is_(None)).order_by(Case.id)).scalars().all()
    for case in cases:
        pack = get_pack(case.jurisdiction)
        for clock in compute_clocks(session, case, pack, now):
            message = _alert_for(clock, pack, now)
            if message is None:
                continue
            key = f"{case.id}:{clock.item_id or '-'}:{clock.name}"
            if clock.name is ClockName.MANDATORY_REPORT and clock.status is ClockStatus.EXPIRED:
                key += ":overdue"  # the "due in" reminder does not hide that the report is now late
            if session.execute(select(Alert.id).where(Alert.dedupe_key == key)).first() is not None:
                continue
            alert = raise_alert(session, actor, case, clock, key, message, now)
            if alert is not None:
                raised.append(alert)
    return raised


def raise_alert(session: Session, actor: Actor, case: Case, clock: ClockState, key: str, message: str,
           now: datetime) -> Alert | None:
    """Insert the ledger entry and the alert in one savepoint; a concurrent duplicate is skipped."""
    try:
        with session.begin_nested():
            alert_id = new_id("alert")
            entry = ledger.append(session, kind=EventKind.ALERT_RAISED, actor=actor, case_id=case.id,
                                  item_id=clock.item_id, at=now,
                                  data={"alert_id": alert_id, "clock": clock.name, "due_at": clock.deadline,
                                        "message": message})
            alert = Alert(id=alert_id, dedupe_key=key, case_id=case.id, item_id=clock.item_id, clock=clock.name,
                          message=message, due_at=clock.deadline, raised_at=now, ledger_seq=entry.seq,
                          ledger_hash=entry.entry_hash)
            session.add(alert)
            session.flush()  # a concurrent duplicate fails on the unique key; the savepoint drops its entry too
    except IntegrityError:
        return None  # another scanner raised it first
    return alert


# The deadlines another agency owns: the police's pickup and lab submission, the crime lab's analysis.
AGENCY_CLOCKS: tuple[ClockName, ...] = (ClockName.POLICE_PICKUP, ClockName.LAB_SUBMISSION, ClockName.LAB_ANALYSIS)


def list_alerts(session: Session, *, case_id: str | None = None, case_ids: list[str] | None = None,
                item_ids: list[str] | None = None, clocks: tuple[ClockName, ...] | None = None,
                limit: int = 200) -> list[Alert]:
    """Alerts, newest first (optionally of one case, and/or only of `case_ids`, `item_ids`, `clocks`)."""
    stmt = select(Alert).order_by(Alert.raised_at.desc(), Alert.id).limit(limit)
    if item_ids is not None:
        stmt = stmt.where(Alert.item_id.in_(item_ids))  # type: ignore[union-attr]
    if clocks is not None:
        stmt = stmt.where(Alert.clock.in_([str(c) for c in clocks]))  # type: ignore[attr-defined]
    if case_id is not None:
        stmt = stmt.where(Alert.case_id == case_id)
    if case_ids is not None:
        stmt = stmt.where(Alert.case_id.in_(case_ids))  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars().all())


def list_agency_alerts(session: Session, *, user_id: str, case_id: str | None = None,
                       limit: int = 200) -> list[Alert]:
    """The alerts an agency's staff member sees: the pickup, lab-submission and analysis deadlines of the items
    they hold or that were offered to them; never another case's alerts, nor clinical or centre-wide ones."""
    mine = items_in_hands_of(session, user_id)
    return list_alerts(session, case_id=case_id, item_ids=mine, clocks=AGENCY_CLOCKS, limit=limit)
