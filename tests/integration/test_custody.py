"""Chain of custody on SQLite and PostgreSQL: handoffs, refusals that write nothing, consent gates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import ledger
from core.crypto import show_text
from core.errors import Conflict, ConsentRequired, NotFound, PermissionDenied, ValidationFailed
from evidence.custody import (
    AnalysisCreate,
    CheckInCreate,
    CheckOutCreate,
    CustodyEvent,
    SealCreate,
    TransferAccept,
    TransferCreate,
    accept_transfer,
    check_in,
    check_out,
    custody_history,
    offer_lab_submission,
    offer_release,
    offer_transfer,
    record_analysis,
    seal_item,
)
from evidence.items import EvidenceItemCreate, ItemKind, ItemStatus, collect_item, get_custody
from policies.handoffs import ConsentScope
from tests.evidence_support import ALL_SCOPES, EXAMINER, LAB, LAB2, OFFICER, grant, new_case, new_item


def _counts(session):
    return ledger.count(session), session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()


def test_full_chain_collect_seal_transfer_lab_analyse(session, clock):
    """A kit goes examiner → store → lab (with consent) → analysed; history and ledger agree."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    seal_item(session, actor=EXAMINER, item_id=item_id, data=SealCreate(seal_number="S-1001"))
    check_in(session, actor=EXAMINER, item_id=item_id, data=CheckInCreate(location="evidence-store-1"))
    check_out(session, actor=LAB, item_id=item_id, data=CheckOutCreate(reason="to lab", seal_number="S-1001"))
    t = offer_lab_submission(session, actor=LAB, item_id=item_id, data=TransferCreate(
        to_user=LAB2.id, reason="testing", condition="sealed, dry", seal_number="S-1001", seal_intact=True))
    assert get_custody(session, item_id).custodian == LAB.id  # not moved until accepted
    accept_transfer(session, actor=LAB2, transfer_id=t.id,
                    data=TransferAccept(condition="sealed, dry", seal_number="S-1001", seal_intact=True))
    record_analysis(session, actor=LAB2, item_id=item_id, data=AnalysisCreate(report_ref="LAB-77"))
    session.commit()
    state = get_custody(session, item_id)
    assert (state.custodian, state.status) == (LAB2.id, ItemStatus.AT_LAB)
    kinds = [e.kind for e in custody_history(session, item_id)]
    assert kinds == ["collected", "sealed", "checked-in", "checked-out", "transfer-offered", "submitted-to-lab",
                     "analysed"]
    assert ledger.verify_chain(session).ok
    accepted = [ledger.decode(e) for e in session.execute(select(ledger.LedgerEntry)).scalars()
                if e.kind == ledger.EventKind.TRANSFER_ACCEPTED][0]["data"]
    assert accepted["from_user"] == LAB.id and accepted["to_user"] == LAB2.id and accepted["seal_intact"] is True


@pytest.mark.parametrize("action", ["transfer-by-stranger", "double-check-in", "seal-mismatch", "accept-by-other",
                                    "unknown-item", "checkout-not-checked-in"])
def test_refusals_write_nothing(session, clock, action):
    """Each refused operation raises a domain error and leaves the ledger and custody events untouched."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    seal_item(session, actor=EXAMINER, item_id=item_id, data=SealCreate(seal_number="S-1"))
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="r", condition="ok"))
    if action == "double-check-in":
        accept_transfer(session, actor=LAB, transfer_id=t.id, data=TransferAccept(condition="ok"))
        check_in(session, actor=LAB, item_id=item_id, data=CheckInCreate(location="lab-A"))
    session.commit()
    before = _counts(session)
    version = get_custody(session, item_id).version
    errors = {
        "transfer-by-stranger": (PermissionDenied, lambda: offer_transfer(
            session, actor=OFFICER, item_id=item_id, data=TransferCreate(to_user=LAB2.id, reason="r", condition="c"))),
        "double-check-in": (Conflict, lambda: check_in(
            session, actor=LAB, item_id=item_id, data=CheckInCreate(location="lab-B"))),
        "seal-mismatch": (ValidationFailed, lambda: accept_transfer(
            session, actor=LAB, transfer_id=t.id, data=TransferAccept(condition="ok", seal_number="S-2"))),
        "accept-by-other": (PermissionDenied, lambda: accept_transfer(
            session, actor=LAB2, transfer_id=t.id, data=TransferAccept(condition="ok"))),
        "unknown-item": (NotFound, lambda: check_in(
            session, actor=LAB, item_id="E0000000000000000", data=CheckInCreate(location="lab-A"))),
        "checkout-not-checked-in": (Conflict, lambda: check_out(
            session, actor=LAB2, item_id=item_id, data=CheckOutCreate(reason="r"))),
    }
    exc_type, call = errors[action]
    with pytest.raises(exc_type) as err:
        call()
    assert err.value.detail
    session.rollback()
    assert _counts(session) == before
    assert get_custody(session, item_id).version == version


def test_double_checkout_detail_names_holder(session, clock):
    """The loser of a check-out learns who holds the item."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    check_in(session, actor=EXAMINER, item_id=item_id, data=CheckInCreate(location="evidence-store-1"))
    check_out(session, actor=LAB, item_id=item_id, data=CheckOutCreate(reason="r"))
    session.commit()
    with pytest.raises(Conflict) as err:
        check_out(session, actor=LAB2, item_id=item_id, data=CheckOutCreate(reason="r"))
    assert LAB.id in err.value.detail


def test_release_and_lab_need_consent(session, clock):
    """Without release/testing consent the checkpoint refuses, the denial is on record, nothing else changes."""
    case_id = new_case(session, consents=(ConsentScope.FORENSIC_EXAM,))
    item_id = new_item(session, case_id)
    before_events = _counts(session)[1]
    with pytest.raises(ConsentRequired):
        offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    with pytest.raises(ConsentRequired):
        offer_lab_submission(session, actor=EXAMINER, item_id=item_id,
                      data=TransferCreate(to_user=LAB.id, reason="test", condition="sealed"))
    session.rollback()
    denied = session.execute(select(func.count()).select_from(ledger.LedgerEntry).where(
        ledger.LedgerEntry.kind == ledger.EventKind.CHECKPOINT_DENIED)).scalar_one()
    assert denied == 2
    assert _counts(session)[1] == before_events
    assert get_custody(session, item_id).pending_transfer_id is None


def test_release_with_consent_completes_on_acceptance(session, clock):
    """With written release consent, the officer's acceptance completes the release."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.commit()
    state = get_custody(session, item_id)
    assert (state.custodian, state.status) == (OFFICER.id, ItemStatus.RELEASED)
    with pytest.raises(Conflict):
        accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))


def test_release_refused_at_acceptance_when_consent_expired_after_offer(session, clock):
    """The handoff happens at acceptance: a release consent that expired after the offer is refused then,
    and the refusal is recorded."""
    from datetime import timedelta

    from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision

    case_id = new_case(session, consents=tuple(s for s in ALL_SCOPES if s is not ConsentScope.RELEASE_LAW_ENFORCEMENT))
    record_decision(session, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
        scope=ConsentScope.RELEASE_LAW_ENFORCEMENT, decision=Decision.GRANTED, method=Method.WRITTEN,
        form_ref="F-R", expires_at=clock.now() + timedelta(hours=1)))
    item_id = new_item(session, case_id)
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    session.commit()
    clock.advance(timedelta(hours=2))
    with pytest.raises(ConsentRequired):
        accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.rollback()
    state = get_custody(session, item_id)
    assert state.custodian == EXAMINER.id and state.status != ItemStatus.RELEASED
    last = session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq.desc()).limit(1)).scalar_one()
    assert last.kind == ledger.EventKind.CHECKPOINT_DENIED and ledger.decode(last)["actor"]["id"] == OFFICER.id


def test_withdrawing_the_release_consent_cancels_the_open_offer(session, clock):
    """A withdrawal ends the pending release at once: the offer is cancelled (ledgered with the reason), the
    item is no longer pending, and the officer can no longer accept it."""
    from policies.consent import Decision

    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    session.commit()
    grant(session, case_id, ConsentScope.RELEASE_LAW_ENFORCEMENT, decision=Decision.WITHDRAWN)
    session.commit()
    state = get_custody(session, item_id)
    assert (state.custodian, state.pending_transfer_id) == (EXAMINER.id, None)
    kinds = [e.kind for e in session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq)).scalars()]
    assert kinds[-2:] == [ledger.EventKind.CONSENT_RECORDED, ledger.EventKind.TRANSFER_CANCELLED]
    with pytest.raises(Conflict, match="no longer open"):
        accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.rollback()


def test_swab_collection_needs_consent(session, clock):
    """Collecting swabs without consent is refused by the checkpoint; no item is created."""
    case_id = new_case(session, consents=(ConsentScope.FORENSIC_EXAM,))
    with pytest.raises(ConsentRequired):
        collect_item(session, actor=EXAMINER, case_id=case_id,
                     data=EvidenceItemCreate(kind=ItemKind.SWAB, description="oral swab"))
    session.rollback()
    from evidence.items import list_items

    assert list_items(session, case_id) == []


def test_destroy_only_after_retention_and_then_final(session, clock):
    """Destruction is refused before the retention date; afterwards it is recorded and the item is final."""
    from datetime import timedelta

    from evidence.custody import DestroyCreate
    from evidence.destruction import propose_destruction
    from tests.evidence_support import LAB, destroy_by_two

    case_id = new_case(session)
    item_id = new_item(session, case_id)  # the pack's retention: 20 years from collection
    body = DestroyCreate(reason="retention ended", authority_ref="ORDER-12")
    clock.advance(timedelta(days=7299))
    with pytest.raises(Conflict, match="kept until"):
        propose_destruction(session, actor=EXAMINER, item_id=item_id, data=body)
    session.rollback()
    clock.advance(timedelta(days=2))  # the ManualClock moves time past the pack's date
    destroy_by_two(session, item_id, proposer=EXAMINER, approver=LAB)
    session.commit()
    assert get_custody(session, item_id).status == ItemStatus.DESTROYED
    with pytest.raises(Conflict, match="destroyed"):
        check_in(session, actor=EXAMINER, item_id=item_id, data=CheckInCreate(location="store-1"))
    assert ledger.verify_chain(session).ok


# --- handoffs out of the centre follow from the receiver, not from the purpose a caller declares ----------

def _checked_in_at_store(session) -> tuple[str, str]:
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    check_in(session, actor=EXAMINER, item_id=item_id, data=CheckInCreate(location="evidence-store-1"))
    session.commit()
    return case_id, item_id


def test_officer_cannot_receive_an_unreleased_item_by_a_custody_transfer(session, clock):
    """A custody transfer to an officer is a release: the checkpoint decides it (no consent here: refused, and
    the denial is on the ledger); no custody event, the examiner keeps the item."""
    case_id = new_case(session, consents=())  # no release consent at all
    item_id = new_item(session, case_id)
    before = _counts(session)
    with pytest.raises(ConsentRequired):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=OFFICER.id, purpose="custody", reason="x", condition="sealed"))
    session.rollback()
    assert _counts(session) == (before[0] + 1, before[1]) and get_custody(session, item_id).custodian == EXAMINER.id
    last = session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq.desc()).limit(1)).scalar_one()
    assert last.kind == ledger.EventKind.CHECKPOINT_DENIED


def test_a_return_goes_only_to_the_centre(session, clock):
    """A "return" to an officer is refused as input (returns go back to the centre's staff); nothing written."""
    case_id = new_case(session, consents=())
    item_id = new_item(session, case_id)
    before = _counts(session)
    with pytest.raises(ValidationFailed, match="return goes back to the centre"):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=OFFICER.id, purpose="return", reason="x", condition="sealed"))
    session.rollback()
    assert _counts(session) == before and get_custody(session, item_id).custodian == EXAMINER.id


def test_officer_cannot_check_out_an_unreleased_item(session, clock):
    """Checking out would make the officer custodian: refused unless the item was released; the refusal is on
    the ledger (custody:boundary:refused), no custody event."""
    _, item_id = _checked_in_at_store(session)
    before = _counts(session)
    with pytest.raises(PermissionDenied, match="released"):
        check_out(session, actor=OFFICER, item_id=item_id, data=CheckOutCreate(reason="pick up"))
    session.rollback()
    assert _counts(session) == (before[0] + 1, before[1])
    state = get_custody(session, item_id)
    assert (state.custodian, state.status) == (EXAMINER.id, ItemStatus.CHECKED_IN)


def test_released_item_stays_released_through_storage_and_can_come_back(session, clock):
    """After a consented release the officer may store and take the item again (still released), hand it to
    another officer, and return it to the centre; after the return an officer needs a new release."""
    from tests.evidence_support import ensure_staff

    officer2 = OFFICER.__class__(id="U00000000000000P2", role="law_enforcement")
    ensure_staff(session, officer2)
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    check_in(session, actor=OFFICER, item_id=item_id, data=CheckInCreate(location="police-property-1"))
    check_out(session, actor=OFFICER, item_id=item_id, data=CheckOutCreate(reason="to court"))
    assert get_custody(session, item_id).status == ItemStatus.RELEASED
    t2 = offer_transfer(session, actor=OFFICER, item_id=item_id,
                        data=TransferCreate(to_user=officer2.id, reason="court", condition="sealed"))
    accept_transfer(session, actor=officer2, transfer_id=t2.id, data=TransferAccept(condition="sealed"))
    t3 = offer_transfer(session, actor=officer2, item_id=item_id,
                        data=TransferCreate(to_user=EXAMINER.id, purpose="return", reason="case closed",
                                            condition="sealed"))
    accept_transfer(session, actor=EXAMINER, transfer_id=t3.id, data=TransferAccept(condition="sealed"))
    session.commit()
    state = get_custody(session, item_id)
    assert (state.custodian, state.status, state.released) == (EXAMINER.id, ItemStatus.HELD, False)
    # Back at the centre: an officer may take it again only as a new release (any transfer to an officer is
    # one, decided by the checkpoint: consent is on record here, so it is allowed and recorded as released).
    t4 = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                        data=TransferCreate(to_user=OFFICER.id, reason="again", condition="sealed"))
    ev = accept_transfer(session, actor=OFFICER, transfer_id=t4.id, data=TransferAccept(condition="sealed"))
    session.commit()
    assert ev.kind == "released" and get_custody(session, item_id).released is True


def test_purpose_and_receiver_must_agree(session, clock):
    """A release goes to an officer, a lab submission to lab staff, a return only of an item that left."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    with pytest.raises(ValidationFailed, match="law-enforcement"):
        offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=LAB.id, reason="report", condition="sealed"))
    session.rollback()
    with pytest.raises(ValidationFailed, match="lab staff"):
        offer_lab_submission(session, actor=EXAMINER, item_id=item_id,
                      data=TransferCreate(to_user=OFFICER.id, reason="test", condition="sealed"))
    session.rollback()
    with pytest.raises(Conflict, match="returned"):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, purpose="return", reason="x", condition="sealed"))
    session.rollback()
    with pytest.raises(NotFound):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user="U0000000000000ZZZ", reason="x", condition="sealed"))
    session.rollback()


def test_an_open_offer_can_be_declined_or_cancelled_and_the_item_moves_again(session, clock):
    """An open offer no longer freezes the item (e.g. a release whose acceptance was refused): the receiver
    declines or the custodian cancels (ledgered, with the reason); only they may; then the item moves again."""
    from evidence.custody import TransferClose, cancel_transfer, decline_transfer

    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    session.commit()
    with pytest.raises(PermissionDenied):
        cancel_transfer(session, actor=LAB, transfer_id=t.id, data=TransferClose(reason="not mine"))
    session.rollback()
    with pytest.raises(PermissionDenied):
        decline_transfer(session, actor=EXAMINER, transfer_id=t.id, data=TransferClose(reason="not mine"))
    session.rollback()
    ev = cancel_transfer(session, actor=EXAMINER, transfer_id=t.id, data=TransferClose(reason="officer unavailable"))
    session.commit()
    # the row holds the reason's commitment (core.crypto.texts); the text is shown by decrypting
    assert ev.kind == "transfer-cancelled" and show_text(session, case_id, ev.reason) == "officer unavailable"
    assert ev.reason != "officer unavailable"
    last = session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq.desc()).limit(1)).scalar_one()
    assert last.kind == ledger.EventKind.TRANSFER_CANCELLED and last.seq == ev.ledger_seq
    with pytest.raises(Conflict):
        accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.rollback()
    with pytest.raises(Conflict):
        decline_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferClose(reason="late"))
    session.rollback()
    check_in(session, actor=EXAMINER, item_id=item_id, data=CheckInCreate(location="evidence-store-1"))
    session.commit()
    check_out(session, actor=EXAMINER, item_id=item_id, data=CheckOutCreate(reason="to lab desk"))
    t2 = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                        data=TransferCreate(to_user=LAB.id, reason="store", condition="seal broken"))
    ev2 = decline_transfer(session, actor=LAB, transfer_id=t2.id, data=TransferClose(reason="seal broken"))
    session.commit()
    assert ev2.kind == "transfer-declined"
    state = get_custody(session, item_id)
    assert (state.custodian, state.pending_transfer_id) == (EXAMINER.id, None)
    assert ledger.verify_ledger(session).ok
