"""Ledger verification runs: verify the whole ledger, record the outcome, alert when it is not intact.

`verify_and_record` is the one entry point: GET /audit/verify (and so `coc audit verify`), the audit export
(JSON and PDF), the scheduled flow (flows.ledger_check) and `coc up`'s start-up check all call it. Every run is
kept in `ledger_verification` (append-only, migration 0008) so /health can report the last one; a failed run
also raises one centre-wide alert per first bad entry (policies.deadlines.Alert, clock "ledger-not-intact",
no case), shown to coordinators and auditors in GET /alerts.

Verification runs are operational records, not custody history: they are not ledgered themselves (an alert
is, like every alert, unless the ledger can no longer be appended to).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.clock import utcnow
from core.db import start_writing
from core.errors import Conflict, DomainError
from core.ids import new_id
from core.ledger import ChainReport, EventKind
from policies.deadlines import Alert, ClockName

REASON_MAX = 300
ALERT_MESSAGE_MAX = 200


class VerificationTrigger(StrEnum):
    """What started a verification run."""

    API = "api"  # GET /audit/verify (coc audit verify)
    EXPORT = "export"  # GET /audit/export, /audit/export.pdf
    SCHEDULED = "scheduled"  # flows.ledger_check
    STARTUP = "startup"  # coc up


class LedgerVerification(SQLModel, table=True):
    """One run of the whole-ledger verification (append-only: runs are never edited)."""

    __tablename__ = "ledger_verification"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    ok: bool = Field(sa_column=Column(Boolean, nullable=False))
    entries_checked: int = Field(sa_column=Column(Integer, nullable=False))
    first_bad_seq: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String(REASON_MAX), nullable=True))
    trigger: str = Field(sa_column=Column(String(16), nullable=False))
    actor_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))  # staff or system


class LedgerNotIntact(Conflict):
    """The ledger does not verify, so a report built from it would look trustworthy and is not."""

    code = "ledger-not-intact"


@dataclass(frozen=True)
class Outcome:
    """A recorded verification run and the full report (root hash etc.) it recorded."""

    record: LedgerVerification
    report: ChainReport
    alert: Alert | None = None  # the alert raised by this run (None when intact or already raised)


def verify_and_record(session: Session, *, actor: Actor, trigger: VerificationTrigger | str, deep: bool = False,
                      now: datetime | None = None) -> Outcome:
    """Verify the whole ledger (chain and tree), record the run, and on failure raise the ledger alert once.

    Flushes, never commits: the caller commits (a route that then refuses an export commits first, so the
    failed run and its alert stand).
    """
    started = now or utcnow()
    report = ledger.verify_ledger(session, deep=deep)
    finished = max(utcnow(), started) if now is None else now
    # GET /audit/verify, /audit/export: the whole ledger was read from one snapshot without the write lock; the
    # record of that run (and its alert) follows in a write transaction of its own (core.db.start_writing).
    start_writing(session, "the run's record states what the verification read; the alert re-reads its key")
    record = LedgerVerification(started_at=started, finished_at=finished, ok=report.ok,
                                entries_checked=report.entries, first_bad_seq=report.first_bad_seq,
                                reason=(report.reason or None) and report.reason[:REASON_MAX],
                                trigger=str(VerificationTrigger(trigger)), actor_id=actor.id)
    session.add(record)
    session.flush()
    alert = None if report.ok else _raise_alert(session, actor, record, finished)
    return Outcome(record, report, alert)


def last_verification(session: Session) -> LedgerVerification | None:
    """The most recent verification run, or None when the ledger was never verified."""
    stmt = select(LedgerVerification).order_by(LedgerVerification.finished_at.desc(),
                                               LedgerVerification.id.desc()).limit(1)
    return session.execute(stmt).scalars().first()


def not_intact_text(first_bad_seq: int | None) -> str:
    """The banner text of a report built from a ledger that does not verify."""
    return f"LEDGER NOT INTACT — first bad entry {first_bad_seq}"


def statement(record: LedgerVerification) -> dict[str, Any]:
    """What an export states about the ledger it was built from (the bundle's `ledger_verification`)."""
    at = ledger.iso(record.finished_at)
    text = (f"ledger verified at {at}, {record.entries_checked} entries" if record.ok
            else f"{not_intact_text(record.first_bad_seq)} (checked at {at}): {record.reason}")
    return {"ok": record.ok, "verified_at": at, "entries_checked": record.entries_checked,
            "first_bad_seq": record.first_bad_seq, "reason": record.reason, "statement": text}


def require_intact(outcome: Outcome, *, allow_unverified: bool = False) -> None:
    """Refuse (LedgerNotIntact) to build a report from a ledger that does not verify, unless explicitly allowed."""
    record = outcome.record
    if record.ok or allow_unverified:
        return
    raise LedgerNotIntact(
        f"the audit ledger does not verify: first bad entry {record.first_bad_seq} ({record.reason}). "
        "No report is produced from it. Run `coc audit verify` and contact the auditor; to export anyway for "
        "the investigation, ask with allow_unverified=true (`coc audit export --allow-broken-ledger`): every "
        "page is then marked LEDGER NOT INTACT.")


def _alert_message(record: LedgerVerification) -> str:
    msg = (f"audit ledger NOT intact: first bad entry {record.first_bad_seq} ({record.reason}); "
           "run coc audit verify and contact the auditor")
    return msg if len(msg) <= ALERT_MESSAGE_MAX else msg[:ALERT_MESSAGE_MAX - 1] + "…"


def _raise_alert(session: Session, actor: Actor, record: LedgerVerification, now: datetime) -> Alert | None:
    """One centre-wide alert per first bad entry (dedupe key), ledgered when the ledger still takes appends."""
    key = f"ledger:{record.first_bad_seq}"
    if session.execute(select(Alert.id).where(Alert.dedupe_key == key)).first() is not None:
        return None
    message = _alert_message(record)

    def insert(ledgered: bool) -> Alert:
        # The entry and the alert in one savepoint: a concurrent duplicate drops both.
        with session.begin_nested():
            alert_id, seq, entry_hash = new_id("alert"), 0, ""
            if ledgered:
                entry = ledger.append(session, kind=EventKind.ALERT_RAISED, actor=actor, at=now,
                                      data={"alert_id": alert_id, "clock": ClockName.LEDGER_NOT_INTACT,
                                            "due_at": now, "first_bad_seq": record.first_bad_seq,
                                            "message": message})
                seq, entry_hash = entry.seq, entry.entry_hash
            alert = Alert(id=alert_id, dedupe_key=key, case_id=None, item_id=None, clock=ClockName.LEDGER_NOT_INTACT,
                          message=message, due_at=now, raised_at=now, ledger_seq=seq, ledger_hash=entry_hash)
            session.add(alert)
            session.flush()  # a concurrent duplicate fails on the unique key
        return alert

    try:
        try:
            return insert(ledgered=True)
        except DomainError:  # the tree is damaged where the next entry would link: alert without its entry (seq 0)
            return insert(ledgered=False)
    except IntegrityError:
        return None  # a concurrent run raised it first
