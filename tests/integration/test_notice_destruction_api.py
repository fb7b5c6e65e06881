"""Notice before destruction and two-person destruction, through the API on SQLite and PostgreSQL.

The life of an unreported kit whose survivor asked for notice (18 U.S.C. 3772), in Washington and Michigan:
the notice comes due exactly `notice_days` before the kit's destruction date; destruction is refused before the
retention date, before the notice period has run, by one person and by the same person twice; two different
people destroy it. The survivor's contact never reaches the ledger, a log record or an error body.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from core.clock import as_utc
from core.ledger import LedgerEntry
from evidence.destruction import DestructionProposal
from evidence.items import EvidenceItem
from policies.notice import NoticeDelivery, NoticeRequest
from tests.api_helpers import api_harness

CANARY = "canary.survivor-7f3a@example.org"
NOTICE_DAYS = 60  # both packs: 18 U.S.C. 3772 / Michigan


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _kit(h, examiner, jurisdiction: str, consents=()) -> tuple[str, dict]:
    case_id = h.client.post("/cases", json={"reporting": "restricted", "jurisdiction": jurisdiction},
                            headers=examiner.headers).json()["id"]
    for scope in consents:
        r = h.client.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                          json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    r = h.client.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=examiner.headers)
    assert r.status_code == 201, r.text
    return case_id, r.json()


def _store(h, examiner, item_id):
    """The evidence store takes the kit and checks it in."""
    store = h.user("lab")
    t = h.client.post(f"/items/{item_id}/transfers", headers=examiner.headers,
                      json={"to_user": store.id, "reason": "to store", "condition": "sealed"}).json()
    assert h.client.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"},
                         headers=store.headers).status_code == 200
    r = h.client.post(f"/items/{item_id}/check-in", json={"location": "VAULT-1"}, headers=store.headers)
    assert r.status_code == 200, r.text
    return store


def _kinds(h, item_id=None, case_id=None) -> list[str]:
    with Session(h.engine) as s:
        q = select(LedgerEntry.kind).order_by(LedgerEntry.seq)
        if item_id:
            q = q.where(LedgerEntry.item_id == item_id)
        if case_id:
            q = q.where(LedgerEntry.case_id == case_id)
        return list(s.execute(q).scalars())


def _no_canary(h, caplog, bodies):
    with Session(h.engine) as s:
        for e in s.execute(select(LedgerEntry)).scalars():
            assert CANARY.encode() not in bytes(e.body)
        for row in s.execute(select(NoticeRequest)).scalars():
            assert CANARY.encode() not in bytes(row.contact_enc or b"")  # stored only as ciphertext
    for record in caplog.records:
        assert CANARY not in record.getMessage() and CANARY not in str(record.args)
    for body in bodies:
        assert CANARY not in body


DESTROY = {"reason": "retention ended", "authority_ref": "ORDER-7"}


@pytest.mark.parametrize("jurisdiction", ["us-wa", "us-mi"])
def test_the_life_of_an_unreported_kit_with_a_notice_request(harness, clock, caplog, jurisdiction):
    caplog.set_level(logging.DEBUG)
    h = harness
    ex, coord = h.user("examiner"), h.user("coordinator")
    case_id, item = _kit(h, ex, jurisdiction)
    item_id, until = item["id"], as_utc(datetime.fromisoformat(item["retention_until"]))
    store = _store(h, ex, item_id)
    store2 = h.user("lab")
    bodies = []

    r = h.client.post(f"/cases/{case_id}/notice-request", json={"kind": "email", "value": CANARY}, headers=ex.headers)
    assert r.status_code == 201, r.text
    bodies.append(r.text)
    assert r.json()["channel_kind"] == "email" and "value" not in r.json()
    with Session(h.engine) as s:
        [req] = s.execute(select(LedgerEntry).where(LedgerEntry.kind == "notice:request:recorded")).scalars()
        assert json.loads(bytes(req.body))["data"] == {"channel_kind": "email", "source": "staff"}

    due_at = until - timedelta(days=NOTICE_DAYS)
    clock.set(due_at - timedelta(seconds=1))
    assert h.client.get("/notices/due", headers=coord.headers).json() == []
    [task] = h.client.get(f"/cases/{case_id}/notices", headers=coord.headers).json()
    assert task["state"] == "upcoming"
    clock.advance(timedelta(seconds=1))  # exactly notice_days before the destruction date
    [task] = h.client.get("/notices/due", headers=coord.headers).json()
    assert task["item_id"] == item_id and task["state"] == "due" and task["notice_days"] == NOTICE_DAYS
    assert as_utc(datetime.fromisoformat(task["due_at"])) == due_at

    # destruction before the retention date: refused, nothing recorded
    r = h.client.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 409 and "kept until" in r.json()["detail"], r.text
    bodies.append(r.text)

    # a failed delivery is recorded with its closed reason; the notice stays due
    r = h.client.post(f"/cases/{case_id}/notices/failed", json={"reason": "bounced"}, headers=coord.headers)
    assert r.status_code == 201 and r.json()[0]["outcome"] == "failed" and r.json()[0]["reason"] == "bounced"
    bodies.append(r.text)
    assert h.client.post(f"/cases/{case_id}/notices/failed", json={"reason": "moved away"},
                         headers=coord.headers).status_code == 422
    [task] = h.client.get("/notices/due", headers=coord.headers).json()
    assert task["last_failure"] == "bounced"

    # the staff member who sends it reads the contact (access-logged), then records it sent 5 days late
    assert h.client.get(f"/cases/{case_id}/notice-contact", headers=coord.headers).json()["value"] == CANARY
    clock.advance(timedelta(days=5))
    r = h.client.post(f"/cases/{case_id}/notices/sent", json={}, headers=coord.headers)
    assert r.status_code == 201, r.text
    [sent] = r.json()
    bodies.append(r.text)
    assert (sent["outcome"], sent["channel_kind"], sent["recorded_by"]) == ("sent", "email", coord.id)
    assert h.client.get("/notices/due", headers=coord.headers).json() == []

    # at the retention date the notice has run 55 days only: refused, naming the date it may go
    clock.advance(until - clock.now() + timedelta(seconds=1))
    r = h.client.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 409 and "days' notice" in r.json()["detail"], r.text
    bodies.append(r.text)
    clock.advance(timedelta(days=5))

    # one person alone cannot destroy: the proposal leaves the item held; the same person cannot approve
    r = h.client.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 201 and r.json()["status"] == "awaiting-approval", r.text
    assert h.client.get(f"/items/{item_id}", headers=ex.headers).json()["status"] == "checked-in"
    assert h.client.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store2.headers).status_code == 409
    r = h.client.post(f"/items/{item_id}/destruction/approve", headers=store.headers)
    assert r.status_code == 403 and "different" in r.json()["detail"], r.text
    assert h.client.post(f"/items/{item_id}/destruction/approve", headers=ex.headers).status_code == 403  # no role
    before = _kinds(h, item_id=item_id)
    assert before.count("custody:item:destroyed") == 0 and before.count("custody:destruction:proposed") == 1

    # a second, different authorised person approves: destroyed, both named on the ledger
    r = h.client.post(f"/items/{item_id}/destruction/approve", headers=coord.headers)
    assert r.status_code == 200, r.text
    assert h.client.get(f"/items/{item_id}", headers=ex.headers).json()["status"] == "destroyed"
    with Session(h.engine) as s:
        [entry] = s.execute(select(LedgerEntry).where(LedgerEntry.kind == "custody:item:destroyed")).scalars()
        data = json.loads(bytes(entry.body))["data"]
    assert data["proposed_by"] == store.id and data["approved_by"] == coord.id
    # an already destroyed item: refused both ways
    assert h.client.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store2.headers).status_code == 409
    assert h.client.post(f"/items/{item_id}/destruction/approve", headers=store2.headers).status_code == 409
    assert _kinds(h, item_id=item_id).count("custody:item:destroyed") == 1
    _no_canary(h, caplog, bodies)


def test_destruction_without_a_sent_notice_and_under_legal_hold_is_refused(harness, clock):
    h = harness
    ex, coord = h.user("examiner"), h.user("coordinator")
    case_id, item = _kit(h, ex, "us-wa")
    store = _store(h, ex, item["id"])
    assert h.client.post(f"/cases/{case_id}/notice-request", json={"kind": "phone", "value": "+1 206 555 0100"},
                         headers=ex.headers).status_code == 201
    clock.advance(timedelta(days=7301))
    r = h.client.post(f"/items/{item['id']}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 409 and "asked for notice" in r.json()["detail"], r.text
    with Session(h.engine) as s:
        assert s.execute(select(DestructionProposal)).first() is None
    # the survivor later chooses no contact: the notice no longer holds the destruction back
    assert h.client.post(f"/cases/{case_id}/notice-request", json={"no_contact": True},
                         headers=ex.headers).status_code == 201
    assert h.client.get("/notices/due", headers=coord.headers).json() == []
    assert h.client.post(f"/items/{item['id']}/destroy", json=DESTROY, headers=store.headers).status_code == 201


def test_an_extension_reschedules_the_notice_and_an_old_notice_no_longer_counts(harness, clock):
    h = harness
    ex, coord = h.user("examiner"), h.user("coordinator")
    case_id, item = _kit(h, ex, "us-mi")
    store = _store(h, ex, item["id"])
    h.client.post(f"/cases/{case_id}/notice-request", json={"kind": "postal", "value": "1 Main St"},
                  headers=ex.headers)
    clock.advance(timedelta(days=7300 - 59))
    assert len(h.client.get("/notices/due", headers=coord.headers).json()) == 1
    assert h.client.post(f"/cases/{case_id}/notices/sent", json={}, headers=coord.headers).status_code == 201
    # preservation extended by a year (the retention helper's service moves retention_until the same way)
    with Session(h.engine) as s:
        row = s.get(EvidenceItem, item["id"])
        s.execute(update(EvidenceItem).where(EvidenceItem.id == item["id"])
                  .values(retention_until=as_utc(row.retention_until) + timedelta(days=365)))
        s.commit()
    [task] = h.client.get(f"/cases/{case_id}/notices", headers=coord.headers).json()
    assert task["state"] == "upcoming"  # the notice announced the old date: a new one comes due later
    clock.advance(timedelta(days=365))
    [task] = h.client.get("/notices/due", headers=coord.headers).json()
    assert task["state"] == "due"
    clock.advance(timedelta(days=61))
    r = h.client.post(f"/items/{item['id']}/destroy", json=DESTROY, headers=store.headers)
    assert r.status_code == 409 and "asked for notice" in r.json()["detail"]


def test_the_survivor_asks_for_notice_through_the_status_lookup(harness, clock, caplog):
    caplog.set_level(logging.DEBUG)
    h = harness
    ex, coord = h.user("examiner"), h.user("coordinator")
    case_id, item = _kit(h, ex, "us-wa", consents=("status-lookup",))
    card = h.client.post(f"/items/{item['id']}/status-lookup", headers=ex.headers).json()
    before = _kinds(h, case_id=case_id)
    bad = h.client.post("/status/requests", json={"code": card["code"], "password": "wrong", "kind": "email",
                                                  "value": CANARY})
    assert bad.status_code == 401 and _kinds(h, case_id=case_id) == before
    junk = h.client.post("/status/requests", json={**card, "kind": "email", "value": "not an address " + CANARY})
    assert junk.status_code == 422 and _kinds(h, case_id=case_id) == before
    r = h.client.post("/status/requests", json={**card, "kind": "email", "value": CANARY})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"channel_kind", "recorded_at"} and case_id not in r.text
    assert _kinds(h, case_id=case_id) == [*before, "notice:request:recorded"]
    contact = h.client.get(f"/cases/{case_id}/notice-contact", headers=coord.headers).json()
    assert contact == {"case_id": case_id, "channel_kind": "email", "value": CANARY}
    with Session(h.engine) as s:
        [row] = s.execute(select(NoticeRequest)).scalars()
        assert row.source == "survivor-lookup" and row.made_by == "system:status-lookup"
        assert s.execute(select(NoticeDelivery)).first() is None
    _no_canary(h, caplog, [bad.text, junk.text, r.text])
