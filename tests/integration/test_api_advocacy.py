"""The advocacy routes and GET /tasks through the app, on both databases: the release gate (403), a follow-up
outcome by an advocate not assigned to the case (403), bad outcomes (422), the work queue of the signed-in
person only, and the client/CLI verbs over the same routes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.ledger import iso
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _consent(c, examiner, case_id, scope, **extra):
    body = {"scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1", **extra}
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json=body)
    assert r.status_code == 201, r.text


def _case(harness, clock):
    c = harness.client
    examiner = harness.user("examiner")
    case_id = c.post("/cases", json={"assault_at": iso(clock.now() - timedelta(hours=5))},
                     headers=examiner.headers).json()["id"]
    for scope in ("medical-care", "forensic-exam"):
        _consent(c, examiner, case_id, scope)
    r = c.post(f"/cases/{case_id}/exam", headers=examiner.headers,
               json={"started_at": iso(clock.now() - timedelta(hours=1)), "ended_at": iso(clock.now()),
                     "narrative": "n"})
    assert r.status_code == 201, r.text
    return examiner, case_id


def test_advocacy_routes_need_the_release_then_record_and_read(harness, clock):
    c = harness.client
    examiner, case_id = _case(harness, clock)
    adv = harness.user("advocate", assign_to=case_id)
    r = c.post(f"/cases/{case_id}/advocacy/services", headers=adv.headers,
               json={"service": "counselling", "status": "offered"})
    assert r.status_code == 403 and "share-with-advocate" in r.json()["detail"]
    assert c.get(f"/cases/{case_id}/advocacy/overview", headers=adv.headers).status_code == 403
    assert c.get(f"/cases/{case_id}/advocacy/follow-ups", headers=adv.headers).status_code == 403

    _consent(c, examiner, case_id, "share-with-advocate", expires_at=iso(clock.now() + timedelta(days=90)))
    assert c.post(f"/cases/{case_id}/advocacy/services", headers=adv.headers,
                  json={"service": "counselling", "status": "maybe"}).status_code == 422
    assert c.post(f"/cases/{case_id}/advocacy/services", headers=adv.headers,
                  json={"service": "crisis-line", "status": "accepted"}).status_code == 201
    ref = c.post(f"/cases/{case_id}/advocacy/referrals", headers=adv.headers,
                 json={"service": "legal-aid", "organisation": "Legal Aid Org"}).json()
    assert c.post(f"/cases/{case_id}/advocacy/referrals/{ref['id']}/outcome", headers=adv.headers,
                  json={"outcome": "lost"}).status_code == 422
    assert c.post(f"/cases/{case_id}/advocacy/referrals/{ref['id']}/outcome", headers=adv.headers,
                  json={"outcome": "waitlisted"}).status_code == 201
    assert c.post(f"/cases/{case_id}/advocacy/referrals/99999/outcome", headers=adv.headers,
                  json={"outcome": "waitlisted"}).status_code == 404
    assert c.post(f"/cases/{case_id}/advocacy/referrals/{2**40}/outcome", headers=adv.headers,
                  json={"outcome": "waitlisted"}).status_code == 422  # never reaches the database
    assert c.post(f"/cases/{case_id}/advocacy/contacts", headers=adv.headers,
                  json={"kind": "phone", "outcome": "reached", "at": "2026-03-01T10:00:00"}).status_code == 422
    r = c.post(f"/cases/{case_id}/advocacy/contacts", headers=adv.headers,
               json={"kind": "in-person", "outcome": "reached", "at": iso(clock.now() + timedelta(hours=1))})
    assert r.status_code == 422 and "future" in r.json()["detail"]
    assert c.post(f"/cases/{case_id}/advocacy/contacts", headers=adv.headers,
                  json={"kind": "in-person", "outcome": "reached"}).status_code == 201
    for text in ("first plan", "second plan"):
        assert c.post(f"/cases/{case_id}/advocacy/safety-plans", headers=adv.headers,
                      json={"notes": text}).status_code == 201
    view = c.get(f"/cases/{case_id}/advocacy/overview", headers=adv.headers).json()
    assert [s["service"] for s in view["services"]] == ["crisis-line"]
    assert view["referrals"][0]["outcome"] == "waitlisted" and view["safety_plan_revisions"] == 2
    assert view["contacts"][0]["recorded_by"] == adv.id
    plans = c.get(f"/cases/{case_id}/advocacy/safety-plans?revision=2", headers=adv.headers).json()
    assert [(p["revision"], p["notes"]) for p in plans] == [(2, "second plan")]
    auditor = harness.user("auditor")
    log = c.get("/audit/access-log", headers=auditor.headers, params={"case_id": case_id}).json()
    rows = log["items"] if isinstance(log, dict) else log
    assert any(x["user_id"] == adv.id and x["object_id"] == str(plans[0]["id"]) for x in rows)


def test_follow_up_outcome_by_an_unassigned_advocate_is_refused_and_tasks_show_only_your_cases(harness, clock):
    c = harness.client
    examiner, case_id = _case(harness, clock)
    _consent(c, examiner, case_id, "share-with-advocate", expires_at=iso(clock.now() + timedelta(days=365)))
    adv = harness.user("advocate", assign_to=case_id)
    stranger = harness.user("advocate")
    ups = c.post(f"/cases/{case_id}/advocacy/follow-ups", headers=adv.headers).json()
    assert [u["name"] for u in ups] == ["1-week", "6-weeks", "3-months"]
    assert c.get("/tasks", headers=adv.headers).json() == []
    clock.advance(timedelta(days=7))
    tasks = c.get("/tasks", headers=adv.headers).json()
    assert [(t["kind"], t["case_id"], t["ref"]) for t in tasks] == [("follow-up-due", case_id, str(ups[0]["id"]))]
    assert c.get("/tasks", headers=stranger.headers).json() == []
    assert c.get("/tasks", headers=examiner.headers).status_code == 200

    url = f"/cases/{case_id}/advocacy/follow-ups/{ups[0]['id']}/outcome"
    r = c.post(url, headers=stranger.headers, json={"outcome": "done"})
    assert r.status_code == 403
    assert c.post(url, headers=adv.headers, json={"outcome": "ended"}).status_code == 422
    assert c.post(f"/cases/{case_id}/advocacy/follow-ups/{ups[1]['id']}/outcome", headers=adv.headers,
                  json={"outcome": "done"}).status_code == 409  # not due yet
    r = c.post(url, headers=adv.headers, json={"outcome": "done"})
    assert r.status_code == 200 and r.json()["outcome"] == "done" and r.json()["outcome_by"] == adv.id
    assert c.post(url, headers=adv.headers, json={"outcome": "missed"}).status_code == 409
    assert c.get("/tasks", headers=adv.headers).json() == []
