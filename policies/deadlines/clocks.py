"""The clocks of a case at an instant, computed from its jurisdiction pack and its progress (read from the
ledger by policies.deadlines.progress). Every number comes from the rule pack."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from core.actors import Actor
from core.cases import Case, Reporting, get_case
from core.clock import as_utc, utcnow
from policies import checkpoint
from policies.consent import mandatory_report_applies
from policies.deadlines.names import CARE_FOR_CLOCK, CLINICAL, MEDICAL_CLOCKS, ClockName, ClockState, ClockStatus
from policies.deadlines.progress import CaseProgress, ItemProgress, read_progress
from policies.handoffs import RELEASABLE_KINDS, Handoff
from policies.jurisdictions import RulePack, get_pack
from policies.permissions import Role
from policies.windows import lateness

# Used only when the pack sets no mandatory-report deadline (RulePack has no such field yet; numbers belong
# in packs, so this is a stopgap). Child-abuse reporting laws commonly say "immediately", which no number
# captures; 24 h is a short, conservative bound (the same as Michigan's facility duty to notify police). A
# deadline too early costs an early reminder; one too late could let a statutory report for a child lapse.
MANDATORY_REPORT_FALLBACK_HOURS = 24

_TOX_SAMPLE_OF = {ClockName.TOXICOLOGY_BLOOD: "toxicology-blood", ClockName.TOXICOLOGY_URINE: "toxicology-urine"}


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
    verb = "given" if name in CARE_FOR_CLOCK else "collected"
    return ClockState(name, assault, late.deadline, ClockStatus.LATE, None, delivered, late.text(verb))


def case_clocks(session: Session, case_id: str, now: datetime | None = None) -> list[ClockState]:
    """Every clock of the case at `now` (clinical clocks need a known assault time)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    return compute_clocks(session, case, get_pack(case.jurisdiction), now)


def clocks_for(session: Session, *, actor: Actor, case_id: str, now: datetime | None = None) -> list[ClockState]:
    """The case's clocks as `actor` may see them: the medical-care clocks only for examiners, or for others
    when the ADVOCATE_SHARE checkpoint allows it (the decision is recorded), as for the care records."""
    now = now or utcnow()
    clocks = case_clocks(session, case_id, now)
    if actor.role == Role.EXAMINER or not any(c.name in MEDICAL_CLOCKS for c in clocks):
        return clocks
    if checkpoint.decide(session, case_id=case_id, handoff=Handoff.ADVOCATE_SHARE, actor=actor, now=now).allowed:
        return clocks
    return [c for c in clocks if c.name not in MEDICAL_CLOCKS]


def _notify_clock(pack: RulePack, cp: CaseProgress, item_id: str, p: ItemProgress,
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
    if p.kind is not None and p.kind not in RELEASABLE_KINDS:  # photographs and files are not handed over as items
        return None
    grant_at = cp.release_grant[0]
    start = max(grant_at, p.first_at, cp.reported_at)
    met = next((at for at, seq in p.release_offers if (at, seq) > cp.release_grant), None)
    if met is None and p.le_at is not None:
        met = p.le_at  # already with law enforcement (e.g. released earlier): nothing left to notify
    return _state(ClockName.FACILITY_NOTIFY_POLICE, start, start + timedelta(hours=hours), met, now, item_id)


def _pickup_notice(cp: CaseProgress, p: ItemProgress) -> datetime | None:
    """When the police were notified of the item, for the pickup clock; None once the release consent was
    withdrawn after the notice and the item was not taken (a release allowed later starts a new notice)."""
    if p.le_at is not None:
        return p.notified_at  # taken: the clock is met, keep it as history
    for pos in p.release_checks:
        if cp.release_stop is None or pos > cp.release_stop:
            return pos[0]
    return None


def compute_clocks(session: Session, case: Case, pack: RulePack, now: datetime) -> list[ClockState]:
    care, exam_at, tox_at, items, cp, delivered = read_progress(session, case.id, now, pack)
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
        for name, field in CLINICAL:
            if name in CARE_FOR_CLOCK:
                met = care.get(CARE_FOR_CLOCK[name])
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
