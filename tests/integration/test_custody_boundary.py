"""The centre's boundary is the receiver's agency, not the verb (SQLite and PostgreSQL).

The hole these close: a kit the survivor had not released reached a crime-lab user by a plain custody transfer,
and a second crime-lab user took it out of the centre's vault by a scan — because one `lab` role stood for the
centre's evidence store and for the crime lab alike.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import ledger
from core.actors import Actor
from core.cases import Reporting
from core.errors import Conflict, ConsentRequired, PermissionDenied
from core.ledger import EventKind
from evidence.custody import (
    AnalysisCreate,
    CheckInCreate,
    CheckOutCreate,
    CustodyEvent,
    TransferAccept,
    TransferCreate,
    TransferStatus,
    accept_transfer,
    check_in,
    check_out,
    get_transfer,
    offer_lab_submission,
    offer_release,
    offer_transfer,
    record_analysis,
    require_item_visible,
    scan,
    visible_items,
)
from evidence.items import ItemStatus, get_custody
from policies.consent import Decision
from policies.handoffs import ConsentScope as S
from tests.evidence_support import (
    ALL_SCOPES,
    CRIME_LAB,
    CRIME_LAB2,
    EXAMINER,
    LAB,
    LAB2,
    OFFICER,
    OFFICER2,
    ensure_staff,
    grant,
    new_case,
    new_item,
)

NO_RELEASE = tuple(s for s in ALL_SCOPES if s not in (S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING))
PROSECUTOR = Actor(id="U00000000000000Q1", role="law_enforcement")
ADVOCATE_ORG = Actor(id="U00000000000000D1", role="advocate")


def _entries(session) -> list[dict]:
    return [ledger.decode(e) for e in session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq))
            .scalars()]


def _events(session, item_id: str) -> int:
    return session.execute(select(func.count()).select_from(CustodyEvent)
                           .where(CustodyEvent.item_id == item_id)).scalar_one()


def _in_vault(session, consents=ALL_SCOPES, reporting=Reporting.UNRESTRICTED) -> tuple[str, str]:
    """A kit checked in at the centre's vault by the centre's evidence-store staff."""
    case_id = new_case(session, consents=consents, reporting=reporting)
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    accept_transfer(session, actor=LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    check_in(session, actor=LAB, item_id=item_id, data=CheckInCreate(location="VAULT-1"))
    session.commit()
    return case_id, item_id


def _last(session) -> dict:
    return _entries(session)[-1]


# --- transfers ---------------------------------------------------------------------------------------

def test_a_custody_transfer_of_an_unreleased_kit_to_a_crime_lab_user_is_refused_at_offer(session, clock):
    case_id = new_case(session, consents=NO_RELEASE)
    item_id = new_item(session, case_id)
    events = _events(session, item_id)
    with pytest.raises(ConsentRequired):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=CRIME_LAB.id, reason="lab testing", condition="sealed"))
    session.rollback()
    last = _last(session)
    assert last["kind"] == EventKind.CHECKPOINT_DENIED and last["data"]["handoff"] == "lab-testing"
    assert last["data"]["subject"]["to_agency_kind"] == "crime-lab" and last["item"] == item_id
    state = get_custody(session, item_id)
    assert (state.custodian, state.pending_transfer_id) == (EXAMINER.id, None) and _events(session, item_id) == events


def test_a_custody_transfer_to_a_crime_lab_user_is_cancelled_by_a_withdrawal_and_cannot_be_accepted(session, clock):
    """The offer rests on the lab-testing consent (a move into a crime lab's hands): its withdrawal cancels it at
    once, on the ledger with the reason, so the crime-lab user finds nothing left to accept."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=CRIME_LAB.id, reason="lab testing", condition="sealed"))
    session.commit()
    assert _last(session)["kind"] == EventKind.TRANSFER_OFFERED
    grant(session, case_id, S.LAB_TESTING, decision=Decision.WITHDRAWN)
    session.commit()
    cancelled = [e for e in _entries(session) if e["kind"] == EventKind.TRANSFER_CANCELLED]
    assert [(e["data"]["transfer_id"], e["data"]["reason"]) for e in cancelled] == [
        (t.id, "consent withdrawn: lab-testing")]
    with pytest.raises(Conflict, match="no longer open"):
        accept_transfer(session, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.rollback()
    state = get_custody(session, item_id)
    assert (state.custodian, state.pending_transfer_id, state.lab_submitted) == (EXAMINER.id, None, False)
    assert str(get_transfer(session, t.id).status) == TransferStatus.CANCELLED.value


@pytest.mark.parametrize("receiver", [CRIME_LAB, OFFICER], ids=["crime-lab", "police"])
def test_a_custody_purpose_offer_outside_the_centre_is_cancelled_when_the_release_consent_is_withdrawn(
        session, clock, receiver):
    """Any purpose: a CUSTODY offer into another agency's hands rests on the release consent as a release or lab
    submission does; an offer inside the centre rests on no consent and stays open."""
    case_id = new_case(session)
    outside, inside = new_item(session, case_id), new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=outside,
                       data=TransferCreate(to_user=receiver.id, reason="handoff", condition="sealed"))
    kept = offer_transfer(session, actor=EXAMINER, item_id=inside,
                          data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    session.commit()
    grant(session, case_id, S.RELEASE_LAW_ENFORCEMENT, decision=Decision.WITHDRAWN)
    session.commit()
    cancelled = [e for e in _entries(session) if e["kind"] == EventKind.TRANSFER_CANCELLED]
    assert [(e["item"], e["data"]["transfer_id"], e["data"]["purpose"], e["data"]["reason"]) for e in cancelled] == [
        (outside, t.id, "custody", "consent withdrawn: release-to-law-enforcement")]
    assert get_custody(session, outside).pending_transfer_id is None
    assert str(get_transfer(session, t.id).status) == TransferStatus.CANCELLED.value
    assert get_custody(session, inside).pending_transfer_id == kept.id
    assert str(get_transfer(session, kept.id).status) == TransferStatus.OFFERED.value


def test_a_consented_custody_transfer_to_a_crime_lab_is_a_lab_submission_then_crime_lab_scans_work(session, clock):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=CRIME_LAB.id, reason="lab testing", condition="sealed"))
    ev = accept_transfer(session, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.commit()
    assert ev.kind == "submitted-to-lab"
    state = get_custody(session, item_id)
    assert (state.custodian, state.status, state.lab_submitted) == (CRIME_LAB.id, ItemStatus.AT_LAB, True)
    accepted = _last(session)["data"]
    assert (accepted["purpose"], accepted["offered_as"]) == ("lab", "custody")
    # The crime lab stores it and another of its staff takes it by a scan: the checkpoint still allows it.
    assert scan(session, actor=CRIME_LAB, item_id=item_id, location="CRIME-LAB-SHELF").kind == "checked-in"
    assert scan(session, actor=CRIME_LAB2, item_id=item_id, location=None).kind == "checked-out"
    session.commit()
    kinds = [e["kind"] for e in _entries(session)]
    assert kinds[-2:] == [EventKind.CHECKPOINT_ALLOWED, EventKind.CHECKED_OUT]
    record_analysis(session, actor=CRIME_LAB2, item_id=item_id, data=AnalysisCreate(report_ref="CL-1"))
    session.commit()
    assert get_custody(session, item_id).status == ItemStatus.AT_LAB


def test_a_crime_lab_check_out_needs_the_consent_still_to_hold(session, clock):
    """Submitted with consent, then the testing consent is withdrawn: the crime lab can no longer take the kit
    from its own shelf (the denial is on the ledger)."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_lab_submission(session, actor=EXAMINER, item_id=item_id,
                      data=TransferCreate(to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
    accept_transfer(session, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    check_in(session, actor=CRIME_LAB, item_id=item_id, data=CheckInCreate(location="CRIME-LAB-SHELF"))
    session.commit()
    grant(session, case_id, S.LAB_TESTING, decision=Decision.WITHDRAWN)
    session.commit()
    with pytest.raises(ConsentRequired):
        check_out(session, actor=CRIME_LAB2, item_id=item_id, data=CheckOutCreate(reason="bench"))
    session.rollback()
    assert _last(session)["kind"] == EventKind.CHECKPOINT_DENIED
    assert get_custody(session, item_id).status == ItemStatus.CHECKED_IN


# --- taking from the centre's vault ---------------------------------------------------------------------

@pytest.mark.parametrize("consents", [NO_RELEASE, ALL_SCOPES], ids=["no-consent", "consent-but-not-submitted"])
def test_a_crime_lab_user_cannot_check_out_or_scan_an_unreleased_kit_from_the_vault(session, clock, consents):
    _, item_id = _in_vault(session, consents)
    events = _events(session, item_id)
    with pytest.raises(PermissionDenied, match="submitted to the crime lab"):
        check_out(session, actor=CRIME_LAB, item_id=item_id, data=CheckOutCreate(reason="lab testing"))
    session.rollback()
    with pytest.raises(PermissionDenied, match="submitted to the crime lab"):
        scan(session, actor=CRIME_LAB2, item_id=item_id, location=None)
    session.rollback()
    refusals = [e for e in _entries(session) if e["kind"] == EventKind.BOUNDARY_REFUSED]
    assert [(e["actor"]["id"], e["data"]["to_agency_kind"], e["data"]["move"], e["item"]) for e in refusals] == [
        (CRIME_LAB.id, "crime-lab", "take", item_id), (CRIME_LAB2.id, "crime-lab", "take", item_id)]
    state = get_custody(session, item_id)
    assert (state.custodian, state.status) == (LAB.id, ItemStatus.CHECKED_IN) and _events(session, item_id) == events


@pytest.mark.parametrize("taker", [OFFICER, PROSECUTOR], ids=["police", "prosecution"])
def test_law_enforcement_cannot_take_an_unreleased_kit_by_check_out_scan_or_transfer(session, clock, taker):
    if taker is PROSECUTOR:
        ensure_staff(session, PROSECUTOR, agency_kind="prosecution")
    _, item_id = _in_vault(session, NO_RELEASE)
    for attempt in (lambda: check_out(session, actor=taker, item_id=item_id, data=CheckOutCreate(reason="pick up")),
                    lambda: scan(session, actor=taker, item_id=item_id, location=None)):
        with pytest.raises(PermissionDenied, match="released to law enforcement"):
            attempt()
        session.rollback()
        assert _last(session)["kind"] == EventKind.BOUNDARY_REFUSED
    check_out(session, actor=LAB, item_id=item_id, data=CheckOutCreate(reason="hand over"))
    session.commit()
    with pytest.raises(ConsentRequired):
        offer_transfer(session, actor=LAB, item_id=item_id,
                       data=TransferCreate(to_user=taker.id, reason="pick up", condition="sealed"))
    session.rollback()
    last = _last(session)
    assert last["kind"] == EventKind.CHECKPOINT_DENIED and last["data"]["handoff"] == "release-to-law-enforcement"
    assert get_custody(session, item_id).custodian == LAB.id


def test_a_consented_custody_transfer_to_an_officer_is_a_release(session, clock):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    ev = accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.commit()
    state = get_custody(session, item_id)
    assert ev.kind == "released" and (state.status, state.released) == (ItemStatus.RELEASED, True)
    assert _last(session)["kind"] == EventKind.RELEASED
    # Released: the police may store it and another officer take it (the checkpoint still allows it).
    check_in(session, actor=OFFICER, item_id=item_id, data=CheckInCreate(location="POLICE-PROPERTY"))
    assert scan(session, actor=OFFICER2, item_id=item_id, location=None).kind == "checked-out"
    session.commit()
    # But the crime lab cannot take it from the police: that is a lab submission, by transfer.
    check_in(session, actor=OFFICER2, item_id=item_id, data=CheckInCreate(location="POLICE-PROPERTY"))
    session.commit()
    with pytest.raises(PermissionDenied):
        check_out(session, actor=CRIME_LAB, item_id=item_id, data=CheckOutCreate(reason="testing"))
    session.rollback()


# --- the centre's own evidence store ---------------------------------------------------------------------

def test_centre_evidence_store_staff_keep_working_without_any_consent(session, clock):
    case_id = new_case(session, consents=())
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    assert accept_transfer(session, actor=LAB, transfer_id=t.id,
                           data=TransferAccept(condition="sealed")).kind == "transfer-accepted"
    check_in(session, actor=LAB, item_id=item_id, data=CheckInCreate(location="VAULT-1"))
    check_out(session, actor=LAB2, item_id=item_id, data=CheckOutCreate(reason="audit"))
    assert scan(session, actor=LAB2, item_id=item_id, location="VAULT-2").kind == "checked-in"
    assert scan(session, actor=LAB, item_id=item_id, location=None).kind == "checked-out"
    session.commit()
    kinds = {e["kind"] for e in _entries(session)}
    assert not kinds & {EventKind.CHECKPOINT_ALLOWED, EventKind.CHECKPOINT_DENIED, EventKind.BOUNDARY_REFUSED}
    state = get_custody(session, item_id)
    assert (state.custodian, state.status, state.released, state.lab_submitted) == (LAB.id, ItemStatus.HELD,
                                                                                   False, False)


# --- restricted kits never leave ------------------------------------------------------------------------

def test_a_restricted_kit_never_leaves_by_any_verb(session, clock):
    """All consents on file, but the report is restricted: every way out is refused and each refusal is on
    the ledger; the centre's store still handles it."""
    case_id, item_id = _in_vault(session, ALL_SCOPES, reporting=Reporting.RESTRICTED)
    for taker in (OFFICER, CRIME_LAB):
        for attempt in (lambda t=taker: check_out(session, actor=t, item_id=item_id, data=CheckOutCreate(reason="x")),
                        lambda t=taker: scan(session, actor=t, item_id=item_id, location=None)):
            before = ledger.count(session)
            with pytest.raises(PermissionDenied):
                attempt()
            session.rollback()
            assert ledger.count(session) == before + 1
    check_out(session, actor=LAB, item_id=item_id, data=CheckOutCreate(reason="hand over"))
    session.commit()
    offers = [
        lambda: offer_release(session, actor=LAB, item_id=item_id,
                             data=TransferCreate(to_user=OFFICER.id, reason="x", condition="sealed")),
        lambda: offer_lab_submission(session, actor=LAB, item_id=item_id,
                              data=TransferCreate(to_user=CRIME_LAB.id, reason="x", condition="sealed")),
        lambda: offer_transfer(session, actor=LAB, item_id=item_id,
                               data=TransferCreate(to_user=OFFICER.id, reason="x", condition="sealed")),
        lambda: offer_transfer(session, actor=LAB, item_id=item_id,
                               data=TransferCreate(to_user=CRIME_LAB.id, reason="x", condition="sealed")),
    ]
    for offer in offers:
        with pytest.raises(ConsentRequired, match="not reported"):
            offer()
        session.rollback()
        assert _last(session)["kind"] == EventKind.CHECKPOINT_DENIED
    state = get_custody(session, item_id)
    assert (state.custodian, state.pending_transfer_id, state.released, state.lab_submitted) == (
        LAB.id, None, False, False)


def test_an_advocacy_organisation_never_receives_evidence(session, clock):
    ensure_staff(session, ADVOCATE_ORG, agency_kind="advocacy-org")
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    with pytest.raises(PermissionDenied, match="never"):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=ADVOCATE_ORG.id, reason="x", condition="sealed"))
    session.rollback()
    assert _last(session)["kind"] == EventKind.BOUNDARY_REFUSED
    assert get_custody(session, item_id).pending_transfer_id is None


# --- who sees what ---------------------------------------------------------------------------------------

def test_crime_lab_staff_see_only_items_offered_to_them_and_centre_store_staff_see_all(session, clock):
    case_id = new_case(session)
    offered, other = new_item(session, case_id), new_item(session, case_id)
    assert visible_items(session, actor=CRIME_LAB, case_id=case_id) == []
    with pytest.raises(PermissionDenied):
        require_item_visible(session, actor=CRIME_LAB, item_id=offered)
    offer_lab_submission(session, actor=EXAMINER, item_id=offered,
                  data=TransferCreate(to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
    session.commit()
    assert [i.id for i in visible_items(session, actor=CRIME_LAB, case_id=case_id)] == [offered]
    require_item_visible(session, actor=CRIME_LAB, item_id=offered)
    with pytest.raises(PermissionDenied):
        require_item_visible(session, actor=CRIME_LAB, item_id=other)
    assert {i.id for i in visible_items(session, actor=LAB, case_id=case_id)} == {offered, other}
    require_item_visible(session, actor=LAB2, item_id=other)
