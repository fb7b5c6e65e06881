"""Evidence routes through the app on both databases and a real SeaweedFS."""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest

from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database and its own Object-Lock bucket."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-api-{secrets.token_hex(5)}")
    yield h
    h.close()


def _consent(c, headers, case_id, *scopes):
    for scope in scopes:
        r = c.post(f"/cases/{case_id}/consents", headers=headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text


def test_item_file_label_custody_and_lookup(harness):
    """The whole evidence surface: item, streamed file, labels, custody handoffs, scan, lookup."""
    c = harness.client
    examiner = harness.user("examiner")
    lab = harness.user("lab")
    officer = harness.user("law_enforcement")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]

    body = {"kind": "swab", "description": "oral swab"}
    r = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    _consent(c, examiner.headers, case_id, "forensic-exam", "evidence-swabs", "release-to-law-enforcement",
             "lab-testing", "status-lookup")
    r = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers)
    assert r.status_code == 201, r.text
    item = r.json()
    item_id = item["id"]
    assert item["custodian"] == examiner.id and item["status"] == "held"

    data = os.urandom(3 * 1024 * 1024 + 7)
    named = {**examiner.headers, "Content-Disposition": "attachment; filename*=UTF-8''scan%201.jpg"}
    r = c.put(f"/items/{item_id}/file", headers=named,
              content=(data[i:i + 65536] for i in range(0, len(data), 65536)))
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest() and r.json()["original_name"] == "scan 1.jpg"
    bad_name = {**examiner.headers, "Content-Disposition": 'attachment; filename="../x"'}
    r = c.put(f"/items/{item_id}/file", headers=bad_name, content=b"abc")
    assert r.status_code == 422
    r = c.put(f"/items/{item_id}/file", params={"filename": "x.jpg"}, headers=examiner.headers, content=b"abc")
    assert r.status_code == 422 and "Content-Disposition" in r.json()["detail"]  # never a name in the URL
    r = c.put(f"/items/{item_id}/file", headers=examiner.headers, content=b"")
    assert r.status_code == 422
    r = c.get(f"/items/{item_id}/file", headers=examiner.headers)
    assert r.status_code == 200 and r.content == data
    assert r.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert c.get(f"/items/{item_id}/file", headers=lab.headers).status_code == 403  # role has no download

    png = c.get(f"/items/{item_id}/label.png", headers=lab.headers)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert c.get(f"/items/{item_id}/label.pdf", headers=lab.headers).content.startswith(b"%PDF")

    assert c.post(f"/items/{item_id}/seal", json={"seal_number": "S-9"}, headers=examiner.headers).status_code == 200
    t = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
               json={"to_user": lab.id, "reason": "to store", "condition": "sealed", "seal_number": "S-9"}).json()
    r = c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed", "seal_number": "S-8"}, headers=lab.headers)
    assert r.status_code == 422 and "does not match" in r.json()["detail"]
    r = c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed", "seal_number": "S-9",
                                                     "seal_intact": True}, headers=lab.headers)
    assert r.status_code == 200 and r.json()["item"]["custodian"] == lab.id
    r = c.post(f"/items/{item_id}/scan", json={"location": "lab-shelf-1"}, headers=lab.headers)
    assert r.json()["event"]["kind"] == "checked-in"
    r = c.post(f"/items/{item_id}/check-in", json={"location": "lab-shelf-2"}, headers=lab.headers)
    assert r.status_code == 409
    # An officer's scan would make them custodian: a handoff out of the centre, which only a release may be.
    r = c.post(f"/items/{item_id}/scan", json={}, headers=officer.headers)
    assert r.status_code == 404 and "no evidence item" in r.json()["detail"]  # not theirs to see: as if missing
    lab2 = harness.user("lab")
    r = c.post(f"/items/{item_id}/scan", json={}, headers=lab2.headers)
    assert r.json()["event"]["kind"] == "checked-out" and r.json()["item"]["custodian"] == lab2.id
    r = c.post(f"/items/{item_id}/check-out", json={"reason": "again"}, headers=lab.headers)
    assert r.status_code == 409 and lab2.id in r.json()["detail"]

    enrol = c.post(f"/items/{item_id}/status-lookup", headers=examiner.headers)
    assert enrol.status_code == 201, enrol.text
    r = c.post("/status/lookup", json=enrol.json())
    assert r.status_code == 200 and r.json()["stage"] == "at-facility"
    assert c.post("/status/lookup", json={**enrol.json(), "password": "nope"}).status_code == 401

    history = c.get(f"/items/{item_id}/custody", headers=lab.headers).json()
    assert [e["kind"] for e in history][:3] == ["collected", "file-stored", "sealed"]
    assert c.get("/audit/verify", headers=harness.user("auditor").headers).json().get("ok", True)


def test_generic_transfer_route_refuses_release_purpose(db_url, tmp_path):
    """A release needs the case-scoped RELEASE permission: the generic transfer route cannot be used for it."""
    from policies.permissions import Role
    from tests.api_helpers import api_harness

    h = api_harness(db_url, tmp_path)
    try:
        lab = h.user(Role.LAB)
        resp = h.client.post("/items/E0000000000000000/transfers", headers=lab.headers,
                             json={"to_user": "U0000000000000000", "purpose": "release", "reason": "r",
                                   "condition": "sealed"})
        assert resp.status_code == 404, resp.text  # visibility first: a missing item is not found before all
        examiner = h.user(Role.EXAMINER)
        case_id = h.client.post("/cases", json={}, headers=examiner.headers).json()["id"]
        _consent(h.client, examiner.headers, case_id, "forensic-exam", "evidence-swabs")
        item_id = h.client.post(f"/cases/{case_id}/items", json={"kind": "swab", "description": "oral swab"},
                                headers=examiner.headers).json()["id"]  # real, and seen by the centre's lab
        resp = h.client.post(f"/items/{item_id}/transfers", headers=lab.headers,
                             json={"to_user": "U0000000000000000", "purpose": "release", "reason": "r",
                                   "condition": "sealed"})
        assert resp.status_code == 403, resp.text
        assert "/release" in resp.json()["detail"]
    finally:
        h.close()


def test_law_enforcement_sees_only_items_released_or_offered_to_them(harness):
    """An officer cannot list or read the items and custody of cases they were given nothing from."""
    c = harness.client
    examiner = harness.user("examiner")
    officer, other_officer = harness.user("law_enforcement"), harness.user("law_enforcement")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    _consent(c, examiner.headers, case_id, "forensic-exam", "evidence-swabs", "release-to-law-enforcement")
    body = {"kind": "swab", "description": "oral swab"}
    kept = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers).json()["id"]
    released = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers).json()["id"]
    assert c.get(f"/cases/{case_id}/items", headers=officer.headers).json() == []
    for path in (f"/items/{kept}", f"/items/{kept}/custody"):
        r = c.get(path, headers=officer.headers)
        assert r.status_code == 404 and "no evidence item" in r.json()["detail"]  # hidden: as if missing
    r = c.post(f"/items/{released}/release", headers=examiner.headers,
               json={"to_user": officer.id, "reason": "report", "condition": "sealed"})
    assert r.status_code == 201, r.text
    assert [i["id"] for i in c.get(f"/cases/{case_id}/items", headers=officer.headers).json()] == [released]
    assert c.get(f"/items/{released}", headers=officer.headers).status_code == 200
    assert c.get(f"/items/{released}/custody", headers=officer.headers).status_code == 200
    assert c.get(f"/items/{released}", headers=other_officer.headers).status_code == 404  # hidden: as if missing
    lab = harness.user("lab")  # lab and evidence staff handle every item (no identity on an item)
    assert c.get(f"/items/{kept}", headers=lab.headers).status_code == 200


def test_an_unassigned_examiner_cannot_read_another_cases_items(harness):
    """Item descriptions are exam detail: an examiner not assigned to the case gets 403 (break-glass aside)."""
    c = harness.client
    examiner, stranger = harness.user("examiner"), harness.user("examiner")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    _consent(c, examiner.headers, case_id, "forensic-exam", "evidence-swabs")
    body = {"kind": "swab", "description": "oral swab"}
    item_id = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers).json()["id"]
    for path in (f"/cases/{case_id}/items", f"/items/{item_id}", f"/items/{item_id}/custody"):
        assert c.get(path, headers=examiner.headers).status_code == 200
        r = c.get(path, headers=stranger.headers)
        if path.startswith("/items/"):  # a hidden item answers as a missing one
            assert r.status_code == 404 and "no evidence item" in r.json()["detail"], path
        else:
            assert r.status_code == 403 and "not assigned" in r.json()["detail"], path
    r = c.post(f"/cases/{case_id}/break-glass", headers=stranger.headers,
               json={"reason": "survivor in the emergency department now, assigned examiner unreachable"})
    assert r.status_code in (200, 201), r.text
    assert c.get(f"/items/{item_id}", headers=stranger.headers).status_code == 200
