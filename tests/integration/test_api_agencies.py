"""Agencies through the API (SQLite and PostgreSQL): register, list, users' agencies, and the boundary hole."""

from __future__ import annotations

import pytest

from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database."""
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def test_coordinators_register_agencies_and_auditors_read_them(harness):
    c = harness.client
    coordinator, auditor, examiner = harness.user("coordinator"), harness.user("auditor"), harness.user("examiner")
    r = c.post("/admin/agencies", json={"name": "  County Police ", "kind": "police"}, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    police = r.json()
    assert (police["name"], police["kind"]) == ("County Police", "police") and police["id"].startswith("Y")
    r = c.post("/admin/agencies", json={"name": "County Police", "kind": "crime-lab"}, headers=coordinator.headers)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = c.post("/admin/agencies", json={"name": "Second centre", "kind": "centre"}, headers=coordinator.headers)
    assert r.status_code == 409 and "one per installation" in r.json()["detail"]
    for bad in ({"name": "X", "kind": "fire-brigade"}, {"name": "", "kind": "police"},
                {"name": "a\u0000b", "kind": "police"}):
        assert c.post("/admin/agencies", json=bad, headers=coordinator.headers).status_code == 422, bad
    assert c.post("/admin/agencies", json={"name": "Y", "kind": "police"}, headers=auditor.headers).status_code == 403
    listed = c.get("/admin/agencies", headers=auditor.headers)
    assert listed.status_code == 200
    assert {(a["name"], a["kind"]) for a in listed.json()} >= {("Centre", "centre"), ("County Police", "police")}
    assert c.get("/admin/agencies", headers=examiner.headers).status_code == 403
    created = c.get("/audit/log", headers=auditor.headers, params={"kind": "admin:agency:created"}).json()
    assert any(e["body"]["data"] == {"agency": police["id"], "agency_kind": "police"} for e in created)


def test_users_belong_to_an_agency_that_fits_their_role(harness):
    c = harness.client
    coordinator = harness.user("coordinator")
    h = coordinator.headers
    police = c.post("/admin/agencies", json={"name": "County Police", "kind": "police"}, headers=h).json()
    c.post("/admin/agencies", json={"name": "State Crime Lab", "kind": "crime-lab"}, headers=h)
    pw = "a long enough password"

    def add(username, role, agency=None):
        body = {"username": username, "role": role, "password": pw, **({"agency": agency} if agency else {})}
        return c.post("/admin/users", json=body, headers=h)

    examiner = add("exam-1", "examiner")
    assert examiner.status_code == 201 and (examiner.json()["agency"], examiner.json()["agency_kind"]) == (
        "Centre", "centre")
    r = add("officer-0", "law_enforcement")
    assert r.status_code == 422 and "name it" in r.json()["detail"]
    officer = add("officer-1", "law_enforcement", "County Police")
    assert officer.status_code == 201 and officer.json()["agency_id"] == police["id"]
    assert add("officer-2", "law_enforcement", police["id"]).status_code == 201  # by id too
    for role, agency in (("lab", "County Police"), ("law_enforcement", "State Crime Lab"),
                         ("examiner", "State Crime Lab"), ("coordinator", "County Police")):
        r = add(f"bad-{role}", role, agency)
        assert r.status_code == 422 and "cannot belong to agency" in r.json()["detail"], (role, agency)
    r = add("lost", "lab", "No Such Lab")
    assert r.status_code == 422 and "no agency named" in r.json()["detail"]
    crime_lab = add("cl-1", "lab", "State Crime Lab")
    assert crime_lab.status_code == 201 and crime_lab.json()["agency_kind"] == "crime-lab"
    store = add("store-1", "lab")
    assert store.json()["agency_kind"] == "centre"
    # Moves between agencies: the role must still fit.
    r = c.patch(f"/admin/users/{store.json()['id']}", json={"agency": "State Crime Lab"}, headers=h)
    assert r.status_code == 200 and r.json()["agency"] == "State Crime Lab"
    r = c.patch(f"/admin/users/{examiner.json()['id']}", json={"role": "law_enforcement"}, headers=h)
    assert r.status_code == 422 and "cannot belong to agency 'Centre'" in r.json()["detail"]
    r = c.patch(f"/admin/users/{examiner.json()['id']}", json={"role": "law_enforcement", "agency": "County Police"},
                headers=h)
    assert r.status_code == 200 and (r.json()["role"], r.json()["agency"]) == ("law_enforcement", "County Police")
    listed = {u["username"]: u for u in c.get("/admin/users", headers=h).json()}
    assert listed["cl-1"]["agency"] == "State Crime Lab" and listed["officer-1"]["agency_kind"] == "police"
    assert listed[coordinator.user.username]["agency"] == "Centre"


def test_the_reported_hole_via_the_api(harness):
    """An unreleased kit: a custody transfer to a crime-lab user is refused (403, the denial in the audit log),
    and a crime-lab user's scan at the centre's vault is refused too; the centre's store staff still scan."""
    c = harness.client
    examiner, store, auditor = harness.user("examiner"), harness.user("lab"), harness.user("auditor")
    crime_lab = harness.user("lab", agency_kind="crime-lab")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        assert c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
            "scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1"}).status_code == 201
    body = {"kind": "kit", "description": "kit"}
    item_id = c.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers).json()["id"]
    r = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
               json={"to_user": crime_lab.id, "reason": "lab testing", "condition": "sealed"})
    assert r.status_code == 403 and "lab-testing" in r.json()["detail"]
    denied = c.get("/audit/log", headers=auditor.headers, params={"kind": "checkpoint:handoff:denied"}).json()
    assert denied and denied[-1]["item_id"] == item_id and denied[-1]["body"]["data"]["handoff"] == "lab-testing"
    # The crime lab does not even see the kit; the centre's store takes it and stores it.
    assert c.get(f"/items/{item_id}", headers=crime_lab.headers).status_code == 404  # hidden: as if missing
    t = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
               json={"to_user": store.id, "reason": "to the store", "condition": "sealed"}).json()
    assert c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=store.headers).status_code \
        == 200
    assert c.post(f"/items/{item_id}/scan", json={"location": "VAULT-1"},
                  headers=store.headers).json()["event"]["kind"] == "checked-in"
    r = c.post(f"/items/{item_id}/scan", json={}, headers=crime_lab.headers)
    assert r.status_code == 404  # not theirs to see: answered as missing, recorded as a refused custody attempt
    refused = c.get("/audit/log", headers=auditor.headers, params={"kind": "access:attempt:refused"}).json()
    assert [(e["item_id"], e["body"]["actor"]["id"]) for e in refused] == [(item_id, crime_lab.id)]
    assert c.post(f"/items/{item_id}/scan", json={}, headers=store.headers).json()["event"]["kind"] == "checked-out"


def test_an_account_holding_evidence_cannot_move_to_another_agency(harness):
    """Moving the centre's store clerk who holds a kit into the crime lab would take the kit across the boundary
    without a handoff (no checkpoint): refused with 409 until the kit is transferred; deactivation still works."""
    c = harness.client
    coordinator, examiner, store = harness.user("coordinator"), harness.user("examiner"), harness.user("lab")
    auditor = harness.user("auditor")
    c.post("/admin/agencies", json={"name": "State Crime Lab", "kind": "crime-lab"}, headers=coordinator.headers)
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
            "scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1"})
    item_id = c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"},
                     headers=examiner.headers).json()["id"]
    offer = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
                   json={"to_user": store.id, "reason": "to the store", "condition": "sealed"}).json()
    changes_before = len(c.get("/audit/log", headers=auditor.headers, params={"kind": "admin:user:changed"}).json())

    r = c.patch(f"/admin/users/{store.id}", json={"agency": "State Crime Lab"}, headers=coordinator.headers)
    assert r.status_code == 409 and "0 item(s) and has 1 open offer(s)" in r.json()["detail"]  # offered to them
    assert c.post(f"/transfers/{offer['id']}/accept", json={"condition": "sealed"},
                  headers=store.headers).status_code == 200
    r = c.patch(f"/admin/users/{store.id}", json={"agency": "State Crime Lab"}, headers=coordinator.headers)
    assert r.status_code == 409 and "holds 1 item(s)" in r.json()["detail"]
    user = next(u for u in c.get("/admin/users", headers=coordinator.headers).json() if u["id"] == store.id)
    assert user["agency_kind"] == "centre"  # nothing changed, and no change was ledgered
    assert len(c.get("/audit/log", headers=auditor.headers,
                     params={"kind": "admin:user:changed"}).json()) == changes_before

    back = c.post(f"/items/{item_id}/transfers", headers=store.headers,
                  json={"to_user": examiner.id, "reason": "back", "condition": "sealed"}).json()
    assert c.post(f"/transfers/{back['id']}/accept", json={"condition": "sealed"},
                  headers=examiner.headers).status_code == 200
    r = c.patch(f"/admin/users/{store.id}", json={"agency": "State Crime Lab"}, headers=coordinator.headers)
    assert r.status_code == 200 and r.json()["agency_kind"] == "crime-lab"
    # Deactivating an account that holds evidence is never blocked (a compromised account must stop at once).
    assert c.patch(f"/admin/users/{examiner.id}", json={"active": False},
                   headers=coordinator.headers).status_code == 200
