"""Adversarial review of issue #15 as built, from outside through the API, on SQLite and PostgreSQL: the case
review's view after a cancellation, a role change, a consent withdrawn after scheduling, another review's
participants; action items that would outlive their review or their owner agency's seat; and the advocate's work
queue behind the sharing release (the checkpoint's rule: written and unexpired, not merely "granted")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.actors import system_actor
from core.ledger import iso
from policies.access import AccessLog
from policies.advocacy_followups import schedule_follow_ups
from policies.authz import UserUpdate, update_user
from policies.consent import ConsentDecisionCreate, Method, record_decision
from policies.handoffs import ConsentScope
from tests.evidence_support import EXAMINER, OFFICER
from tests.integration.test_case_review import (
    NARRATIVE,
    POLICE,
    _case,
    _headers,
    _schedule,
    _share_release,
    _username,
)


@pytest.fixture
def h(keyed_harness):
    return keyed_harness  # tests.fixtures.harness: the harness with its centre key installed


def _reads(h, rid: str) -> list[tuple[str, str]]:
    with Session(h.engine) as s:
        return [(r.user_id, r.resource) for r in s.execute(
            select(AccessLog).where(AccessLog.object_id == rid, AccessLog.outcome == "read")
            .order_by(AccessLog.id)).scalars()]


def _action(h, clock, rid, chair, owner=POLICE, days=3):
    r = h.client.post(f"/reviews/{rid}/actions", headers=chair.headers,
                      json={"owner_agency": owner, "due_at": (clock.now() + timedelta(days=days)).isoformat()})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_cancelled_review_shows_its_participants_the_record_but_nothing_of_the_case(h, clock):
    """A review that never met and was cancelled has no purpose left for sharing the case with other agencies:
    its participants still read its record (times, state, participants), not the exam or the released kit."""
    case_id, kit, swab = _case(h, clock)  # the kit is released to OFFICER
    chair = h.user("coordinator", assign_to=case_id)
    clinician = h.user("examiner")
    rid = _schedule(h, clock, case_id, chair, clinician.user.username, _username(h, OFFICER))["id"]
    assert NARRATIVE in h.client.get(f"/reviews/{rid}", headers=clinician.headers).text
    assert h.client.post(f"/reviews/{rid}/cancel", headers=chair.headers,
                         json={"reason": "no-longer-needed"}).status_code == 200
    for who in (clinician.headers, _headers(h, OFFICER)):
        r = h.client.get(f"/reviews/{rid}", headers=who)
        assert r.status_code == 200 and r.json()["review"]["state"] == "cancelled", r.text
        body = r.json()
        assert body["sections"] == [] and body["exam"] is None and body["items"] is None
        assert NARRATIVE not in r.text and kit not in r.text and swab not in r.text
    assert _reads(h, rid)[-2:] == [(clinician.id, "review view: nothing"), (OFFICER.id, "review view: nothing")]


def test_a_participant_whose_role_changed_is_refused_like_one_whose_agency_changed(h, clock):
    """The seat is the role AND agency a participant was invited for: a centre examiner who became an advocate
    would otherwise keep the clinician's seat (every item, and the exam, which a review never shows an advocate)."""
    case_id, kit, swab = _case(h, clock)
    _share_release(h, clock, case_id)
    chair = h.user("coordinator", assign_to=case_id)
    clinician = h.user("examiner")
    rid = _schedule(h, clock, case_id, chair, clinician.user.username)["id"]
    assert h.client.get(f"/reviews/{rid}", headers=clinician.headers).json()["sections"] == [
        "decisions", "exam", "items"]
    with Session(h.engine) as s:
        update_user(s, actor=system_actor("test"), user_id=clinician.id, change=UserUpdate(role="advocate"))
        s.commit()
    r = h.client.get(f"/reviews/{rid}", headers=_headers(h, clinician.actor))
    assert r.status_code == 403 and "role has changed" in r.json()["detail"], r.text
    assert NARRATIVE not in r.text and swab not in r.text
    assert _reads(h, rid) == [(clinician.id, "review view: decisions,exam,items")]
    with Session(h.engine) as s:  # the refusal is on record as an attempt
        refused = s.execute(select(AccessLog).where(AccessLog.object_id == rid, AccessLog.outcome == "refused")
                            ).scalars().all()
    assert [(x.user_id, x.permission) for x in refused] == [(clinician.id, "review:meeting:read")]


def test_a_review_with_action_items_has_met_and_cannot_be_cancelled(h, clock):
    """Action items are the review's outcome like decisions: cancelling the review afterwards would leave open
    items of a cancelled review counting against their owner agency forever. 409, nothing recorded."""
    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]
    _action(h, clock, rid, chair)
    r = h.client.post(f"/reviews/{rid}/cancel", headers=chair.headers, json={"reason": "duplicate"})
    assert r.status_code == 409 and "action items stand" in r.json()["detail"], r.text
    shown = h.client.get(f"/reviews/{rid}", headers=chair.headers).json()["review"]
    assert shown["state"] == "held" and shown["cancelled_at"] is None


def test_the_owner_agencys_last_participant_cannot_be_removed_while_its_action_items_are_open(h, clock):
    """An action item's owner is an agency taking part in the review; removing its last participant would leave
    an agency accountable (its report lists the item overdue) for an item it can no longer see."""
    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER), _username(h, EXAMINER))["id"]
    action = _action(h, clock, rid, chair)
    r = h.client.delete(f"/reviews/{rid}/participants/{_username(h, OFFICER)}", headers=chair.headers)
    assert r.status_code == 409 and "owns open action items" in r.json()["detail"], r.text
    assert _username(h, OFFICER) in h.client.get(f"/reviews/{rid}", headers=chair.headers).text
    assert h.client.post(f"/review-actions/{action['id']}/done", headers=_headers(h, OFFICER)).status_code == 200
    r = h.client.delete(f"/reviews/{rid}/participants/{_username(h, OFFICER)}", headers=chair.headers)
    assert r.status_code == 200, r.text


def test_the_view_follows_a_consent_withdrawn_after_the_review_was_scheduled(h, clock):
    case_id, kit, _ = _case(h, clock)
    _share_release(h, clock, case_id)
    chair = h.user("coordinator", assign_to=case_id)
    advocate = h.user("advocate", agency_kind="advocacy-org")
    rid = _schedule(h, clock, case_id, chair, advocate.user.username, _username(h, OFFICER))["id"]
    assert h.client.get(f"/reviews/{rid}", headers=advocate.headers).json()["sections"] == ["advocacy", "decisions"]
    assert kit in h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER)).text
    clock.advance(timedelta(minutes=5))
    with Session(h.engine) as s:
        for scope in (ConsentScope.SHARE_ADVOCATE, ConsentScope.RELEASE_LAW_ENFORCEMENT):
            record_decision(s, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
                scope=scope, decision="withdrawn", method=Method.WRITTEN, form_ref="F-WD"))
        s.commit()
    clock.advance(timedelta(minutes=5))
    adv = h.client.get(f"/reviews/{rid}", headers=advocate.headers)
    police = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert adv.json()["sections"] == [] and adv.json()["advocacy"] is None
    assert police.json()["sections"] == [] and police.json()["items"] is None and kit not in police.text
    assert _reads(h, rid)[-2:] == [(advocate.id, "review view: nothing"), (OFFICER.id, "review view: nothing")]


def test_a_participant_of_one_review_reads_and_closes_nothing_of_another(h, clock):
    case_id, _, _ = _case(h, clock)
    other_case, _, _ = _case(h, clock)
    chair = h.user("coordinator", assign_to=[case_id, other_case])
    a = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]
    b = _schedule(h, clock, other_case, chair, _username(h, EXAMINER))["id"]
    b_action = _action(h, clock, b, chair, owner="Centre")
    police = _headers(h, OFFICER)
    assert h.client.get(f"/reviews/{a}", headers=police).status_code == 200
    r = h.client.get(f"/reviews/{b}", headers=police)
    assert r.status_code == 403 and other_case not in r.text
    assert h.client.post(f"/review-actions/{b_action['id']}/done", headers=police).status_code == 403
    assert [x["id"] for x in h.client.get("/reviews", headers=police).json()] == [a]


def test_the_work_queue_shows_no_follow_up_under_a_release_the_checkpoint_refuses(h, clock):
    """A verbal (unwritten) share-with-advocate grant is not the release: the advocacy routes refuse
    it (403), and the work queue must not tell the advocate of the case's clinical follow-ups either."""
    c = h.client
    examiner = h.user("examiner")
    case_id = c.post("/cases", json={"assault_at": iso(clock.now() - timedelta(hours=5))},
                     headers=examiner.headers).json()["id"]
    for scope in ("medical-care", "forensic-exam"):
        assert c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
            "scope": scope, "decision": "granted", "method": "written", "form_ref": "F-1"}).status_code == 201
    assert c.post(f"/cases/{case_id}/exam", headers=examiner.headers, json={
        "started_at": iso(clock.now() - timedelta(hours=1)), "ended_at": iso(clock.now()),
        "narrative": "n"}).status_code == 201
    r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "verbal",
                     "expires_at": iso(clock.now() + timedelta(days=90))})
    assert r.status_code == 201, r.text
    adv = h.user("advocate", assign_to=case_id)
    with Session(h.engine) as s:  # the pathway's follow-up stage schedules them (no release needed for that)
        assert len(schedule_follow_ups(s, actor=system_actor("pathway"), case_id=case_id)) == 3
        s.commit()
    clock.advance(timedelta(days=8))
    assert c.get(f"/cases/{case_id}/advocacy/follow-ups", headers=adv.headers).status_code == 403
    assert c.get("/tasks", headers=adv.headers).json() == []
    # the written, time-limited release: now the task reaches the advocate
    assert c.post(f"/cases/{case_id}/consents", headers=examiner.headers, json={
        "scope": "share-with-advocate", "decision": "granted", "method": "written", "form_ref": "F-2",
        "expires_at": iso(clock.now() + timedelta(days=90))}).status_code == 201
    assert [t["kind"] for t in c.get("/tasks", headers=adv.headers).json()] == ["follow-up-due"]


def test_a_review_time_or_due_date_without_a_utc_offset_is_refused(h, clock):
    """Whose clock? A due date read as UTC moves by the centre's offset, and with it what is overdue in the
    accountability report; the rest of the API refuses such times (core.clock.require_offset), so does the review."""
    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    naive = (clock.now() + timedelta(days=3)).replace(tzinfo=None).isoformat()
    r = h.client.post(f"/cases/{case_id}/reviews", headers=chair.headers,
                      json={"scheduled_for": naive, "participants": [_username(h, OFFICER)]})
    assert r.status_code == 422 and "UTC offset" in r.text, r.text
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]
    for path, body in ((f"/reviews/{rid}/actions", {"owner_agency": POLICE, "due_at": naive}),
                       (f"/reviews/{rid}/reschedule", {"scheduled_for": naive})):
        r = h.client.post(path, headers=chair.headers, json=body)
        assert r.status_code == 422 and "UTC offset" in r.text, (path, r.text)
    shown = h.client.get(f"/reviews/{rid}", headers=chair.headers).json()
    assert shown["actions"] == [] and shown["review"]["state"] == "scheduled"
