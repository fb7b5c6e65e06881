"""The consent/clinical/advocacy/alerts/jurisdictions/clocks routes through the app, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.ledger import iso
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database."""
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def test_consent_exam_and_advocate_flow(harness, clock):
    c = harness.client
    examiner = harness.user("examiner")
    assault = iso(clock.now() - timedelta(hours=70))
    case_id = c.post("/cases", json={"assault_at": assault, "jurisdiction": "us-wa"},
                     headers=examiner.headers).json()["id"]
    advocate = harness.user("advocate", assign_to=case_id)

    exam = {"started_at": iso(clock.now()), "narrative": "narrative text"}
    r = c.post(f"/cases/{case_id}/exam", json=exam, headers=examiner.headers)
    assert r.status_code == 403 and "forensic-exam" in r.json()["detail"]
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "forensic-exam", "decision": "granted", "method": "written", "form_ref": "F-1"})
    assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/exam", json=exam, headers=examiner.headers)
    assert r.status_code == 201 and "narrative" not in r.json()

    r = c.get(f"/cases/{case_id}/exam", headers=advocate.headers)
    assert r.status_code == 403 and "share-with-advocate" in r.json()["detail"]
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-2"})
    assert r.status_code == 422  # no expiry
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-2",
                     "expires_at": iso(clock.now() + timedelta(days=30))})
    assert r.status_code == 201
    r = c.get(f"/cases/{case_id}/exam", headers=advocate.headers)
    assert r.status_code == 200 and r.json()[0]["narrative"] == "narrative text"

    overview = c.get(f"/cases/{case_id}/consents", headers=advocate.headers).json()
    state = {s["scope"]: s["status"] for s in overview["state"]}
    assert state["share-with-advocate"] == "granted" and state["lab-testing"] == "none"
    assert len(overview["decisions"]) == 2

    r = c.post(f"/cases/{case_id}/care", headers=examiner.headers,
               json={"care": "hiv-pep", "status": "offered", "occurred_at": iso(clock.now())})
    assert r.status_code == 201
    assert [x["care"] for x in c.get(f"/cases/{case_id}/care", headers=examiner.headers).json()] == ["hiv-pep"]

    r = c.post(f"/cases/{case_id}/advocacy", headers=advocate.headers,
               json={"kind": "safety-plan", "status": "completed", "notes": "plan notes"})
    assert r.status_code == 201 and r.json()["has_notes"] and r.json()["notes"] is None
    assert c.get(f"/cases/{case_id}/advocacy", headers=advocate.headers).json()[0]["notes"] is None
    plans = c.get(f"/cases/{case_id}/advocacy/safety-plans", headers=advocate.headers).json()
    assert plans[0]["notes"] == "plan notes"

    clocks = {x["name"]: x for x in c.get(f"/cases/{case_id}/clocks", headers=examiner.headers).json()}
    # PEP was only offered: the survivor has not decided, so its clock keeps running (and alerting)
    assert clocks["hiv-pep"]["status"] == "running" and clocks["emergency-contraception"]["status"] == "running"

    coordinator = harness.user("coordinator")
    packs = c.get("/jurisdictions", headers=coordinator.headers).json()
    assert {p["code"] for p in packs} >= {"default", "us-wa", "us-tx", "us-mi"}
    assert c.get("/alerts", headers=examiner.headers).json() == []


def test_alerts_visible_to_assigned_staff_only(harness, clock):
    from sqlmodel import Session

    from core.actors import system_actor
    from policies.deadlines import scan_deadlines

    c = harness.client
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={"assault_at": iso(clock.now() - timedelta(hours=67))},
                     headers=examiner.headers).json()["id"]
    with Session(harness.engine) as s:
        assert scan_deadlines(s, actor=system_actor("deadline-watch"))
        s.commit()
    mine = c.get("/alerts", headers=examiner.headers).json()
    assert any(a["message"] == "PEP window closes in 5 h" and a["case_id"] == case_id for a in mine)
    assert c.get("/alerts", headers=harness.user("examiner").headers).json() == []
    assert len(c.get("/alerts", headers=harness.user("auditor").headers).json()) == len(mine)
    # Newer alerts of other cases must not push one's own out of a limited page.
    other = harness.user("examiner")
    for _ in range(3):
        c.post("/cases", json={"assault_at": iso(clock.now() - timedelta(hours=67))}, headers=other.headers)
    clock.advance(timedelta(minutes=1))
    with Session(harness.engine) as s:
        assert len(scan_deadlines(s, actor=system_actor("deadline-watch"))) >= 3
        s.commit()
    page = c.get("/alerts", params={"limit": 1}, headers=examiner.headers).json()
    assert [a["case_id"] for a in page] == [case_id]


def test_care_records_and_medical_clocks_need_the_sharing_release_for_an_advocate(harness, clock):
    """PEP / emergency-contraception records and clocks are medical: an advocate sees them only under a
    written, unexpired share-with-advocate release (the decision is ledgered); the read is access-logged."""
    c = harness.client
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={"assault_at": iso(clock.now() - timedelta(hours=10))},
                     headers=examiner.headers).json()["id"]
    advocate = harness.user("advocate", assign_to=case_id)
    r = c.post(f"/cases/{case_id}/care", headers=examiner.headers,
               json={"care": "hiv-pep", "status": "declined", "occurred_at": iso(clock.now())})
    assert r.status_code == 201, r.text

    r = c.get(f"/cases/{case_id}/care", headers=advocate.headers)
    assert r.status_code == 403 and "share-with-advocate" in r.json()["detail"]
    auditor = harness.user("auditor")
    log = c.get("/audit/access-log", params={"case_id": case_id}, headers=auditor.headers).json()
    assert not [e for e in log if e["user_id"] == advocate.id]  # a refused read is not a read (it is ledgered)
    names = {x["name"] for x in c.get(f"/cases/{case_id}/clocks", headers=advocate.headers).json()}
    assert "evidence-collection" in names and not names & {"hiv-pep", "emergency-contraception"}
    assert {"hiv-pep", "emergency-contraception"} <= {
        x["name"] for x in c.get(f"/cases/{case_id}/clocks", headers=examiner.headers).json()}

    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-2",
                     "expires_at": iso(clock.now() + timedelta(days=30))})
    assert r.status_code == 201, r.text
    r = c.get(f"/cases/{case_id}/care", headers=advocate.headers)
    assert r.status_code == 200 and [x["status"] for x in r.json()] == ["declined"]
    names = {x["name"] for x in c.get(f"/cases/{case_id}/clocks", headers=advocate.headers).json()}
    assert {"hiv-pep", "emergency-contraception"} <= names

    log = c.get("/audit/access-log", params={"case_id": case_id}, headers=auditor.headers)
    assert log.status_code == 200, log.text
    assert any(e["user_id"] == advocate.id and "care" in e["resource"] for e in log.json())
    # the medical clocks tell when care was decided: their read is logged too (for examiners as well)
    assert any(e["user_id"] == advocate.id and e["resource"].endswith("/clocks") and e["permission"] ==
               "exam:care:read" for e in log.json())
    assert any(e["user_id"] == examiner.id and e["resource"].endswith("/clocks") for e in log.json())


def test_an_advocate_records_refusals_and_withdrawals_but_not_grants(harness, clock):
    """Grants come from the examiner who obtained them; an advocate may pass on a withdrawal (it narrows)."""
    c = harness.client
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={}, headers=examiner.headers).json()["id"]
    advocate = harness.user("advocate", assign_to=case_id)
    grant = {"scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-9",
             "expires_at": iso(clock.now() + timedelta(days=30))}
    r = c.post(f"/cases/{case_id}/consents", headers=advocate.headers, json=grant)
    assert r.status_code == 403 and "examiner" in r.json()["detail"]
    r = c.post(f"/cases/{case_id}/consents", headers=advocate.headers,
               json={**grant, "scope": "release-to-law-enforcement", "expires_at": None})
    assert r.status_code == 403
    assert c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json=grant).status_code == 201
    r = c.post(f"/cases/{case_id}/consents", headers=advocate.headers,
               json={"scope": "share-with-advocate", "decision": "withdrawn", "method": "verbal"})
    assert r.status_code == 201, r.text
    assert c.get(f"/cases/{case_id}/exam", headers=advocate.headers).status_code == 403


def test_times_without_a_utc_offset_are_refused(harness, clock):
    """A local time read as UTC would shift the PEP/EC windows by the centre's offset: 422 with the fix."""
    c = harness.client
    examiner = harness.user("examiner")
    r = c.post("/cases", json={"assault_at": "2026-03-01T12:00:00"}, headers=examiner.headers)
    assert r.status_code == 422 and "UTC offset" in r.text
    r = c.post("/cases", json={"assault_at": "2026-03-01T12:00:00-08:00"}, headers=examiner.headers)
    assert r.status_code == 201 and r.json()["assault_at"].startswith("2026-03-01T20:00:00")
    case_id = r.json()["id"]
    r = c.post(f"/cases/{case_id}/care", headers=examiner.headers,
               json={"care": "hiv-pep", "status": "offered", "occurred_at": "2026-03-02T09:00:00"})
    assert r.status_code == 422 and "UTC offset" in r.text


def test_a_case_is_converted_to_unrestricted_and_its_assault_time_recorded_later(harness, clock):
    """PATCH /cases/{id}: the survivor converts a restricted report (then a release can be decided), and an
    assault time learned later starts the clinical clocks; both are ledgered; only assigned staff may."""
    c = harness.client
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={"reporting": "restricted"}, headers=examiner.headers).json()["id"]
    assert c.get(f"/cases/{case_id}/clocks", headers=examiner.headers).json() == []  # no assault time yet
    assert c.patch(f"/cases/{case_id}", json={"reporting": "unrestricted"},
                   headers=harness.user("examiner").headers).status_code == 403  # not assigned
    assert c.patch(f"/cases/{case_id}", json={}, headers=examiner.headers).status_code == 422
    r = c.patch(f"/cases/{case_id}", json={"reporting": "unrestricted",
                                           "assault_at": iso(clock.now() - timedelta(hours=30))},
                headers=examiner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["reporting"] == "unrestricted" and r.json()["assault_at"]
    names = {x["name"] for x in c.get(f"/cases/{case_id}/clocks", headers=examiner.headers).json()}
    assert {"hiv-pep", "evidence-collection"} <= names
    r = c.patch(f"/cases/{case_id}", json={"reporting": "restricted"}, headers=examiner.headers)
    assert r.status_code == 409  # an unrestricted report is never turned back
    auditor = harness.user("auditor")
    log = c.get("/audit/log", params={"case_id": case_id}, headers=auditor.headers).json()
    updates = [e["body"]["data"] for e in log if e["kind"] == "case:case:updated"]
    assert {"field": "assault_at", "change": "recorded"} in updates
    assert any(u.get("field") == "reporting" and u.get("to") == "unrestricted" for u in updates)
