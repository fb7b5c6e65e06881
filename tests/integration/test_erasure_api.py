"""Lawful erasure end to end over the API (SQLite and PostgreSQL): two coordinators, reads answer 410 "erased",
the ledger and an exported bundle of the case still verify, and bad input is refused with nothing recorded."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import ledger
from core.crypto import CaseKey
from evidence import audit
from evidence.erasure import ErasureRequest
from evidence.files import set_legal_hold, upload_file
from evidence.items import ItemKind
from policies.access import AccessLog
from tests.api_helpers import api_harness
from tests.evidence_support import EXAMINER, new_case, new_item

CANARY = "Zelda Canarysurvivor-7Q"
CONTACT = "canary-contact@example.org"


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _counts(engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        return (ledger.count(s), s.execute(sa.select(sa.func.count()).select_from(ErasureRequest)).scalar_one(),
                s.execute(sa.select(sa.func.count()).select_from(CaseKey).where(CaseKey.erased_at.is_not(None)))
                .scalar_one())


def _case_with_personal_data(h, clock):
    c = h.client
    examiner = h.user("examiner")
    case_id = c.post("/cases", json={}, headers=examiner.headers).json()["id"]
    advocate = h.user("advocate", assign_to=case_id)
    r = c.put(f"/cases/{case_id}/identity", headers=examiner.headers,
              json={"full_name": CANARY, "contact": CONTACT})
    assert r.status_code == 204, r.text
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "forensic-exam", "decision": "granted", "method": "written", "form_ref": "F-1"})
    assert r.status_code == 201, r.text
    # Advocacy records need the survivor's written release to the advocate (it must carry an expiry date).
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-2",
                     "expires_at": (clock.now() + timedelta(days=365)).isoformat()})
    assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/exam", headers=examiner.headers,
               json={"started_at": clock.now().isoformat(), "narrative": f"history given by {CANARY}"})
    assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/advocacy", headers=advocate.headers,
               json={"kind": "safety-plan", "status": "completed", "notes": f"{CANARY} code word"})
    assert r.status_code == 201, r.text
    assert c.get(f"/cases/{case_id}/identity", headers=examiner.headers).json()["full_name"] == CANARY
    return case_id, examiner, advocate


def test_erasure_by_two_people_then_every_read_says_erased(harness, clock, caplog):
    caplog.set_level(logging.DEBUG)
    c = harness.client
    case_id, examiner, advocate = _case_with_personal_data(harness, clock)
    first, second, auditor = harness.user("coordinator"), harness.user("coordinator"), harness.user("auditor")
    bodies: list[str] = []

    def call(method, path, user, **kw):
        r = c.request(method, path, headers=user.headers, **kw)
        bodies.append(r.text)
        return r

    # One person cannot erase: approving without a proposal, or approving one's own proposal, is refused.
    before = _counts(harness.engine)
    r = call("POST", f"/cases/{case_id}/erasure/approve", first)
    assert r.status_code == 409 and "no erasure of this case is proposed" in r.json()["detail"]
    assert _counts(harness.engine) == before
    r = call("POST", f"/cases/{case_id}/erasure", first, json={"basis": "court-order", "reference": "CO-2026/114"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "proposed" and r.json()["proposed_by_username"] == first.user.username
    before = _counts(harness.engine)
    r = call("POST", f"/cases/{case_id}/erasure/approve", first)
    assert r.status_code == 403 and "different authorised person" in r.json()["detail"]
    assert _counts(harness.engine) == before
    r = call("POST", f"/cases/{case_id}/erasure", second, json={"basis": "survivor-request"})
    assert r.status_code == 409 and "already proposed" in r.json()["detail"]
    assert _counts(harness.engine) == before
    # Staff who are not coordinators may do neither.
    assert call("POST", f"/cases/{case_id}/erasure", examiner, json={"basis": "survivor-request"}).status_code == 403
    assert call("POST", f"/cases/{case_id}/erasure/approve", advocate).status_code == 403

    r = call("POST", f"/cases/{case_id}/erasure/approve", second)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["approved_by_username"] == second.user.username
    state = call("GET", f"/cases/{case_id}/erasure", first).json()
    assert state["erased"] and state["erased_at"] and [q["basis"] for q in state["requests"]] == ["court-order"]
    with Session(harness.engine) as s:
        key = s.get(CaseKey, case_id)
        assert key.wrapped is None and key.erased_at is not None

    day = clock.now().strftime("%Y-%m-%d")
    for method, path, user in (("GET", f"/cases/{case_id}/identity", examiner),
                               ("GET", f"/cases/{case_id}/exam", examiner),
                               ("GET", f"/cases/{case_id}/advocacy/safety-plans", advocate)):
        r = call(method, path, user)
        assert r.status_code == 410, (path, r.text)
        assert r.json()["title"] == "Erased" and f"erased on {day}" in r.json()["detail"]
    r = call("PUT", f"/cases/{case_id}/identity", examiner, json={"full_name": "Someone Else"})
    assert r.status_code == 410
    r = call("POST", f"/cases/{case_id}/exam", examiner, json={"started_at": clock.now().isoformat(),
                                                                 "narrative": "more"})
    assert r.status_code == 410
    # The non-sensitive advocacy list still answers (no notes were ever in it).
    assert [x["notes"] for x in call("GET", f"/cases/{case_id}/advocacy", advocate).json()] == [None]

    # Erasing an erased case: a clear 409, nothing recorded.
    before = _counts(harness.engine)
    for path, body in ((f"/cases/{case_id}/erasure", {"basis": "retention-ended"}),
                       (f"/cases/{case_id}/erasure/approve", None)):
        r = call("POST", path, second, **({"json": body} if body else {}))
        assert r.status_code == 409 and "already erased on" in r.json()["detail"]
    assert _counts(harness.engine) == before

    # The whole ledger verifies, and so does the case's exported bundle, offline.
    assert call("GET", "/audit/verify", auditor).json()["ok"]
    with Session(harness.engine) as s:
        assert ledger.verify_chain(s).ok
        kinds = [e.kind for e in s.execute(sa.select(ledger.LedgerEntry).where(ledger.LedgerEntry.case_id == case_id)
                                           .order_by(ledger.LedgerEntry.seq)).scalars()]
    # The proposal, the erasure, then only the sharing checkpoint of the advocacy list read after it.
    assert kinds[-3:] == [ledger.EventKind.CASE_ERASURE_PROPOSED, ledger.EventKind.CASE_ERASED,
                          ledger.EventKind.CHECKPOINT_ALLOWED]
    pem = call("GET", "/audit/public-key", auditor).json()["public_key_pem"].encode()
    bundle = json.loads(call("GET", "/audit/export", auditor, params={"case_id": case_id}).text)
    report = audit.verify_bundle(bundle, pem)
    assert report.ok, report.errors
    assert report.entries_checked == len(kinds)

    # The canary is nowhere: ledger bodies, access-log rows, response bodies, log records.
    with Session(harness.engine) as s:
        ledger_bytes = b"".join(bytes(e.body) for e in s.execute(sa.select(ledger.LedgerEntry)).scalars())
        access = json.dumps([r.model_dump(mode="json") for r in s.execute(sa.select(AccessLog)).scalars()])
    for needle in (CANARY, CONTACT):
        assert needle.encode() not in ledger_bytes
        assert needle not in access
        assert not [b for b in bodies if needle in b]
        assert needle not in caplog.text


def test_no_erasure_while_an_item_is_under_legal_hold(harness, clock, object_store):
    c = harness.client
    first, second = harness.user("coordinator"), harness.user("coordinator")
    with Session(harness.engine, expire_on_commit=False) as s:
        case_id = new_case(s)
        item_id = new_item(s, case_id, ItemKind.DOCUMENT)
        upload_file(s, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"scan"), max_bytes=1 << 20)
        set_legal_hold(s, object_store, actor=EXAMINER, item_id=item_id, on=True)
        s.commit()
    before = _counts(harness.engine)
    r = c.post(f"/cases/{case_id}/erasure", headers=first.headers, json={"basis": "retention-ended"})
    assert r.status_code == 409 and "legal hold" in r.json()["detail"] and item_id in r.json()["detail"]
    assert _counts(harness.engine) == before
    # A hold set after the proposal stops the approval too.
    with Session(harness.engine, expire_on_commit=False) as s:
        set_legal_hold(s, object_store, actor=EXAMINER, item_id=item_id, on=False)
        s.commit()
    assert c.post(f"/cases/{case_id}/erasure", headers=first.headers,
                  json={"basis": "retention-ended"}).status_code == 201
    with Session(harness.engine, expire_on_commit=False) as s:
        set_legal_hold(s, object_store, actor=EXAMINER, item_id=item_id, on=True)
        s.commit()
    before = _counts(harness.engine)
    r = c.post(f"/cases/{case_id}/erasure/approve", headers=second.headers)
    assert r.status_code == 409 and "legal hold" in r.json()["detail"]
    assert _counts(harness.engine) == before


def test_bad_proposals_are_422(harness):
    c, first = harness.client, harness.user("coordinator")
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={}, headers=examiner.headers).json()["id"]
    before = _counts(harness.engine)
    for body in ({"basis": "because"}, {}, {"basis": "court-order", "reference": "Jane Doe asked"},
                 {"basis": "court-order", "notes": "free text"}):
        r = c.post(f"/cases/{case_id}/erasure", headers=first.headers, json=body)
        assert r.status_code == 422, (body, r.text)
    assert _counts(harness.engine) == before
    assert c.post("/cases/C0000000000000000/erasure", headers=first.headers,
                  json={"basis": "court-order"}).status_code == 404
