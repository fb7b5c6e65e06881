"""Retention from the jurisdiction pack and late samples/treatments, through the API on both databases.

The exact holes found from outside: an unreported kit recorded with retention now + 90 s and destroyed 100 s
later; a blood toxicology sample collected at 40 h (window 24 h) turning its clock to "met"; PEP given on day 8
accepted with no justification.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.crypto import is_commitment
from core.ledger import LedgerEntry, iso
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _case(h, examiner, *, consents=(), **fields):
    case_id = h.client.post("/cases", json=fields, headers=examiner.headers).json()["id"]
    for scope in consents:
        r = h.client.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                          json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    return case_id


def _ledger_data(h, kind, item_id=None, case_id=None):
    with Session(h.engine) as s:
        q = select(LedgerEntry).where(LedgerEntry.kind == kind)
        if item_id:
            q = q.where(LedgerEntry.item_id == item_id)
        if case_id:
            q = q.where(LedgerEntry.case_id == case_id)
        return [json.loads(bytes(e.body))["data"] for e in s.execute(q).scalars()]


def _clocks(h, case_id, user):
    return {c["name"]: c for c in h.client.get(f"/cases/{case_id}/clocks", headers=user.headers).json()}


def test_unreported_kit_cannot_be_given_a_short_retention_nor_destroyed_early(harness, clock):
    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, reporting="restricted")
    pack_date = (clock.now() + timedelta(days=7300)).date().isoformat()
    body = {"kind": "kit", "description": "sexual assault kit",
            "retention_until": iso(clock.now() + timedelta(seconds=90))}
    r = h.client.post(f"/cases/{case_id}/items", json=body, headers=ex.headers)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"at least until {pack_date}" in detail
    assert "Default (national protocol values): unreported kit, 20 years from collection" in detail

    del body["retention_until"]  # the pack's date applies
    r = h.client.post(f"/cases/{case_id}/items", json=body, headers=ex.headers)
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["retention_until"].startswith(pack_date)
    [data] = _ledger_data(h, "custody:item:collected", item_id=item["id"])
    assert data["retention_rule"] == ("Default (national protocol values): unreported kit, 20 years from collection "
                                      "(kit.unreported_retention_days)")

    store = h.user("lab")  # the evidence store's custodian takes the kit
    t = h.client.post(f"/items/{item['id']}/transfers", headers=ex.headers,
                      json={"to_user": store.id, "reason": "to store", "condition": "sealed"}).json()
    r = h.client.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=store.headers)
    assert r.status_code == 200, r.text
    clock.advance(timedelta(seconds=100))  # and tries to destroy it 100 s after collection
    destroy = {"reason": "no longer needed", "authority_ref": "ORDER-1"}
    r = h.client.post(f"/items/{item['id']}/destroy", headers=store.headers, json=destroy)
    assert r.status_code == 409 and f"kept until {pack_date}" in r.json()["detail"]
    clock.advance(timedelta(days=7299))  # still a day short of the pack's 20 years
    assert h.client.post(f"/items/{item['id']}/destroy", headers=store.headers, json=destroy).status_code == 409
    assert h.client.get(f"/items/{item['id']}", headers=ex.headers).json()["status"] == "held"


def test_a_longer_retention_extends_the_packs_date(harness, clock):
    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, reporting="unrestricted", jurisdiction="us-mi")
    later = clock.now() + timedelta(days=7300 + 365 * 35)  # e.g. Idaho-style 55 years for this kit
    r = h.client.post(f"/cases/{case_id}/items", headers=ex.headers,
                      json={"kind": "kit", "description": "kit", "retention_until": iso(later)})
    assert r.status_code == 201, r.text
    assert r.json()["retention_until"].startswith(later.date().isoformat())
    [data] = _ledger_data(h, "custody:item:collected", item_id=r.json()["id"])
    assert data["retention_rule"].startswith("Michigan (US): reported kit, statute of limitations or 20 years, "
                                             "whichever is shorter: 20 years (no offence class given)")


def test_blood_toxicology_at_40h_is_late_and_needs_a_justification(harness, clock):
    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, assault_at=iso(clock.now() - timedelta(hours=40)),
                    consents=("forensic-exam", "evidence-toxicology"))
    blood = {"kind": "toxicology-blood", "description": "blood sample, grey-top tube"}
    r = h.client.post(f"/cases/{case_id}/items", json=blood, headers=ex.headers)
    assert r.status_code == 422, r.text
    assert "collected 16 h after its 24 h window" in r.json()["detail"]
    assert "late_justification" in r.json()["detail"]
    assert h.client.get(f"/cases/{case_id}/items", headers=ex.headers).json() == []

    why = "survivor presented at 38 h; sample still useful for long-acting substances"
    r = h.client.post(f"/cases/{case_id}/items", json={**blood, "late_justification": why}, headers=ex.headers)
    assert r.status_code == 201, r.text
    assert r.json()["late_justification"] == why
    [data] = _ledger_data(h, "custody:item:collected", item_id=r.json()["id"])
    # the justification is staff's free text: the entry holds its commitment (core.crypto.texts), never the text
    assert (data["late_by_seconds"], data["window_hours"]) == (16 * 3600, 24)
    assert is_commitment(data["late_justification"]) and why not in json.dumps(data)

    # urine at 40 h is inside its 120 h window: no justification, and its clock is met
    r = h.client.post(f"/cases/{case_id}/items", headers=ex.headers,
                      json={"kind": "toxicology-urine", "description": "urine sample"})
    assert r.status_code == 201, r.text
    clocks = _clocks(h, case_id, ex)
    assert clocks["toxicology-blood"]["status"] == "late"
    assert clocks["toxicology-blood"]["detail"] == "collected 16 h after its 24 h window"
    assert clocks["toxicology-urine"]["status"] == "met" and clocks["toxicology-urine"]["detail"] is None


def test_pep_given_on_day_8_is_late_and_needs_a_justification(harness, clock):
    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, assault_at=iso(clock.now() - timedelta(days=7, hours=12)), consents=("medical-care",))
    pep = {"care": "hiv-pep", "status": "given", "occurred_at": iso(clock.now())}
    r = h.client.post(f"/cases/{case_id}/care", json=pep, headers=ex.headers)
    assert r.status_code == 422, r.text
    assert "hiv-pep given 4 d 12 h after its 72 h window" in r.json()["detail"]
    assert h.client.get(f"/cases/{case_id}/care", headers=ex.headers).json() == []
    # an offer or a refusal is never late: recorded as before
    r = h.client.post(f"/cases/{case_id}/care", headers=ex.headers,
                      json={"care": "emergency-contraception", "status": "declined", "occurred_at": iso(clock.now())})
    assert r.status_code == 201, r.text

    why = "ongoing exposure reported; ID consultant advised PEP despite the window"
    r = h.client.post(f"/cases/{case_id}/care", json={**pep, "late_justification": why}, headers=ex.headers)
    assert r.status_code == 201, r.text
    assert r.json()["late_justification"] == why
    data = [d for d in _ledger_data(h, "exam:care:recorded", case_id=case_id) if d["care"] == "hiv-pep"]
    assert [d["late_by_seconds"] for d in data] == [(4 * 24 + 12) * 3600]
    assert is_commitment(data[0]["late_justification"]) and why not in json.dumps(data)
    assert [c["late_justification"] for c in h.client.get(f"/cases/{case_id}/care", headers=ex.headers).json()
            if c["care"] == "hiv-pep"] == [why]
    clocks = _clocks(h, case_id, ex)
    assert clocks["hiv-pep"]["status"] == "late"
    assert clocks["hiv-pep"]["detail"] == "given 4 d 12 h after its 72 h window"
    assert clocks["emergency-contraception"]["status"] == "met"


def test_in_window_care_and_samples_stay_met_and_late_clocks_raise_no_closing_alert(harness, clock):
    from core.actors import system_actor
    from policies.deadlines import scan_deadlines

    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, assault_at=iso(clock.now() - timedelta(hours=20)),
                    consents=("medical-care", "forensic-exam", "evidence-toxicology"))
    r = h.client.post(f"/cases/{case_id}/care", headers=ex.headers,
                      json={"care": "hiv-pep", "status": "given", "occurred_at": iso(clock.now())})
    assert r.status_code == 201 and r.json()["late_justification"] is None
    r = h.client.post(f"/cases/{case_id}/items", headers=ex.headers,
                      json={"kind": "toxicology-blood", "description": "blood sample"})
    assert r.status_code == 201, r.text
    clocks = _clocks(h, case_id, ex)
    assert clocks["hiv-pep"]["status"] == "met" and clocks["toxicology-blood"]["status"] == "met"

    # a blood sample recorded at 30 h (late, justified) on another case: its clock raises no "closes in" alert
    late_case = _case(h, ex, assault_at=iso(clock.now() - timedelta(hours=30)),
                      consents=("forensic-exam", "evidence-toxicology"))
    r = h.client.post(f"/cases/{late_case}/items", headers=ex.headers,
                      json={"kind": "toxicology-blood", "description": "blood", "late_justification": "came at 29 h"})
    assert r.status_code == 201, r.text
    with Session(h.engine) as s:
        raised = [(a.case_id, str(a.clock)) for a in scan_deadlines(s, actor=system_actor("deadline-watch"))]
        s.commit()
    assert (late_case, "toxicology-blood") not in raised
    assert _clocks(h, late_case, ex)["toxicology-blood"]["detail"] == "collected 6 h after its 24 h window"


def test_migration_0007_keeps_care_records_append_only(harness, clock):
    """The new column is added in place: care_record's append-only triggers (0002) still refuse an UPDATE."""
    import sqlalchemy as sa

    h, ex = harness, harness.user("examiner")
    case_id = _case(h, ex, assault_at=iso(clock.now() - timedelta(days=5)), consents=("medical-care",))
    r = h.client.post(f"/cases/{case_id}/care", headers=ex.headers, json={
        "care": "hiv-pep", "status": "given", "occurred_at": iso(clock.now()), "late_justification": "first visit"})
    assert r.status_code == 201, r.text
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), h.engine.begin() as conn:
        conn.execute(sa.text("UPDATE care_record SET late_justification = 'rewritten'"))
    assert h.client.get(f"/cases/{case_id}/care", headers=ex.headers).json()[0]["late_justification"] == "first visit"
