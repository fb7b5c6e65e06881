"""Reference codes and names are what their fields say, through the real API on both databases.

sqlmodel's Field(regex=...) is silently ignored by sqlmodel 0.0.50: a seal number, an authority reference or a
lab report reference written as free text (a name) was accepted and went into the ledger, and a username with
spaces or an agency name with control characters was accepted. Each is a 422 now, and nothing is recorded.
"""

from __future__ import annotations

import pytest

from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _kit(c, examiner) -> str:
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
            "scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1"})
    return c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"},
                  headers=examiner.headers).json()["id"]


def test_free_text_is_refused_where_a_reference_code_belongs(harness):
    c = harness.client
    examiner, auditor, store = harness.user("examiner"), harness.user("auditor"), harness.user("lab")
    item_id = _kit(c, examiner)
    entries_before = len(c.get("/audit/log", headers=auditor.headers, params={"limit": 1000}).json())
    r = c.post(f"/items/{item_id}/seal", json={"seal_number": "Jane Doe"}, headers=examiner.headers)
    assert r.status_code == 422, r.text
    assert "Jane" not in r.text.split('"input"')[0]  # the problem's detail does not echo the text back
    r = c.post(f"/items/{item_id}/destroy", json={"reason": "retention over", "authority_ref": "Judge Jane Doe"},
               headers=store.headers)
    assert r.status_code == 422  # the body is refused before anything else is looked at
    assert len(c.get("/audit/log", headers=auditor.headers, params={"limit": 1000}).json()) == entries_before
    assert c.post(f"/items/{item_id}/seal", json={"seal_number": "S-2026/001"},
                  headers=examiner.headers).status_code in (200, 201)


def test_usernames_and_agency_names_are_checked(harness):
    c = harness.client
    coordinator = harness.user("coordinator")
    h = coordinator.headers
    r = c.post("/admin/users", json={"username": "jane doe", "role": "examiner", "password": "a long enough password"},
               headers=h)
    assert r.status_code == 422
    assert c.post("/admin/agencies", json={"name": "County\tPolice", "kind": "police"}, headers=h).status_code == 422
    assert c.post("/admin/users", json={"username": "jane.doe", "role": "examiner",
                                        "password": "a long enough password"}, headers=h).status_code == 201
