"""Survivor kit-status lookup (consent-gated, hashed password, stage only) and item labels."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from core.errors import AuthenticationFailed, ConsentRequired, ValidationFailed
from evidence.custody import TransferAccept, TransferCreate, accept_transfer, offer_release
from evidence.labels import label_pdf, label_png
from evidence.lookup import KitLookup, KitStage, enrol_lookup, lookup_status
from policies.handoffs import ConsentScope
from tests.evidence_support import EXAMINER, OFFICER, new_case, new_item


def test_lookup_enrol_and_status(session, clock):
    """Enrolment gives a code and password; the lookup answers the stage only; the password is not stored."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    enrolment = enrol_lookup(session, actor=EXAMINER, item_id=item_id)
    session.commit()
    row = session.execute(select(KitLookup)).scalar_one()
    assert enrolment.password.encode() not in bytes(row.password_hash) and len(row.salt) == 16
    status = lookup_status(session, code=enrolment.code, password=enrolment.password)
    assert status.stage is KitStage.AT_FACILITY
    assert set(status.model_dump()) == {"stage", "updated_at"}
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    session.commit()
    assert lookup_status(session, code=enrolment.code, password=enrolment.password).stage is \
        KitStage.WITH_LAW_ENFORCEMENT
    with pytest.raises(AuthenticationFailed):
        lookup_status(session, code=enrolment.code, password="wrong")
    with pytest.raises(AuthenticationFailed):
        lookup_status(session, code="K0000000000000000", password=enrolment.password)
    # Neither half of the survivor's credential is in the ledger (auditors read it, bundles carry it).
    from core import ledger

    bodies = b"".join(e.body for e in session.execute(select(ledger.LedgerEntry)).scalars())
    assert b"status-lookup-enrolled" in bodies
    assert enrolment.code.encode() not in bodies and enrolment.password.encode() not in bodies


def test_lookup_enrolment_needs_consent(session, clock):
    """Without the status-lookup consent, enrolment is refused."""
    case_id = new_case(session, consents=(ConsentScope.FORENSIC_EXAM,))
    item_id = new_item(session, case_id)
    with pytest.raises(ConsentRequired):
        enrol_lookup(session, actor=EXAMINER, item_id=item_id)


def test_labels_carry_the_item_id_only():
    """PNG and PDF labels render for an item id and refuse anything else."""
    item_id = "E" + "7" * 16
    png = Image.open(io.BytesIO(label_png(item_id)))
    assert png.format == "PNG" and png.width > png.height
    pdf = label_pdf(item_id)
    assert pdf.startswith(b"%PDF") and item_id.encode() in pdf
    with pytest.raises(ValidationFailed):
        label_png("Jane Doe")
