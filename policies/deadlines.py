"""Clinical and legal clocks of a case, computed from its jurisdiction pack and its ledger entries.

Every number comes from the rule pack. Progress is read from the ledger only (policies may not import
evidence), so the clocks work for whatever the evidence package records, as long as its entries follow:
  * release of a kit to law enforcement: kind custody:item:released, or a custody:* entry whose data has
    to_role/custodian_role == "law_enforcement";
  * submission to a lab: an accepted transfer (custody:transfer:accepted) with data purpose == "lab"
    (what evidence.custody writes), a custody:* entry whose data has to_role/custodian_role == "lab" or
    lab_submission == true, or a kind ending in "lab-submitted";
  * analysis done: custody:item:analysed; destroyed: custody:item:destroyed;
  * police notified (the start of a pickup deadline): the checkpoint allowing release-to-law-enforcement
    for that item (checkpoint:handoff:allowed with item_id), written when the release is offered;
  * the facility's duty to notify the police (packs with consent.facility_notifies_police_hours, Michigan):
    starts at the written release-to-law-enforcement grant (consent:decision:recorded) of a reported case,
    met by the first release offer (custody:transfer:offered, purpose "release") or release of the item;
    a withdrawal (or refusal, or expiry) of the release consent stops it, and stops a pickup clock whose
    notice came before it;
  * mandatory report for a minor (when policies.consent.mandatory_report_applies): runs from the case's
    opening, met by an override with basis mandatory-report-minor (consent:override:recorded) or a
    report-to-police grant.
Care and exam progress come from exam:care:recorded (data care, status) and exam:exam:recorded entries.

`scan_deadlines` raises each alert once: a unique key per (case, item, alert kind) in the alert table,
with its ALERT_RAISED ledger entry in the same savepoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from core import ledger
from core.actors import Actor
from core.cases import Case, Reporting, get_case
from core.clock import as_utc, utcnow
from core.ids import new_id
from core.ledger import EventKind, LedgerEntry
from policies.consent import mandatory_report_applies
from policies.jurisdictions import RulePack, get_pack
from policies.windows import CARE_WINDOW, ITEM_WINDOW, lateness


class ClockName(StrEnum):
    """Every clock the system tracks."""

    HIV_PEP = "hiv-pep"
    EMERGENCY_CONTRACEPTION = "emergency-contraception"
    HEPATITIS_B = "hepatitis-b"
    EVIDENCE_COLLECTION = "evidence-collection"
    TOXICOLOGY_BLOOD = "toxicology-blood"
    TOXICOLOGY_URINE = "toxicology-urine"
    FACILITY_NOTIFY_POLICE = "facility-notify-police"
    POLICE_PICKUP = "police-pickup"
    LAB_SUBMISSION = "lab-submission"
    LAB_ANALYSIS = "lab-analysis"
    DESTRUCTION_NOTICE = "destruction-notice"
    MANDATORY_REPORT = "mandatory-report"
    INTEGRITY_INCIDENT = "integrity-incident"  # an alert kind, not a clock: raised at once (evidence.incidents)
    LEDGER_NOT_INTACT = "ledger-not-intact"  # centre-wide (no case): raised by evidence.verification


class ClockStatus(StrEnum):
    """Where a clock stands at an instant."""

    RUNNING = "running"
    MET = "met"  # the step happened (or care was decided) before or after the deadline
    LATE = "late"  # the sample was collected / the treatment given, but after its window (policies.windows)
    EXPIRED = "expired"  # the deadline passed and the step did not happen


@dataclass(frozen=True)
class ClockState:
    """One clock at an instant."""

    name: ClockName
    starts_at: datetime
    deadline: datetime
    status: ClockStatus
    item_id: str | None = None
    met_at: datetime | None = None
    detail: str | None = None  # readable note, e.g. "collected 16 h after its 24 h window" for a LATE clock

    def remaining(self, now: datetime) -> timedelta:
        """Time left before the deadline (negative once passed)."""
        return self.deadline - now


# Clinical clocks: (clock, pack field) — the window runs from the assault (or last contact).
_CLINICAL = (
    (ClockName.HIV_PEP, "hiv_pep_hours"),
    (ClockName.EMERGENCY_CONTRACEPTION, "emergency_contraception_hours"),
    (ClockName.HEPATITIS_B, "hepatitis_b_hours"),
    (ClockName.EVIDENCE_COLLECTION, "evidence_collection_hours"),
    (ClockName.TOXICOLOGY_BLOOD, "toxicology_blood_hours"),
    (ClockName.TOXICOLOGY_URINE, "toxicology_urine_hours"),
)

_CLINICAL_LABEL = {
    ClockName.HIV_PEP: "PEP window",
    ClockName.EMERGENCY_CONTRACEPTION: "emergency contraception window",
    ClockName.HEPATITIS_B: "hepatitis B prophylaxis window",
    ClockName.EVIDENCE_COLLECTION: "evidence collection window",
    ClockName.TOXICOLOGY_BLOOD: "toxicology (blood) window",
    ClockName.TOXICOLOGY_URINE: "toxicology (urine) window",
}

# CARE_RECORDED data["care"] values that stop each clinical clock (a decision either way stops the alarm).
_CARE_FOR_CLOCK = {ClockName.HIV_PEP: "hiv-pep", ClockName.EMERGENCY_CONTRACEPTION: "emergency-contraception",
                   ClockName.HEPATITIS_B: "hepatitis-b"}


# The clock a care kind given, or an item kind collected, answers to (the windows of policies.windows).
_CLOCK_OF_FIELD = {f: clock for clock, f in _CLINICAL}
_CLOCK_FOR_CARE = {care: _CLOCK_OF_FIELD[f] for care, f in CARE_WINDOW.items()}
_CLOCK_FOR_ITEM = {kind: _CLOCK_OF_FIELD[f] for kind, f in ITEM_WINDOW.items()}


def _data_time(data: dict, key: str, default: datetime) -> datetime:
    """A time in ledger data (ISO text), or `default` when absent or unreadable."""
    value = data.get(key)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00"))) if value else default
    except ValueError:
        return default


def _role(data: dict) -> str | None:
    return data.get("to_role") or data.get("custodian_role")


# Used only when the pack sets no mandatory-report deadline (RulePack has no such field yet; numbers belong
# in packs, so this is a stopgap). Child-abuse reporting laws commonly say "immediately", which no number
# captures; 24 h is a short, conservative bound (the same as Michigan's facility duty to notify police). A
# deadline too early costs an early reminder; one too late could let a statutory report for a child lapse.
MANDATORY_REPORT_FALLBACK_HOURS = 24

_RELEASE_SCOPE = "release-to-law-enforcement"
_REPORT_SCOPE = "report-to-police"
_MANDATORY_BASIS = "mandatory-report-minor"

# A position in the ledger: (recorded_at, seq). Orders entries made at the same instant by their sequence.
_Pos = tuple[datetime, int]

_TOX_SAMPLES = ("toxicology-blood", "toxicology-urine")
_NOT_RELEASED_KINDS = frozenset({"photograph", "document", "digital-file"})  # as flows.pathway.RELEASABLE_KINDS
_TOX_SAMPLE_OF = {ClockName.TOXICOLOGY_BLOOD: "toxicology-blood", ClockName.TOXICOLOGY_URINE: "toxicology-urine"}


@dataclass
class _ItemProgress:
    retention_until: datetime | None = None  # the item's own retention date, as recorded at collection
    collected_at: datetime | None = None
    notified_at: datetime | None = None
    le_at: datetime | None = None
    lab_at: datetime | None = None
    analysed_at: datetime | None = None
    destroyed_at: datetime | None = None
    first_at: datetime | None = None  # the item's first ledger entry (it exists from then on)
    kind: str | None = None  # item kind as recorded at collection
    release_checks: list[_Pos] = field(default_factory=list)  # checkpoints allowing its release (notices)
    release_offers: list[_Pos] = field(default_factory=list)  # release offers to law enforcement, releases


@dataclass
class _CaseProgress:
    reported_at: datetime | None = None  # since when the report is unrestricted (a release is possible)
    release_grant: _Pos | None = None  # start of the release grant in force (written, where the pack says)
    release_expires: datetime | None = None  # the expiry of the latest release grant
    release_stop: _Pos | None = None  # the latest withdrawal/refusal (or expiry) of the release consent
    mandatory_report_at: datetime | None = None  # mandatory-report override or report-to-police grant


def _first(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def _release_decision(cp: _CaseProgress, data: dict, pos: _Pos, written_required: bool) -> None:
    """Replay one release-to-law-enforcement decision: the latest decision is the one in force."""
    written = bool(data.get("form_ref")) and data.get("method") in ("written", "guardian")
    if data.get("decision") == "granted" and (written or not written_required):
        if cp.release_grant is None:  # a repeated grant keeps the run's start
            cp.release_grant = pos
        expires = data.get("expires_at")
        cp.release_expires = as_utc(datetime.fromisoformat(str(expires).replace("Z", "+00:00"))) if expires else None
    else:  # withdrawn, declined, or a grant that cannot support a release (not written where required)
        cp.release_grant, cp.release_expires, cp.release_stop = None, None, pos


def _read_progress(session: Session, case_id: str, now: datetime, pack: RulePack | None = None):
    """Scan the case's ledger entries up to `now` into care/exam/tox times, per-item custody progress and the
    case's release-consent and mandatory-report progress."""
    entries = session.execute(
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.item_id, LedgerEntry.recorded_at, LedgerEntry.body)
        .where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.seq)
    ).all()
    written_required = pack.consent.release_requires_written if pack is not None else True
    care: dict[str, datetime] = {}
    # first delivery per clinical clock, at the time it happened (data's occurred_at / collected_at /
    # started_at): care given, sample collected, exam or evidence collected — judged against the window
    delivered: dict[ClockName, datetime] = {}
    exam_at: datetime | None = None
    tox_at: dict[str, datetime] = {}  # "toxicology-blood" / "toxicology-urine" → first collected (or declined)
    items: dict[str, _ItemProgress] = {}
    cp = _CaseProgress()
    for seq, kind, item_id, recorded_at, body in entries:
        at = as_utc(recorded_at)
        if at > now:
            continue
        pos = (at, seq)
        data = json.loads(bytes(body)).get("data") or {}
        reported = ((kind == EventKind.CASE_OPENED and data.get("reporting") == Reporting.UNRESTRICTED.value)
                    or (kind == EventKind.CASE_UPDATED and data.get("field") == "reporting"
                        and data.get("to") == Reporting.UNRESTRICTED.value))
        if reported:
            cp.reported_at = _first(cp.reported_at, at)
        elif kind == EventKind.CONSENT_RECORDED and data.get("scope") == _RELEASE_SCOPE:
            _release_decision(cp, data, pos, written_required)
        elif kind == EventKind.CONSENT_RECORDED and data.get("scope") == _REPORT_SCOPE:
            if data.get("decision") == "granted":
                cp.mandatory_report_at = _first(cp.mandatory_report_at, at)
        elif kind == EventKind.CONSENT_OVERRIDE and data.get("basis") == _MANDATORY_BASIS:
            cp.mandatory_report_at = _first(cp.mandatory_report_at, at)
        # A clinical clock stops when the survivor decided either way (given or declined, consent declined);
        # an offer still being considered keeps its alarm running.
        if kind == EventKind.CARE_RECORDED and data.get("care") and data.get("status") in ("given", "declined"):
            care[data["care"]] = _first(care.get(data["care"]), at)
            clock = _CLOCK_FOR_CARE.get(data["care"])
            if data.get("status") == "given" and clock is not None:
                delivered[clock] = _first(delivered.get(clock), _data_time(data, "occurred_at", at))
        elif kind == EventKind.EXAM_RECORDED:
            exam_at = _first(exam_at, at)
            delivered[ClockName.EVIDENCE_COLLECTION] = _first(delivered.get(ClockName.EVIDENCE_COLLECTION),
                                                              _data_time(data, "started_at", at))
        elif kind == EventKind.CONSENT_RECORDED and data.get("decision") == "declined":
            if data.get("scope") == "forensic-exam":
                exam_at = _first(exam_at, at)
                for sample in _TOX_SAMPLES:  # no exam: no samples either
                    tox_at[sample] = _first(tox_at.get(sample), at)
            elif data.get("scope") == "evidence-toxicology":
                for sample in _TOX_SAMPLES:
                    tox_at[sample] = _first(tox_at.get(sample), at)
        if item_id is None:
            continue
        p = items.setdefault(item_id, _ItemProgress())
        p.first_at = _first(p.first_at, at)
        if kind == EventKind.ITEM_COLLECTED:
            p.collected_at = _first(p.collected_at, at)
            p.kind = data.get("item_kind")
            if data.get("item_kind") in _TOX_SAMPLES:  # each sample meets its own window
                tox_at[data["item_kind"]] = _first(tox_at.get(data["item_kind"]), at)
            clock = _CLOCK_FOR_ITEM.get(data.get("item_kind"))
            if clock is not None:
                delivered[clock] = _first(delivered.get(clock), _data_time(data, "collected_at", at))
            if data.get("retention_until"):
                p.retention_until = as_utc(datetime.fromisoformat(str(data["retention_until"]).replace("Z", "+00:00")))
        elif kind == EventKind.CHECKPOINT_ALLOWED and data.get("handoff") == _RELEASE_SCOPE:
            p.notified_at = _first(p.notified_at, at)
            p.release_checks.append(pos)
        if not kind.startswith("custody:"):
            continue
        if kind == EventKind.RELEASED or (kind == EventKind.TRANSFER_OFFERED and data.get("purpose") == "release"):
            p.release_offers.append(pos)
        # evidence.custody records an accepted transfer with data["purpose"] ("release" / "lab")
        accepted = kind in (EventKind.TRANSFER_ACCEPTED, EventKind.RELEASED)
        purpose = data.get("purpose") if accepted else None
        if kind == EventKind.RELEASED or _role(data) == "law_enforcement" or purpose == "release":
            p.le_at = _first(p.le_at, at)
        if (_role(data) == "lab" or data.get("lab_submission") is True or kind.endswith("lab-submitted")
                or purpose == "lab"):
            p.lab_at = _first(p.lab_at, at)
        if kind == EventKind.ANALYSED:
            p.analysed_at = _first(p.analysed_at, at)
        if kind == EventKind.DESTROYED:
            p.destroyed_at = _first(p.destroyed_at, at)
    if cp.release_grant is not None and cp.release_expires is not None and cp.release_expires <= now:
        # An expired release consent no longer allows the release: as if withdrawn when it expired (a
        # checkpoint at that very instant already saw it expired, hence seq -1).
        cp.release_grant, cp.release_stop = None, max(cp.release_stop or (cp.release_expires, -1),
                                                      (cp.release_expires, -1))
    return care, exam_at, tox_at, items, cp, delivered


def _state(name: ClockName, start: datetime, deadline: datetime, met: datetime | None, now: datetime,
           item_id: str | None = None) -> ClockState:
    status = ClockStatus.MET if met is not None else ClockStatus.EXPIRED if now >= deadline else ClockStatus.RUNNING
    return ClockState(name, start, deadline, status, item_id, met)


def _clinical_state(name: ClockName, field: str, pack: RulePack, assault: datetime, met: datetime | None,
                    delivered: datetime | None, now: datetime) -> ClockState:
    """A clinical clock: LATE (with its text) when the sample or treatment came only after its window."""
    state = _state(name, assault, assault + pack.hours(field), met, now)
    if delivered is None:
        return state
    late = lateness(pack, field, assault_at=assault, at=delivered)
    if late.late is None:
        return state
    verb = "given" if name in _CARE_FOR_CLOCK else "collected"
    return ClockState(name, assault, late.deadline, ClockStatus.LATE, None, delivered, late.text(verb))


def case_clocks(session: Session, case_id: str, now: datetime | None = None) -> list[ClockState]:
    """Every clock of the case at `now` (clinical clocks need a known assault time)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    return _clocks(session, case, get_pack(case.jurisdiction), now)


# Clocks whose state tells medical care (PEP / emergency contraception offered, given or declined).
MEDICAL_CLOCKS = frozenset({ClockName.HIV_PEP, ClockName.EMERGENCY_CONTRACEPTION, ClockName.HEPATITIS_B})


def clocks_for(session: Session, *, actor: Actor, case_id: str, now: datetime | None = None) -> list[ClockState]:
    """The case's clocks as `actor` may see them: the medical-care clocks only for examiners, or for others
    when the ADVOCATE_SHARE checkpoint allows it (the decision is recorded), as for the care records."""
    from policies import checkpoint
    from policies.handoffs import Handoff
    from policies.permissions import Role

    now = now or utcnow()
    clocks = case_clocks(session, case_id, now)
    if actor.role == Role.EXAMINER or not any(c.name in MEDICAL_CLOCKS for c in clocks):
        return clocks
    if checkpoint.decide(session, case_id=case_id, handoff=Handoff.ADVOCATE_SHARE, actor=actor, now=now).allowed:
        return clocks
    return [c for c in clocks if c.name not in MEDICAL_CLOCKS]


def _notify_clock(pack: RulePack, cp: _CaseProgress, item_id: str, p: _ItemProgress,
                  now: datetime) -> ClockState | None:
    """The facility's duty to notify the police of one item (packs with the rule; None when it does not run).

    Per item, like the pickup clock that follows it: the duty is met by offering that item to law enforcement,
    and a case can hold several items, each offered (or not) on its own. It runs while the written release
    grant is in force, from the grant (or the item's first entry, or the conversion to an unrestricted report,
    if later: a restricted kit cannot be released, so nobody is told to notify the police about it).
    """
    hours = pack.consent.facility_notifies_police_hours
    if hours is None or cp.release_grant is None or cp.reported_at is None or p.first_at is None:
        return None
    if p.kind in _NOT_RELEASED_KINDS:  # photographs and files are not handed to the police as evidence items
        return None
    grant_at = cp.release_grant[0]
    start = max(grant_at, p.first_at, cp.reported_at)
    met = next((at for at, seq in p.release_offers if (at, seq) > cp.release_grant), None)
    if met is None and p.le_at is not None:
        met = p.le_at  # already with law enforcement (e.g. released earlier): nothing left to notify
    return _state(ClockName.FACILITY_NOTIFY_POLICE, start, start + timedelta(hours=hours), met, now, item_id)


def _pickup_notice(cp: _CaseProgress, p: _ItemProgress) -> datetime | None:
    """When the police were notified of the item, for the pickup clock; None once the release consent was
    withdrawn after the notice and the item was not taken (a release allowed later starts a new notice)."""
    if p.le_at is not None:
        return p.notified_at  # taken: the clock is met, keep it as history
    for pos in p.release_checks:
        if cp.release_stop is None or pos > cp.release_stop:
            return pos[0]
    return None


def _clocks(session: Session, case: Case, pack: RulePack, now: datetime) -> list[ClockState]:
    care, exam_at, tox_at, items, cp, delivered = _read_progress(session, case.id, now, pack)
    out: list[ClockState] = []
    if mandatory_report_applies(case):
        # Runs from the opening of the case (the age band and jurisdiction are given then). The pack's own
        # number wins once a pack can carry one (RulePack has no such field yet: the named fallback applies).
        hours = getattr(pack.consent, "mandatory_report_hours", None) or MANDATORY_REPORT_FALLBACK_HOURS
        opened = as_utc(case.opened_at)
        out.append(_state(ClockName.MANDATORY_REPORT, opened, opened + timedelta(hours=hours),
                          cp.mandatory_report_at, now))
    if case.assault_at is not None:
        assault = as_utc(case.assault_at)
        for name, field in _CLINICAL:
            if name in _CARE_FOR_CLOCK:
                met = care.get(_CARE_FOR_CLOCK[name])
            elif name is ClockName.EVIDENCE_COLLECTION:
                met = exam_at
            else:
                met = tox_at.get(_TOX_SAMPLE_OF[name])
            out.append(_clinical_state(name, field, pack, assault, met, delivered.get(name), now))
    for item_id, p in sorted(items.items()):
        if p.destroyed_at is not None:
            continue
        notify = _notify_clock(pack, cp, item_id, p, now)
        if notify is not None:
            out.append(notify)
        notice = _pickup_notice(cp, p)
        if notice is not None and pack.kit.police_pickup_days is not None:
            out.append(_state(ClockName.POLICE_PICKUP, notice, notice + pack.days("police_pickup_days"),
                              p.le_at, now, item_id))
        if p.le_at is not None:
            out.append(_state(ClockName.LAB_SUBMISSION, p.le_at, p.le_at + pack.days("lab_submission_days"),
                              p.lab_at, now, item_id))
        if p.lab_at is not None:
            out.append(_state(ClockName.LAB_ANALYSIS, p.lab_at, p.lab_at + pack.days("lab_analysis_days"),
                              p.analysed_at, now, item_id))
        if p.collected_at is not None and p.le_at is None and case.reporting != Reporting.UNRESTRICTED:
            # An unreported kit is kept until its retention date (the item's own, which destruction enforces;
            # the pack's period from collection for entries that have none); notice is due that many days before.
            end = p.retention_until or p.collected_at + pack.days("unreported_retention_days")
            out.append(_state(ClockName.DESTRUCTION_NOTICE, p.collected_at,
                              end - pack.days("destruction_notice_days"), None, now, item_id))
    return out


# --- alerts --------------------------------------------------------------------------------------------

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
    if clock.name in _CLINICAL_LABEL:
        lead = timedelta(hours=pack.alerts.clinical_lead_hours)
        if clock.status is ClockStatus.RUNNING and now >= clock.deadline - lead:
            return f"{_CLINICAL_LABEL[clock.name]} closes in {_hours(clock.remaining(now))} h"
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
        for clock in _clocks(session, case, pack, now):
            message = _alert_for(clock, pack, now)
            if message is None:
                continue
            key = f"{case.id}:{clock.item_id or '-'}:{clock.name}"
            if clock.name is ClockName.MANDATORY_REPORT and clock.status is ClockStatus.EXPIRED:
                key += ":overdue"  # the "due in" reminder does not hide that the report is now late
            if session.execute(select(Alert.id).where(Alert.dedupe_key == key)).first() is not None:
                continue
            alert = _raise(session, actor, case, clock, key, message, now)
            if alert is not None:
                raised.append(alert)
    return raised


def _raise(session: Session, actor: Actor, case: Case, clock: ClockState, key: str, message: str,
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


def list_alerts(session: Session, *, case_id: str | None = None, case_ids: list[str] | None = None,
                limit: int = 200) -> list[Alert]:
    """Alerts, newest first (optionally of one case, and/or only of `case_ids`)."""
    stmt = select(Alert).order_by(Alert.raised_at.desc(), Alert.id).limit(limit)
    if case_id is not None:
        stmt = stmt.where(Alert.case_id == case_id)
    if case_ids is not None:
        stmt = stmt.where(Alert.case_id.in_(case_ids))  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars().all())
