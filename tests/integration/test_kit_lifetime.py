"""The whole life of an unreported kit whose survivor asked for notice (issue #14 "Done when"), through the API
where a person acts, on SQLite and PostgreSQL, against the real SeaweedFS, with the injectable clock; in
Washington and in Michigan (both: 20 years for an unreported kit, 60 days' notice).

Collected with a scanned file → notice request → the notice date (due exactly 60 days before destruction, in
GET /notices/due and in the coordinator's GET /tasks) → the survivor asks for a year more (staff record it on her
behalf: requested_by=survivor; the status lookup has no extension path) → the notice is rescheduled and the file's
Object Lock extended (read back from the store) → the new notice date → notice sent → destruction refused to one
person and to the same person twice, done by two → the file stays while its lock holds, the sweep deletes it
after and records what it deleted → the case erased by two coordinators → the ledger and the case's exported
bundle verify.

The lock: the pack's real 20 years and 60 days are kept, and the CLOCK is placed 20 years before a destruction
date FIRST_LOCK (seconds) after real time, so the file's real Object Lock (which the store enforces on ITS clock,
and which it refuses to set in its past) ends within the test. The survivor's extension is therefore seconds
long (EXTENSION): long enough to reschedule the notice and to extend the lock, which the sweep first meets still
held; once real time passes it, the sweep deletes the file.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.clock import ManualClock, SystemClock, as_utc, set_clock
from core.errors import NotFound
from core.ledger import EventKind, LedgerEntry
from evidence import audit
from evidence.files import EvidenceFile, FileStatus
from tests.api_helpers import api_harness
from tests.e2e.pathway_stack import wait_for

NOTICE_DAYS = 60
UNREPORTED_DAYS = 7300  # both packs: 18 U.S.C. 3772's 20 years
FIRST_LOCK = timedelta(seconds=10)  # real time from the test's start to the kit's first destruction date
EXTENSION = timedelta(seconds=8)  # what the survivor asks for (seconds: the store's lock runs on real time)
CONTACT = "lifetime-canary@example.org"
DESTROY = {"reason": "retention ended", "authority_ref": "ORDER-14"}


@pytest.fixture
def clock():
    """The injectable clock, started a day before the moment the test body places it at (`_place`)."""
    c = ManualClock(SystemClock().now() - timedelta(days=UNREPORTED_DAYS + 1))
    previous = set_clock(c)
    yield c
    set_clock(previous)


def _place(clock: ManualClock) -> None:
    """20 years (the pack's period) before a destruction date FIRST_LOCK of real time from now (set here, in the
    test body, so the time the fixtures take to build a database does not eat into the lock's margin)."""
    clock.set((SystemClock().now() + FIRST_LOCK).replace(microsecond=0) - timedelta(days=UNREPORTED_DAYS))


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-life-{secrets.token_hex(5)}")
    yield h
    h.close()


def _ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def _purged(h) -> list[dict]:
    with Session(h.engine) as s:
        return [json.loads(bytes(e.body))["data"] for e in s.execute(
            select(LedgerEntry).where(LedgerEntry.kind == EventKind.FILES_PURGED)).scalars()]


def test_the_whole_life_of_an_unreported_kit(harness, clock):
    h, c = harness, harness.client
    # Both packs, both databases, in two runs (each waits out real Object Lock seconds): Washington on SQLite,
    # Michigan on PostgreSQL.
    jurisdiction = "us-wa" if h.settings.database_url.startswith("sqlite") else "us-mi"
    ex, coord, coord2 = h.user("examiner"), h.user("coordinator"), h.user("coordinator")
    store, auditor = h.user("lab"), h.user("auditor")
    _place(clock)
    new_until = clock.now() + timedelta(days=UNREPORTED_DAYS) + EXTENSION  # the lock the store will enforce

    # The exam: an unreported kit with a scan, to the evidence store; the survivor asks for notice.
    case_id = _ok(c.post("/cases", json={"reporting": "restricted", "jurisdiction": jurisdiction},
                         headers=ex.headers), 201)["id"]
    item = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=ex.headers), 201)
    item_id, until = item["id"], as_utc(datetime.fromisoformat(item["retention_until"]))
    assert until == clock.now() + timedelta(days=UNREPORTED_DAYS)
    scan = _ok(c.put(f"/items/{item_id}/file", content=b"kit photo log", headers=ex.headers), 201)
    t = _ok(c.post(f"/items/{item_id}/transfers", headers=ex.headers,
                   json={"to_user": store.id, "reason": "to store", "condition": "sealed"}), 201)
    _ok(c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=store.headers))
    _ok(c.post(f"/items/{item_id}/check-in", json={"location": "VAULT-1"}, headers=store.headers))
    _ok(c.post(f"/cases/{case_id}/notice-request", json={"kind": "email", "value": CONTACT}, headers=ex.headers), 201)
    with Session(h.engine) as s:
        row = s.get(EvidenceFile, scan["id"])
        key, version = row.object_key, row.version_id

    # The notice date: exactly notice_days before destruction, on the coordinator's queue, not the examiner's.
    clock.set(until - timedelta(days=NOTICE_DAYS) - timedelta(seconds=1))
    assert _ok(c.get("/notices/due", headers=coord.headers)) == []
    clock.advance(timedelta(seconds=1))
    [task] = _ok(c.get("/notices/due", headers=coord.headers))
    assert (task["item_id"], task["state"], task["notice_days"]) == (item_id, "due", NOTICE_DAYS)
    assert as_utc(datetime.fromisoformat(task["due_at"])) == until - timedelta(days=NOTICE_DAYS)
    [queued] = [x for x in _ok(c.get("/tasks", headers=coord.headers)) if x["kind"] == "notice-due"]
    assert (queued["case_id"], queued["ref"]) == (case_id, item_id) and "coc notice sent" in queued["verb"]
    assert [x for x in _ok(c.get("/tasks", headers=ex.headers)) if x["kind"] == "notice-due"] == []

    # The survivor asks for a year more: the item, the file's lock in the store, and the notice move with it.
    ext = _ok(c.post(f"/items/{item_id}/preservation", headers=coord.headers,
                     json={"until": new_until.isoformat(), "requested_by": "survivor"}))
    assert as_utc(datetime.fromisoformat(ext["retention_until"])) == new_until and ext["files_extended"] == [scan["id"]]
    assert as_utc(h.app.state.object_store.stat(key, version).retain_until) == new_until  # read back from S3
    [task] = _ok(c.get(f"/cases/{case_id}/notices", headers=coord.headers))
    assert task["state"] == "upcoming"
    assert as_utc(datetime.fromisoformat(task["due_at"])) == new_until - timedelta(days=NOTICE_DAYS)
    assert _ok(c.get("/notices/due", headers=coord.headers)) == []
    assert [x for x in _ok(c.get("/tasks", headers=coord.headers)) if x["kind"] == "notice-due"] == []

    # The new notice date: due again; the coordinator reads the contact and records the notice sent.
    clock.set(new_until - timedelta(days=NOTICE_DAYS))
    [task] = _ok(c.get("/notices/due", headers=coord.headers))
    assert task["item_id"] == item_id
    assert _ok(c.get(f"/cases/{case_id}/notice-contact", headers=coord.headers))["value"] == CONTACT
    [sent] = _ok(c.post(f"/cases/{case_id}/notices/sent", json={}, headers=coord.headers), 201)
    assert as_utc(datetime.fromisoformat(sent["announced_until"])) == new_until

    # The new destruction date: one person cannot destroy, nor the same person twice; two people do.
    clock.set(new_until + timedelta(seconds=1))
    assert _ok(c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers), 201)["status"] == \
        "awaiting-approval"
    assert _ok(c.get(f"/items/{item_id}", headers=ex.headers))["status"] == "checked-in"
    r = c.post(f"/items/{item_id}/destruction/approve", headers=store.headers)
    assert r.status_code == 403 and "different" in r.json()["detail"], r.text
    assert c.post(f"/items/{item_id}/destroy", json=DESTROY, headers=store.headers).status_code == 409
    _ok(c.post(f"/items/{item_id}/destruction/approve", headers=coord.headers))
    assert _ok(c.get(f"/items/{item_id}", headers=ex.headers))["status"] == "destroyed"

    # The file stays while the store's lock holds; after it ends the sweep deletes it and records what it deleted.
    swept = _ok(c.post("/admin/purge", headers=coord.headers))
    assert swept["deleted"] == [] and [x["file_id"] for x in swept["still_locked"]] == [scan["id"]]
    assert h.app.state.object_store.stat(key, version).size == len(b"kit photo log")
    assert _purged(h) == []
    wait_for(lambda: SystemClock().now() > new_until + timedelta(seconds=1), timeout=120,
             what="the store's lock to end")
    swept = _ok(c.post("/admin/purge", headers=coord.headers))
    assert swept["deleted"] == [{"item_id": item_id, "file_id": scan["id"], "version_id": version}]
    with pytest.raises(NotFound):
        h.app.state.object_store.stat(key, version)
    assert _purged(h) == [{"files": [{"file_id": scan["id"], "version_id": version}]}]
    with Session(h.engine) as s:
        assert s.get(EvidenceFile, scan["id"]).status == FileStatus.PURGED

    # The case is erased by two coordinators; the contact then reads "erased".
    _ok(c.post(f"/cases/{case_id}/erasure", json={"basis": "retention-ended"}, headers=coord.headers), 201)
    assert c.post(f"/cases/{case_id}/erasure/approve", headers=coord.headers).status_code == 403
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=coord2.headers))
    r = c.get(f"/cases/{case_id}/notice-contact", headers=coord.headers)
    assert r.status_code == 410 and "erased" in r.json()["detail"], r.text

    # The whole ledger verifies, and so does the case's exported bundle, offline.
    assert _ok(c.get("/audit/verify", headers=auditor.headers))["ok"]
    with Session(h.engine) as s:
        assert ledger.verify_chain(s).ok
        kinds = list(s.execute(select(LedgerEntry.kind).where(LedgerEntry.case_id == case_id)
                               .order_by(LedgerEntry.seq)).scalars())
        ledger_bytes = b"".join(bytes(e.body) for e in s.execute(select(LedgerEntry)).scalars())
    for kind in (EventKind.NOTICE_REQUESTED, EventKind.NOTICE_SENT, EventKind.FILES_PURGED, EventKind.CASE_ERASED):
        assert kind in kinds
    assert CONTACT.encode() not in ledger_bytes
    pem = _ok(c.get("/audit/public-key", headers=auditor.headers))["public_key_pem"].encode()
    bundle = json.loads(c.get("/audit/export", headers=auditor.headers, params={"case_id": case_id}).text)
    report = audit.verify_bundle(bundle, pem)
    assert report.ok, report.errors
    assert report.entries_checked == len(kinds)
