"""The mandatory-report clock of a minor's case and Michigan's facility-notifies-police clock, on real SQLite
and PostgreSQL, driven by the services (consent, overrides, collection, release) and a ManualClock."""

from __future__ import annotations

from datetime import timedelta

from core.actors import system_actor
from core.cases import AgeBand, CaseCreate, Reporting
from evidence.custody import TransferCreate, offer_release
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from policies import cases, consent, deadlines
from policies.consent import ConsentDecisionCreate, ConsentOverrideCreate, Decision, Method, OverrideBasis
from policies.deadlines import MANDATORY_REPORT_FALLBACK_HOURS, ClockName, ClockStatus
from policies.handoffs import ConsentScope as S
from tests.evidence_support import EXAMINER, OFFICER, ensure_staff

WATCH = system_actor("deadline-watch")
MR = "minor's case: record the mandatory report (override with its legal basis)"


def _decide(session, case_id, scope, decision=Decision.GRANTED, method=Method.WRITTEN, form_ref="F-1"):
    consent.record_decision(session, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
        scope=scope, decision=decision, method=method, form_ref=form_ref if method is Method.WRITTEN else None))


def _clocks(session, case_id, name, item_id=None):
    return [c for c in deadlines.case_clocks(session, case_id)
            if c.name is name and (item_id is None or c.item_id == item_id)]


def _alerts(raised, case_id, name):
    return [a for a in raised if a.case_id == case_id and a.clock == name]


# --- mandatory report for a minor ----------------------------------------------------------------------

def test_minor_mandatory_report_clock_alerts_near_and_after_the_deadline_and_stops_with_the_override(
        session, clock):
    """A 14-15-year-old in Texas refuses the police report: the mandatory report is still due (24 h fallback:
    no pack sets a number), reminded 6 h before, flagged overdue after, and met by the override."""
    case = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction="us-tx", age_band=AgeBand.AGE_14_15))
    opened = clock.now()
    _decide(session, case.id, S.REPORT_POLICE, decision=Decision.DECLINED, method=Method.VERBAL)
    [mr] = _clocks(session, case.id, ClockName.MANDATORY_REPORT)
    assert (mr.starts_at, mr.deadline, mr.status, mr.item_id) == (
        opened, opened + timedelta(hours=MANDATORY_REPORT_FALLBACK_HOURS), ClockStatus.RUNNING, None)
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT) == []

    clock.advance(timedelta(hours=19))  # 5 h left, inside the 6 h lead
    [due] = _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT)
    assert due.message == f"{MR} — due in 5 h" and due.item_id is None
    assert case.id not in due.message  # actionable without the case's (or anyone's) identity in the text
    clock.advance(timedelta(hours=1))
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT) == []

    clock.advance(timedelta(hours=5))  # 25 h: overdue, raised once more (a late report must not stay silent)
    [late] = _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT)
    assert late.message == f"{MR} — overdue" and late.due_at == mr.deadline
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT) == []
    assert _clocks(session, case.id, ClockName.MANDATORY_REPORT)[0].status is ClockStatus.EXPIRED

    consent.record_override(session, actor=EXAMINER, case_id=case.id, data=ConsentOverrideCreate(
        scope=S.REPORT_POLICE, basis=OverrideBasis.MANDATORY_REPORT_MINOR, legal_basis="Tex. Fam. Code 261.101"))
    [met] = _clocks(session, case.id, ClockName.MANDATORY_REPORT)
    assert (met.status, met.met_at) == (ClockStatus.MET, clock.now())

    # A second minor's case whose report is recorded in time never alerts.
    other = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction="us-mi", age_band=AgeBand.UNDER_13))
    clock.advance(timedelta(hours=2))
    consent.record_override(session, actor=EXAMINER, case_id=other.id, data=ConsentOverrideCreate(
        scope=S.REPORT_POLICE, basis=OverrideBasis.MANDATORY_REPORT_MINOR, legal_basis="MCL 722.623"))
    clock.advance(timedelta(hours=30))
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), other.id, ClockName.MANDATORY_REPORT) == []
    assert _clocks(session, other.id, ClockName.MANDATORY_REPORT)[0].status is ClockStatus.MET
    session.commit()


def test_a_report_to_police_grant_meets_the_mandatory_report_clock(session, clock):
    case = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction="us-tx", age_band=AgeBand.AGE_16_17))
    clock.advance(timedelta(hours=3))
    _decide(session, case.id, S.REPORT_POLICE, method=Method.VERBAL)  # 16-17 consents for themselves in Texas
    clock.advance(timedelta(hours=30))
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case.id, ClockName.MANDATORY_REPORT) == []
    [mr] = _clocks(session, case.id, ClockName.MANDATORY_REPORT)
    assert mr.status is ClockStatus.MET and mr.met_at == clock.now() - timedelta(hours=30)


def test_an_adult_has_no_mandatory_report_clock(session, clock):
    adults = [cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction=j)) for j in ("us-tx", "default")]
    clock.advance(timedelta(hours=48))
    raised = deadlines.scan_deadlines(session, actor=WATCH)
    for case in adults:
        assert _clocks(session, case.id, ClockName.MANDATORY_REPORT) == []
        assert _alerts(raised, case.id, ClockName.MANDATORY_REPORT) == []


# --- Michigan: the facility notifies the police within 24 h of the written release consent ------------------

def _mi_case(session, clock, reporting=Reporting.UNRESTRICTED, jurisdiction="us-mi", items=1):
    """A reported adult case with kits collected (exam consent only); returns (case id, [item ids])."""
    ensure_staff(session)
    case = cases.open_case(session, actor=EXAMINER, data=CaseCreate(jurisdiction=jurisdiction, reporting=reporting))
    _decide(session, case.id, S.FORENSIC_EXAM)
    ids = [collect_item(session, actor=EXAMINER, case_id=case.id, data=EvidenceItemCreate(
        kind=ItemKind.KIT, description=f"kit {n}")).id
        for n in range(items)]
    session.commit()
    return case.id, ids


def _offer(session, item_id):
    offer_release(session, actor=EXAMINER, item_id=item_id,
                 data=TransferCreate(to_user=OFFICER.id, reason="release", condition="sealed"))


def test_michigan_notify_clock_runs_from_the_written_release_grant_and_alerts_after_24h(session, clock):
    case_id, [item] = _mi_case(session, clock)
    clock.advance(timedelta(hours=2))
    assert _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE) == []  # no release consent yet
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT, method=Method.VERBAL)  # Michigan wants it written
    assert _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE) == []
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT)
    granted = clock.now()
    [notify] = _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)
    assert (notify.item_id, notify.starts_at, notify.deadline, notify.status) == (
        item, granted, granted + timedelta(hours=24), ClockStatus.RUNNING)
    assert _clocks(session, case_id, ClockName.POLICE_PICKUP) == []  # no notice yet: pickup waits for it

    clock.advance(timedelta(hours=23))
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case_id, ClockName.FACILITY_NOTIFY_POLICE) == []
    clock.advance(timedelta(hours=2))  # 25 h, no offer
    [alert] = _alerts(deadlines.scan_deadlines(session, actor=WATCH), case_id, ClockName.FACILITY_NOTIFY_POLICE)
    assert alert.item_id == item and alert.due_at == granted + timedelta(hours=24)
    assert alert.message == ("release to law enforcement consented 25 h ago: notify the police (offer the kit "
                             "for release)")
    assert _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)[0].status is ClockStatus.EXPIRED
    assert deadlines.scan_deadlines(session, actor=WATCH) == []  # once

    _offer(session, item)  # late, but done: the clock shows when
    [notify] = _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)
    assert (notify.status, notify.met_at) == (ClockStatus.MET, clock.now())
    session.commit()


def test_michigan_offer_within_24h_meets_the_notify_clock_and_starts_pickup(session, clock):
    case_id, [item] = _mi_case(session, clock)
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT)
    clock.advance(timedelta(hours=20))
    _offer(session, item)
    offered = clock.now()
    session.commit()
    [notify] = _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)
    assert (notify.status, notify.met_at) == (ClockStatus.MET, offered)
    [pickup] = _clocks(session, case_id, ClockName.POLICE_PICKUP)
    assert (pickup.starts_at, pickup.deadline, pickup.status) == (
        offered, offered + timedelta(days=14), ClockStatus.RUNNING)
    clock.advance(timedelta(hours=30))
    assert _alerts(deadlines.scan_deadlines(session, actor=WATCH), case_id, ClockName.FACILITY_NOTIFY_POLICE) == []


def test_michigan_withdrawn_release_stops_notify_and_pickup_clocks(session, clock):
    """One kit offered (pickup running), one not: withdrawing the release consent stops every notify and
    pickup clock; nothing alerts afterwards, not at 25 h and not at 15 days."""
    case_id, [offered, waiting] = _mi_case(session, clock, items=2)
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT)
    clock.advance(timedelta(hours=1))
    _offer(session, offered)
    session.commit()
    assert len(_clocks(session, case_id, ClockName.POLICE_PICKUP)) == 1
    assert len(_clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)) == 2
    clock.advance(timedelta(hours=1))
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT, decision=Decision.WITHDRAWN, method=Method.VERBAL)
    session.commit()  # the withdrawal hook cancelled the open offer
    for name in (ClockName.FACILITY_NOTIFY_POLICE, ClockName.POLICE_PICKUP):
        assert _clocks(session, case_id, name) == []
    for later in (timedelta(hours=25), timedelta(days=15)):
        clock.advance(later)
        raised = deadlines.scan_deadlines(session, actor=WATCH)
        assert _alerts(raised, case_id, ClockName.FACILITY_NOTIFY_POLICE) == []
        assert _alerts(raised, case_id, ClockName.POLICE_PICKUP) == []
    assert deadlines.list_alerts(session, case_id=case_id) == []

    # A new written grant starts a new 24 h duty for both kits (neither is with law enforcement).
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT, form_ref="F-2")
    regranted = clock.now()
    clocks = _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)
    assert sorted(c.item_id for c in clocks) == sorted([offered, waiting])
    assert all(c.starts_at == regranted and c.status is ClockStatus.RUNNING for c in clocks)
    session.commit()


def test_notify_clock_only_for_reported_cases_and_packs_with_the_rule(session, clock):
    """A restricted kit cannot be released (so no duty to notify); Washington has no 24 h rule."""
    restricted, _ = _mi_case(session, clock, reporting=Reporting.RESTRICTED)
    washington, _ = _mi_case(session, clock, jurisdiction="us-wa")
    for case_id in (restricted, washington):
        _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT)
    clock.advance(timedelta(hours=25))
    raised = deadlines.scan_deadlines(session, actor=WATCH)
    for case_id in (restricted, washington):
        assert _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE) == []
        assert _alerts(raised, case_id, ClockName.FACILITY_NOTIFY_POLICE) == []
    # converting the restricted report starts the duty then (the consent was already on file)
    cases.change_reporting(session, actor=EXAMINER, case_id=restricted, reporting=Reporting.UNRESTRICTED)
    [notify] = _clocks(session, restricted, ClockName.FACILITY_NOTIFY_POLICE)
    assert (notify.starts_at, notify.status) == (clock.now(), ClockStatus.RUNNING)
    session.commit()


def test_michigan_notify_clock_is_for_physical_evidence_only(session, clock):
    """Photographs and documents are not handed to the police as items: no notify duty (nor alert) for them."""
    case_id, [kit] = _mi_case(session, clock)
    _decide(session, case_id, S.PHOTO_RECORD)
    photo = collect_item(session, actor=EXAMINER, case_id=case_id, data=EvidenceItemCreate(
        kind=ItemKind.PHOTOGRAPH, description="injury photograph"))
    _decide(session, case_id, S.RELEASE_LAW_ENFORCEMENT)
    assert [c.item_id for c in _clocks(session, case_id, ClockName.FACILITY_NOTIFY_POLICE)] == [kit]
    assert photo.id != kit
