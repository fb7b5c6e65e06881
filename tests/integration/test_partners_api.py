"""Issue #13 (police and lab side): usernames for receivers, the receiver's inbox, lab receipt, bad input
refused without a ledger change, released digital evidence downloaded by the officer while consented, and the
liaison's assignment waking the pathway. Both databases; real SeaweedFS for files."""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.ledger import LedgerEntry
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-partners-{secrets.token_hex(5)}")
    yield h
    h.close()


def _consent(c, headers, case_id, *scopes, decision="granted"):
    for scope in scopes:
        body = {"scope": scope, "decision": decision, "method": "written", "form_ref": f"F-{scope}"}
        r = c.post(f"/cases/{case_id}/consents", headers=headers, json=body)
        assert r.status_code == 201, r.text


def _ledger_size(h) -> int:
    with Session(h.engine) as s:
        return s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


def _case(h, examiner, *scopes):
    c = h.client
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    _consent(c, examiner.headers, case_id, "forensic-exam", "evidence-swabs", *scopes)
    return case_id


def _item(h, examiner, case_id, kind="kit", data: bytes | None = None) -> str:
    c = h.client
    r = c.post(f"/cases/{case_id}/items", json={"kind": kind, "description": f"test {kind}"},
               headers=examiner.headers)
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    if data is not None:
        r = c.put(f"/items/{item_id}/file", headers=examiner.headers, content=data)
        assert r.status_code == 201, r.text
    return item_id


def test_usernames_name_receivers_and_the_inbox_lists_my_open_offers(harness):
    """`to_user` takes a username; the officer's inbox shows the offer (ids, kind, purpose, who, seal) and
    nothing about the survivor; another officer's inbox is empty; accepted offers leave the inbox."""
    h, c = harness, harness.client
    examiner = h.user("examiner")
    officer, other = h.user("law_enforcement"), h.user("law_enforcement")
    case_id = _case(h, examiner, "release-to-law-enforcement")
    item_id = _item(h, examiner, case_id)
    assert c.post(f"/items/{item_id}/seal", json={"seal_number": "S-13"}, headers=examiner.headers).status_code == 200
    r = c.post(f"/items/{item_id}/release", headers=examiner.headers,
               json={"to_user": officer.user.username, "reason": "report", "condition": "sealed"})
    assert r.status_code == 201, r.text
    assert r.json()["to_user"] == officer.id  # resolved to the id on the server
    [offer] = c.get("/inbox", headers=officer.headers).json()
    assert offer["transfer_id"] == r.json()["id"] and offer["item_id"] == item_id and offer["case_id"] == case_id
    assert offer["item_kind"] == "kit" and offer["purpose"] == "release" and offer["seal_number"] == "S-13"
    assert offer["from_username"] == examiner.user.username and "description" not in offer
    assert c.get("/inbox", headers=other.headers).json() == []
    assert c.get("/inbox", headers=h.user("advocate").headers).status_code == 403
    r = c.post(f"/transfers/{offer['transfer_id']}/accept", json={"condition": "sealed"}, headers=officer.headers)
    assert r.status_code == 200, r.text
    assert c.get("/inbox", headers=officer.headers).json() == []


def test_unknown_username_is_a_422_naming_it_and_nothing_is_recorded(harness):
    h, c = harness, harness.client
    examiner, coordinator = h.user("examiner"), h.user("coordinator")
    case_id = _case(h, examiner, "release-to-law-enforcement", "lab-testing")
    item_id = _item(h, examiner, case_id)
    before = _ledger_size(h)
    for path in (f"/items/{item_id}/release", f"/items/{item_id}/lab-submission", f"/items/{item_id}/transfers"):
        r = c.post(path, headers=examiner.headers,
                   json={"to_user": "no-such-person", "reason": "report", "condition": "sealed"})
        assert r.status_code == 422 and "no-such-person" in r.json()["detail"], r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = c.post(f"/cases/{case_id}/assignments", json={"user_id": "no-such-person"}, headers=coordinator.headers)
    assert r.status_code == 422 and "no-such-person" in r.json()["detail"]
    assert _ledger_size(h) == before
    # A username assigns too.
    officer = h.user("law_enforcement")
    r = c.post(f"/cases/{case_id}/assignments", json={"user_id": officer.user.username}, headers=coordinator.headers)
    assert r.status_code == 201 and r.json()["user_id"] == officer.id


def test_lab_receipt_result_and_return_and_their_refusals(harness):
    """Lab submission by username, receipt only of a lab submission addressed to you, the result as a reference
    code, return to the centre; a receipt of a non-lab transfer, someone else's offer and a result for an item
    not at the lab are refused without any custody change."""
    h, c = harness, harness.client
    examiner, lab, lab2 = h.user("examiner"), h.user("lab"), h.user("lab")
    officer = h.user("law_enforcement")
    case_id = _case(h, examiner, "release-to-law-enforcement", "lab-testing")
    item_id = _item(h, examiner, case_id)
    other_id = _item(h, examiner, case_id)

    before = _ledger_size(h)
    r = c.post(f"/items/{other_id}/analysis", json={"report_ref": "LAB-1"}, headers=lab.headers)
    assert r.status_code == 403 and "custodian" in r.json()["detail"], r.text  # never submitted: not at the lab
    assert [e["kind"] for e in c.get(f"/items/{other_id}/custody", headers=examiner.headers).json()] == ["collected"]
    stored_id = _item(h, examiner, case_id)  # in the lab staff's hands by a plain custody transfer, not submitted
    t = c.post(f"/items/{stored_id}/transfers", headers=examiner.headers,
               json={"to_user": lab.user.username, "reason": "to the store", "condition": "sealed"}).json()
    assert c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=lab.headers).status_code == 200
    r = c.post(f"/items/{stored_id}/analysis", json={"report_ref": "LAB-1"}, headers=lab.headers)
    assert r.status_code == 409 and "not submitted to a lab" in r.json()["detail"], r.text
    assert "analysed" not in [e["kind"] for e in c.get(f"/items/{stored_id}/custody", headers=lab.headers).json()]
    rel = c.post(f"/items/{other_id}/release", headers=examiner.headers,
                 json={"to_user": officer.user.username, "reason": "report", "condition": "sealed"}).json()
    before = _ledger_size(h)
    r = c.post(f"/transfers/{rel['id']}/accept", json={"condition": "sealed", "expect_purpose": "lab"},
               headers=officer.headers)
    assert r.status_code == 422 and "not a lab" in r.json()["detail"], r.text
    assert _ledger_size(h) == before
    assert c.get(f"/items/{other_id}", headers=examiner.headers).json()["custodian"] == examiner.id

    sub = c.post(f"/items/{item_id}/lab-submission", headers=examiner.headers,
                 json={"to_user": lab.user.username, "reason": "testing", "condition": "sealed"})
    assert sub.status_code == 201, sub.text
    r = c.post(f"/transfers/{sub.json()['id']}/accept", json={"condition": "sealed", "expect_purpose": "lab"},
               headers=lab2.headers)
    assert r.status_code == 403  # someone else's offer (a refused attempt, recorded as such)
    assert c.get(f"/items/{item_id}", headers=examiner.headers).json()["custodian"] == examiner.id
    r = c.post(f"/transfers/{sub.json()['id']}/accept", json={"condition": "sealed", "expect_purpose": "lab"},
               headers=lab.headers)
    assert r.status_code == 200 and r.json()["item"]["status"] == "at-lab", r.text
    r = c.post(f"/items/{item_id}/analysis", json={"report_ref": "LAB-2026-7"}, headers=lab.headers)
    assert r.status_code == 200, r.text
    ret = c.post(f"/items/{item_id}/transfers", headers=lab.headers,
                 json={"to_user": examiner.user.username, "reason": "returned", "condition": "sealed",
                       "purpose": "return"})
    assert ret.status_code == 201, ret.text
    r = c.post(f"/transfers/{ret.json()['id']}/accept", json={"condition": "sealed"}, headers=examiner.headers)
    assert r.status_code == 200 and r.json()["item"]["custodian"] == examiner.id, r.text
    kinds = [e["kind"] for e in c.get(f"/items/{item_id}/custody", headers=examiner.headers).json()]
    assert "analysed" in kinds and kinds[-1] == "returned"


def _release_to(h, examiner, officer, item_id):
    c = h.client
    r = c.post(f"/items/{item_id}/release", headers=examiner.headers,
               json={"to_user": officer.user.username, "reason": "report", "condition": "as recorded"})
    assert r.status_code == 201, r.text
    r = c.post(f"/transfers/{r.json()['id']}/accept", json={"condition": "as recorded"}, headers=officer.headers)
    assert r.status_code == 200, r.text


def _refused(h, officer, item_id) -> list[dict]:
    auditor = h.user("auditor")
    rows = h.client.get("/audit/access-log", params={"outcome": "refused", "object_id": item_id},
                        headers=auditor.headers).json()
    return [r for r in rows if r["user_id"] == officer.id]


def test_released_photograph_downloads_while_consented_then_refused_after_withdrawal(harness):
    h, c = harness, harness.client
    examiner, officer = h.user("examiner"), h.user("law_enforcement")
    case_id = _case(h, examiner, "release-to-law-enforcement", "photography-record")
    data = os.urandom(70_000)
    photo = _item(h, examiner, case_id, "photograph", data)
    kept = _item(h, examiner, case_id, "photograph", b"not released")
    _release_to(h, examiner, officer, photo)
    r = c.get(f"/items/{photo}/file", headers=officer.headers)
    assert r.status_code == 200 and r.content == data, r.text
    assert r.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    auditor = h.user("auditor")
    reads = c.get("/audit/access-log", params={"object_id": photo}, headers=auditor.headers).json()
    assert any(row["user_id"] == officer.id and "file" in row["resource"] for row in reads), reads

    r = c.get(f"/items/{kept}/file", headers=officer.headers)  # never released to this officer
    assert r.status_code == 404 and "no evidence item" in r.json()["detail"]  # hidden: answered as missing
    assert _refused(h, officer, kept)

    _consent(c, examiner.headers, case_id, "photography-record", decision="withdrawn")
    r = c.get(f"/items/{photo}/file", headers=officer.headers)
    assert r.status_code == 403 and "withdrawn" in r.json()["detail"], r.text
    assert _refused(h, officer, photo)


def test_released_document_needs_only_the_release_consent_and_stops_when_it_is_withdrawn(harness):
    h, c = harness, harness.client
    examiner, officer = h.user("examiner"), h.user("law_enforcement")
    case_id = _case(h, examiner, "release-to-law-enforcement")  # no photography consent at all
    doc = _item(h, examiner, case_id, "document", b"%PDF-1.7 statement form")
    _release_to(h, examiner, officer, doc)
    r = c.get(f"/items/{doc}/file", headers=officer.headers)
    assert r.status_code == 200 and r.content == b"%PDF-1.7 statement form"
    assert c.get(f"/items/{doc}/file", headers=h.user("law_enforcement").headers).status_code == 404
    # Returned to the centre: the release has ended, and so has access to the file.
    back = c.post(f"/items/{doc}/transfers", headers=officer.headers, json={
        "to_user": examiner.id, "reason": "case closed", "condition": "intact", "purpose": "return"})
    assert back.status_code == 201, back.text
    assert c.post(f"/transfers/{back.json()['id']}/accept", json={"condition": "intact"},
                  headers=examiner.headers).status_code == 200
    r = c.get(f"/items/{doc}/file", headers=officer.headers)
    assert r.status_code == 403 and "returned" in r.json()["detail"], r.text
    _release_to(h, examiner, officer, doc)  # released again: access again
    assert c.get(f"/items/{doc}/file", headers=officer.headers).status_code == 200
    _consent(c, examiner.headers, case_id, "release-to-law-enforcement", decision="withdrawn")
    r = c.get(f"/items/{doc}/file", headers=officer.headers)
    assert r.status_code == 403 and "consent" in r.json()["type"], r.text
    assert _refused(h, officer, doc)


def test_assigning_the_liaison_wakes_the_pathway_which_then_offers_to_them(session, db_url, clock, tmp_path,
                                                                          monkeypatch):
    """The outbox row is written with the assignment (law enforcement only), and the next pass offers."""
    from core import outbox
    from core.settings import reset_settings
    from evidence.custody import Transfer
    from flows.pathway import CP_RECIPIENT, PassResult, _release_items
    from policies.authz import assign
    from tests.evidence_support import EXAMINER, LAB, OFFICER, new_case, new_item

    monkeypatch.setenv("COC_DATABASE_URL", db_url)
    monkeypatch.setenv("COC_DATA_DIR", str(tmp_path))
    reset_settings()

    def wakes(case_id: str) -> int:
        return len(session.execute(select(outbox.OutboxMessage).where(
            outbox.OutboxMessage.case_id == case_id, outbox.OutboxMessage.kind == "wake")).all())

    try:
        case_id = new_case(session)
        item_id = new_item(session, case_id)
        result = PassResult()
        _release_items(case_id, None, result)
        assert result.open == [CP_RECIPIENT]  # no liaison yet
        session.rollback()
        before = wakes(case_id)
        assign(session, actor=EXAMINER, case_id=case_id, user_id=LAB.id)
        assert wakes(case_id) == before  # only the liaison receives a release
        assign(session, actor=EXAMINER, case_id=case_id, user_id=OFFICER.id)
        assert wakes(case_id) == before + 1  # same transaction as the assignment
        session.commit()
        result = PassResult()
        _release_items(case_id, None, result)
        assert result.done == [f"release:{item_id}"]
        [offer] = session.execute(select(Transfer)).scalars().all()
        assert offer.to_user == OFFICER.id and offer.purpose == "release"
    finally:
        reset_settings()
