"""Adversarial review of issue 14 as built: retention, notice, legal holds, two-person destruction and erasure,
attacked from outside through the API (real SeaweedFS), on SQLite and PostgreSQL.

Each test is one attack: a way to reach destruction (or the loss of a kept item) that the law forbids, by a
verb, a field or an order of events other than the one the happy path takes. It asserts the refusal and that
nothing was recorded (or that what is recorded is exactly what the law allows).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select
from sqlmodel import Session

from core import ledger
from core.clock import as_utc
from core.crypto.service import load_case_key
from core.ledger import EventKind, LedgerEntry
from evidence import audit
from evidence.destruction import DestructionProposal
from evidence.files import EvidenceFile
from tests.api_helpers import api_harness

UNREPORTED_DAYS = 7300  # us-wa / us-mi: an unreported kit is kept 20 years
DESTROY = {"reason": "retention ended", "authority_ref": "ORDER-9"}


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-atk-{secrets.token_hex(5)}")
    yield h
    h.close()


def _ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def _stored_kit(h, *, jurisdiction="us-wa", with_file=False) -> tuple[str, str, object, datetime]:
    """An unreported kit checked in at the evidence store: (case id, item id, the store's custodian, its date)."""
    c, ex, store = h.client, h.user("examiner"), h.user("lab")
    case_id = _ok(c.post("/cases", json={"reporting": "restricted", "jurisdiction": jurisdiction},
                         headers=ex.headers), 201)["id"]
    item = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=ex.headers), 201)
    if with_file:
        _ok(c.put(f"/items/{item['id']}/file", content=b"kit photo log", headers=ex.headers), 201)
    t = _ok(c.post(f"/items/{item['id']}/transfers", headers=ex.headers,
                   json={"to_user": store.id, "reason": "to store", "condition": "sealed"}), 201)
    _ok(c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=store.headers))
    _ok(c.post(f"/items/{item['id']}/check-in", json={"location": "VAULT-1"}, headers=store.headers))
    return case_id, item["id"], store, as_utc(datetime.fromisoformat(item["retention_until"]))


def _count(h, kind: str, item_id: str) -> int:
    with Session(h.engine) as s:
        return s.execute(select(func.count()).select_from(LedgerEntry)
                         .where(LedgerEntry.kind == kind, LedgerEntry.item_id == item_id)).scalar_one()


def _status(h, item_id: str) -> str:
    return _ok(h.client.get(f"/items/{item_id}", headers=h.user("auditor").headers))["status"]


def test_a_proposal_lapses_when_the_retention_date_moves_after_it(harness, clock):
    """Proposed once the date had passed; the survivor then asked for 30 days more; once those have run too, the
    OLD proposal (made for the old date) is not approved: the proposer must propose again for the new date."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord = h.user("coordinator")
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    new_until = clock.now() + timedelta(days=30)
    _ok(c.post(f"/items/{item_id}/preservation", headers=coord.headers,
               json={"until": new_until.isoformat(), "requested_by": "survivor"}))
    clock.set(new_until + timedelta(days=1))
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "propose" in r.json()["detail"] and "extended" in r.json()["detail"], r.text
    assert _status(h, item_id) == "checked-in" and _count(h, EventKind.DESTROYED, item_id) == 0
    assert _ok(c.get(f"/items/{item_id}/destruction", headers=coord.headers)) is None  # nothing awaits approval
    # a fresh proposal for the new date, then a different person's approval: destroyed
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    assert _status(h, item_id) == "destroyed"


def test_a_proposal_made_before_a_legal_hold_is_not_approved_after_the_hold_is_lifted(harness, clock):
    """A court's hold arrived after the proposal: refused while it holds (409) and, once lifted, the proposal made
    before the order does not stand: a new one is needed."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h, with_file=True)
    coord = h.user("coordinator")
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/legal-hold", json={"on": True}, headers=coord.headers))
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "legal hold" in r.json()["detail"], r.text
    _ok(c.post(f"/items/{item_id}/legal-hold", json={"on": False}, headers=coord.headers))
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "legal hold" in r.json()["detail"] and "propose" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    assert _status(h, item_id) == "destroyed"


def test_a_deactivated_proposers_proposal_cannot_be_approved(harness, clock):
    """Two AUTHORISED people: a proposal whose author has since been deactivated (or lost the role that may
    propose) is one person's decision only; an active authorised person proposes again."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord, admin = h.user("coordinator"), h.user("coordinator")
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.patch(f"/admin/users/{store.id}", json={"active": False}, headers=admin.headers))  # the clerk left
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "deactivated" in r.json()["detail"] and "propose" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0
    # a colleague takes the item over and proposes, then moves to a role that may not propose: the same
    other = h.user("lab")
    _ok(c.post(f"/items/{item_id}/check-out", json={"reason": "handover"}, headers=other.headers))
    _ok(c.post(f"/items/{item_id}/check-in", json={"location": "VAULT-1"}, headers=other.headers))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=other.headers), 201)
    _ok(c.patch(f"/admin/users/{other.id}", json={"role": "auditor"}, headers=admin.headers))
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "may no longer propose" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0
    third = h.user("lab")
    _ok(c.post(f"/items/{item_id}/check-out", json={"reason": "to destruction"}, headers=third.headers))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=third.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    assert _status(h, item_id) == "destroyed"


def test_a_notice_request_after_the_proposal_stops_the_approval(harness, clock):
    """The survivor asks for notice after the proposal (through staff): the approval waits for the notice
    period like a proposal would (the approval re-checks; nothing is destroyed)."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h, jurisdiction="us-mi")
    coord, ex = h.user("coordinator"), h.user("examiner", assign_to=case_id)
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/cases/{case_id}/notice-request", json={"kind": "phone", "value": "+1 313 555 0100"},
               headers=ex.headers), 201)
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "asked for notice" in r.json()["detail"], r.text
    _ok(c.post(f"/cases/{case_id}/notices/sent", json={"item_id": item_id}, headers=coord.headers), 201)
    clock.advance(timedelta(days=59))
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "days' notice" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0 and _status(h, item_id) == "checked-in"


def test_a_physical_kit_with_no_file_can_be_put_under_legal_hold(harness, clock):
    """A court orders a kit kept: the hold is on the ITEM, whether or not it has a file. Destruction (proposal
    and approval) and erasure of the case are refused while it holds; a file added later is held too."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord, coord2 = h.user("coordinator"), h.user("coordinator")
    r = c.post(f"/items/{item_id}/legal-hold", json={"on": True}, headers=coord.headers)
    assert r.status_code == 200, r.text
    assert _count(h, EventKind.LEGAL_HOLD_SET, item_id) == 1
    r = c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=coord.headers)
    assert r.status_code == 409 and "legal hold" in r.json()["detail"], r.text
    clock.set(until + timedelta(days=1))
    r = c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 409 and "legal hold" in r.json()["detail"], r.text
    with Session(h.engine) as s:
        assert s.execute(select(DestructionProposal)).first() is None
    # lifted: destruction by two people again
    _ok(c.post(f"/items/{item_id}/legal-hold", json={"on": False}, headers=coord.headers))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord2.headers))
    assert _status(h, item_id) == "destroyed"


def test_a_file_added_to_a_held_item_is_held_in_the_store(harness, clock):
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord, ex = h.user("coordinator"), h.user("examiner", assign_to=case_id)
    _ok(c.post(f"/items/{item_id}/legal-hold", json={"on": True}, headers=coord.headers))
    f = _ok(c.put(f"/items/{item_id}/file", content=b"late scan", headers=ex.headers), 201)
    assert f["legal_hold"] is True
    with Session(h.engine) as s:
        row = s.get(EvidenceFile, f["id"])
        key, version = row.object_key, row.version_id
    assert h.app.state.object_store.stat(key, version).legal_hold is True  # the store holds it, not only the row


def test_every_other_verb_on_a_destroyed_item_is_refused_and_nothing_recorded(harness, clock):
    """Once destroyed: no transfer, release, lab submission, check-out, scan, seal, analysis, file, extension,
    second destruction; each a 4xx, the item still destroyed and no custody entry after the destruction."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h, jurisdiction="us-wa")
    coord, ex, officer = h.user("coordinator"), h.user("examiner", assign_to=case_id), h.user("law_enforcement")
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    with Session(h.engine) as s:
        before = [e.kind for e in s.execute(select(LedgerEntry).where(LedgerEntry.item_id == item_id)
                                            .order_by(LedgerEntry.seq)).scalars()]
    offer = {"to_user": officer.id, "reason": "court", "condition": "sealed"}
    attempts = [
        c.post(f"/items/{item_id}/transfers", json=offer, headers=store.headers),
        c.post(f"/items/{item_id}/release", json=offer, headers=store.headers),
        c.post(f"/items/{item_id}/lab-submission", json={**offer, "to_user": h.user("lab").id}, headers=store.headers),
        c.post(f"/items/{item_id}/check-out", json={"reason": "x"}, headers=store.headers),
        c.post(f"/items/{item_id}/check-in", json={"location": "VAULT-2"}, headers=store.headers),
        c.post(f"/items/{item_id}/scan", json={"location": "VAULT-2"}, headers=store.headers),
        c.post(f"/items/{item_id}/seal", json={"seal_number": "S-2"}, headers=store.headers),
        c.post(f"/items/{item_id}/analysis", json={"reason": "x"}, headers=store.headers),
        c.put(f"/items/{item_id}/file", content=b"after", headers=ex.headers),
        c.post(f"/items/{item_id}/preservation", json={"until": (clock.now() + timedelta(days=9)).isoformat()},
               headers=coord.headers),
        c.post(f"/cases/{case_id}/preservation", json={"until": (clock.now() + timedelta(days=9)).isoformat()},
               headers=coord.headers),
        c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=h.user("lab").headers),
        c.post(f"/items/{item_id}/destruction/approve", headers=h.user("coordinator").headers),
    ]
    for r in attempts:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
    assert _status(h, item_id) == "destroyed"
    with Session(h.engine) as s:
        after = [e.kind for e in s.execute(select(LedgerEntry).where(LedgerEntry.item_id == item_id)
                                           .order_by(LedgerEntry.seq)).scalars()]
    assert after[:len(before)] == before
    # only the records of the refusals: refused attempts, and the checkpoint's denials of the handoffs
    assert set(after[len(before):]) <= {EventKind.ACCESS_REFUSED, EventKind.CHECKPOINT_DENIED}, after[len(before):]


def test_a_second_verifier_recomputes_the_commitments_and_after_erasure_sees_no_text(harness, clock):
    """Outside the code under test: recompute HMAC-SHA256 under HKDF(case key, "coc/commit/v1") of each text
    the export shows and compare it with the commitment IN THE SIGNED LEDGER BODY; after the erasure the export
    shows no text, the bundle still verifies offline, and the commitments in the bodies are unchanged."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord, coord2, auditor = h.user("coordinator"), h.user("coordinator"), h.user("auditor")
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json={"reason": "kept 20 years, order of J. Doe",
                                                  "authority_ref": "ORDER-77"}, headers=store.headers), 201)
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))

    def bodies() -> dict[int, dict]:
        with Session(h.engine) as s:
            return {e.seq: json.loads(bytes(e.body))["data"] for e in s.execute(
                select(LedgerEntry).where(LedgerEntry.case_id == case_id)).scalars()}

    def export() -> dict:
        r = c.get("/audit/export", headers=auditor.headers, params={"case_id": case_id})
        assert r.status_code == 200, r.text
        return json.loads(r.text)

    with Session(h.engine) as s:
        key = load_case_key(s, case_id)
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"coc/commit/v1").derive(key)
    before = bodies()
    bundle = export()
    shown = [t for t in bundle["texts"] if t["text"] is not None]
    assert any(t["text"] == "kept 20 years, order of J. Doe" for t in shown)
    for t in shown:
        mine = hmac.new(subkey, t["text"].encode(), hashlib.sha256).hexdigest()
        assert mine == t["commitment"] == before[t["seq"]][t["field"]], t
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=coord.headers), 201)
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=coord2.headers))
    after = export()
    assert "J. Doe" not in json.dumps(after)
    assert all(t["text"] in (None, "[erased]") for t in after["texts"])
    assert {s: d for s, d in bodies().items() if s in before} == before
    pem = _ok(c.get("/audit/public-key", headers=auditor.headers))["public_key_pem"].encode()
    report = audit.verify_bundle(after, pem)
    assert report.ok, report.errors
    with Session(h.engine) as s:
        assert ledger.verify_chain(s).ok


def test_an_erasure_proposed_by_a_since_deactivated_coordinator_cannot_be_approved(harness, clock):
    """Erasure is irreversible and takes two AUTHORISED people: the proposal of an account deactivated since is
    not approved (nothing erased); it is withdrawn and an active coordinator proposes again."""
    h, c = harness, harness.client
    ex = h.user("examiner")
    case_id = _ok(c.post("/cases", json={}, headers=ex.headers), 201)["id"]
    first, second, admin = h.user("coordinator"), h.user("coordinator"), h.user("coordinator")
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=first.headers), 201)
    _ok(c.patch(f"/admin/users/{first.id}", json={"active": False}, headers=admin.headers))
    r = c.post(f"/cases/{case_id}/erasure/approve", headers=second.headers)
    assert r.status_code == 409 and "deactivated" in r.json()["detail"] and "withdraw" in r.json()["detail"], r.text
    assert _ok(c.get(f"/cases/{case_id}/erasure", headers=second.headers))["erased"] is False
    _ok(c.post(f"/cases/{case_id}/erasure/withdraw", headers=second.headers))
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=second.headers), 201)
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=admin.headers))
    assert _ok(c.get(f"/cases/{case_id}/erasure", headers=admin.headers))["erased"] is True


def _sock_puppet(h, creator, role: str) -> dict[str, str]:
    """The creator makes a local account whose password they choose, and logs in as it: one person, two accounts."""
    password = secrets.token_urlsafe(16)
    user = _ok(h.client.post("/admin/users", headers=creator.headers,
                             json={"username": f"puppet-{secrets.token_hex(4)}", "role": role, "password": password}),
               201)
    token = _ok(h.client.post("/auth/token", data={"username": user["username"], "password": password}))
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_one_coordinator_cannot_destroy_with_a_lab_account_they_created(harness, clock):
    """A coordinator (user admin + destruction approver) creates a lab account with a password of their own
    choosing, proposes with it and approves with their own: one person, two accounts. The approval is refused
    (the approver knows the proposer's password); a person who did not create that account may approve."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord, other = h.user("coordinator"), h.user("coordinator")
    puppet = _sock_puppet(h, coord, "lab")
    _ok(c.post(f"/items/{item_id}/check-out", json={"reason": "to destruction"}, headers=puppet))
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=puppet), 201)
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 403 and "created" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0 and _status(h, item_id) == "held"
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=other.headers))
    assert _status(h, item_id) == "destroyed"


def test_one_coordinator_cannot_erase_a_case_with_a_coordinator_account_they_created(harness, clock):
    """The same with erasure (irreversible), both ways: proposed by the puppet and approved by its creator, or
    proposed by the creator and approved by the puppet."""
    h, c = harness, harness.client
    ex = h.user("examiner")
    case_id = _ok(c.post("/cases", json={}, headers=ex.headers), 201)["id"]
    coord, other = h.user("coordinator"), h.user("coordinator")
    puppet = _sock_puppet(h, coord, "coordinator")
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=puppet), 201)
    r = c.post(f"/cases/{case_id}/erasure/approve", headers=coord.headers)
    assert r.status_code == 403 and "created" in r.json()["detail"], r.text
    _ok(c.post(f"/cases/{case_id}/erasure/withdraw", headers=coord.headers))
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=coord.headers), 201)
    r = c.post(f"/cases/{case_id}/erasure/approve", headers=puppet)
    assert r.status_code == 403 and "created" in r.json()["detail"], r.text
    assert _ok(c.get(f"/cases/{case_id}/erasure", headers=other.headers))["erased"] is False
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=other.headers))
    assert _ok(c.get(f"/cases/{case_id}/erasure", headers=other.headers))["erased"] is True


def test_a_proposal_lapses_when_the_item_left_for_an_investigation_after_it(harness, clock):
    """Proposed; then released to law enforcement (an investigation) and returned: the proposal made before the
    investigation is not approved; the proposer decides again."""
    h, c = harness, harness.client
    ex, officer, coord = h.user("examiner"), h.user("law_enforcement"), h.user("coordinator")
    case_id = _ok(c.post("/cases", json={"reporting": "unrestricted"}, headers=ex.headers), 201)["id"]
    for scope in ("forensic-exam", "evidence-swabs", "release-to-law-enforcement"):
        _ok(c.post(f"/cases/{case_id}/consents", headers=ex.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1"}), 201)
    item = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=ex.headers), 201)
    item_id, until = item["id"], as_utc(datetime.fromisoformat(item["retention_until"]))
    store = h.user("lab")
    t = _ok(c.post(f"/items/{item_id}/transfers", headers=ex.headers,
                   json={"to_user": store.id, "reason": "to store", "condition": "sealed"}), 201)
    _ok(c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=store.headers))
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)  # the custodian proposes

    def hand(path: str, giver, taker, **extra) -> None:
        t = _ok(c.post(path, headers=giver.headers,
                       json={"to_user": taker.id, "reason": "r", "condition": "sealed", **extra}), 201)
        _ok(c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=taker.headers))

    hand(f"/items/{item_id}/transfers", store, ex)
    hand(f"/items/{item_id}/release", ex, officer)  # a cold case reopened
    hand(f"/items/{item_id}/transfers", officer, ex, purpose="return")
    hand(f"/items/{item_id}/transfers", ex, store)
    r = c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 409 and "law enforcement" in r.json()["detail"] and "propose" in r.json()["detail"], r.text
    assert _count(h, EventKind.DESTROYED, item_id) == 0


def test_the_holders_own_password_makes_a_created_account_a_person_of_its_own(harness, clock):
    """POST /auth/password: until the holder of a created account chooses their own password the creator may not
    approve its proposals; after, they may. The wrong current password is refused; the old password no longer
    signs in, the new one does; the ledger records the change and no password material."""
    h, c = harness, harness.client
    case_id, item_id, store, until = _stored_kit(h)
    coord = h.user("coordinator")
    first = secrets.token_urlsafe(16)
    made = _ok(c.post("/admin/users", headers=coord.headers,
                      json={"username": f"lab-{secrets.token_hex(4)}", "role": "lab", "password": first}), 201)
    holder = {"Authorization": "Bearer " + _ok(c.post("/auth/token", data={"username": made["username"],
                                                                            "password": first}))["access_token"]}
    _ok(c.post(f"/items/{item_id}/check-out", json={"reason": "to destruction"}, headers=holder))
    clock.set(until + timedelta(days=1))
    _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=holder), 201)
    assert c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers).status_code == 403

    own = secrets.token_urlsafe(16)
    r = c.post("/auth/password", json={"current_password": "wrong-" + first, "new_password": own}, headers=holder)
    assert r.status_code == 403 and "current password" in r.json()["detail"], r.text
    r = c.post("/auth/password", json={"current_password": first, "new_password": "short"}, headers=holder)
    assert r.status_code == 422, r.text
    r = c.post("/auth/password", json={"current_password": first, "new_password": own}, headers=holder)
    assert r.status_code == 204, r.text
    assert c.post("/auth/token", data={"username": made["username"], "password": first}).status_code == 401
    _ok(c.post("/auth/token", data={"username": made["username"], "password": own}))
    with Session(h.engine) as s:
        bodies = [bytes(e.body) for e in s.execute(select(LedgerEntry).where(
            LedgerEntry.kind == EventKind.USER_CHANGED)).scalars()]
    assert any(b'"password-changed"' in b and made["id"].encode() in b for b in bodies)
    assert not any(own.encode() in b or first.encode() in b or b"argon2" in b for b in bodies)

    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    assert _status(h, item_id) == "destroyed"
