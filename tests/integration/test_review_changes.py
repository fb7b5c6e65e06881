"""Changing a case review on SQLite and PostgreSQL (policies.review.changes, .lists): its chair reschedules it,
invites and removes participants (a removed participant's view answers exactly as an outsider's), cancels it
(then decisions and action items are a 409 with nothing recorded, and participants still read it); every change
is ledgered with ids, enums and dates only, and a refused change records nothing. The lists show a case's reviews
only to staff assigned to it, and each person their own upcoming reviews."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.ledger import EventKind, LedgerEntry
from policies.review import Review, ReviewDecision
from tests.evidence_support import EXAMINER, OFFICER, OFFICER2
from tests.integration.test_case_review import _case, _count, _headers, _ledger, _schedule, _username


@pytest.fixture
def h(keyed_harness):
    return keyed_harness  # tests.fixtures.harness: the harness with its centre key installed


def _entries(h, kind: str) -> list[dict]:
    with Session(h.engine) as s:
        rows = s.execute(select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.seq)).scalars()
        return [json.loads(bytes(r.body))["data"] for r in rows]


def _scheduled_for(h, rid: str):
    with Session(h.engine) as s:
        return s.get(Review, rid).scheduled_for


def test_the_chair_reschedules_and_it_is_ledgered_a_non_chair_is_refused_with_nothing_recorded(h, clock):
    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    review = _schedule(h, clock, case_id, chair, _username(h, OFFICER), _username(h, EXAMINER))
    rid, before = review["id"], _scheduled_for(h, review["id"])
    new = (clock.now() + timedelta(days=5)).isoformat()

    for stranger in (h.user("coordinator").headers, _headers(h, OFFICER), _headers(h, EXAMINER)):
        r = h.client.post(f"/reviews/{rid}/reschedule", headers=stranger, json={"scheduled_for": new})
        assert r.status_code == 403, r.text
    assert _ledger(h, EventKind.REVIEW_RESCHEDULED) == 0 and _scheduled_for(h, rid) == before

    r = h.client.post(f"/reviews/{rid}/reschedule", headers=chair.headers, json={"scheduled_for": new})
    assert r.status_code == 200, r.text
    assert r.json()["scheduled_for"].startswith((clock.now() + timedelta(days=5)).date().isoformat())
    assert r.json()["state"] == "scheduled"
    [entry] = _entries(h, EventKind.REVIEW_RESCHEDULED)
    assert entry["review"] == rid and set(entry) == {"review", "from", "to"}
    assert entry["to"].startswith((clock.now() + timedelta(days=5)).date().isoformat())

    past = h.client.post(f"/reviews/{rid}/reschedule", headers=chair.headers,
                         json={"scheduled_for": (clock.now() - timedelta(hours=1)).isoformat()})
    assert past.status_code == 422 and "has passed" in past.json()["detail"]
    # Once it has met (a decision is recorded) it does not move.
    assert h.client.post(f"/reviews/{rid}/decisions", headers=chair.headers, json={}).status_code == 201
    held = h.client.post(f"/reviews/{rid}/reschedule", headers=chair.headers,
                         json={"scheduled_for": (clock.now() + timedelta(days=9)).isoformat()})
    assert held.status_code == 409 and "has met" in held.json()["detail"]
    assert _ledger(h, EventKind.REVIEW_RESCHEDULED) == 1


def test_a_removed_police_participant_gets_the_outsider_answer_and_can_be_invited_again(h, clock):
    case_id, _, _ = _case(h, clock)  # the kit is released to OFFICER
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, EXAMINER))["id"]
    police = _headers(h, OFFICER)
    assert h.client.get(f"/reviews/{rid}", headers=police).status_code == 403

    added = h.client.post(f"/reviews/{rid}/participants", headers=chair.headers,
                          json={"participant": _username(h, OFFICER)})
    assert added.status_code == 200, added.text
    assert [p["username"] for p in added.json()["participants"]] == [_username(h, EXAMINER), _username(h, OFFICER)]
    seen = h.client.get(f"/reviews/{rid}", headers=police)
    assert seen.status_code == 200 and seen.json()["sections"] == ["decisions", "released-items"], seen.text
    twice = h.client.post(f"/reviews/{rid}/participants", headers=chair.headers,
                          json={"participant": _username(h, OFFICER)})
    assert twice.status_code == 409 and "already takes part" in twice.json()["detail"]

    # The same eligibility checks as at scheduling; nothing recorded on a refusal.
    gone, auditor = h.user("law_enforcement", active=False), h.user("auditor")
    for who, words in ((gone.user.username, "is deactivated"), (auditor.user.username, "cannot take part"),
                       ("no-such-person", "no staff account named")):
        r = h.client.post(f"/reviews/{rid}/participants", headers=chair.headers, json={"participant": who})
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    r = h.client.post(f"/reviews/{rid}/participants", headers=_headers(h, OFFICER),
                      json={"participant": _username(h, OFFICER2)})
    assert r.status_code == 403  # only the chair
    assert _ledger(h, EventKind.REVIEW_PARTICIPANT_ADDED) == 1

    removed = h.client.delete(f"/reviews/{rid}/participants/{_username(h, OFFICER)}", headers=chair.headers)
    assert removed.status_code == 200, removed.text
    assert [p["username"] for p in removed.json()["participants"]] == [_username(h, EXAMINER)]
    after = h.client.get(f"/reviews/{rid}", headers=police)
    outsider = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER2))
    assert after.status_code == outsider.status_code == 403
    assert after.json()["detail"] == outsider.json()["detail"] and "not a participant" in after.json()["detail"]
    assert h.client.get("/reviews", headers=police).json() == []
    [entry] = _entries(h, EventKind.REVIEW_PARTICIPANT_REMOVED)
    assert entry == {"review": rid, "user": OFFICER.id, "agency": added.json()["participants"][1]["agency"]["id"]}

    last = h.client.delete(f"/reviews/{rid}/participants/{_username(h, EXAMINER)}", headers=chair.headers)
    assert last.status_code == 422 and "cancel the review instead" in last.json()["detail"]
    again = h.client.post(f"/reviews/{rid}/participants", headers=chair.headers,
                          json={"participant": _username(h, OFFICER)})
    assert again.status_code == 200 and h.client.get(f"/reviews/{rid}", headers=police).status_code == 200
    assert _ledger(h, EventKind.REVIEW_PARTICIPANT_ADDED) == 2 and _ledger(h, EventKind.REVIEW_PARTICIPANT_REMOVED) == 1


def test_after_cancelling_no_decision_or_action_is_recorded_and_participants_still_read_it(h, clock):
    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]

    r = h.client.post(f"/reviews/{rid}/cancel", headers=_headers(h, OFFICER), json={"reason": "case-closed"})
    assert r.status_code == 403
    r = h.client.post(f"/reviews/{rid}/cancel", headers=chair.headers, json={"reason": "because I said so"})
    assert r.status_code == 422  # a closed list: no free text reaches the ledger
    assert _ledger(h, EventKind.REVIEW_CANCELLED) == 0

    r = h.client.post(f"/reviews/{rid}/cancel", headers=chair.headers, json={"reason": "survivor-withdrew"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled" and r.json()["cancel_reason"] == "survivor-withdrew"
    [entry] = _entries(h, EventKind.REVIEW_CANCELLED)
    assert entry["review"] == rid and entry["reason"] == "survivor-withdrew"
    assert set(entry) == {"review", "reason", "scheduled_for"}

    decided_before, entries_before = _count(h, ReviewDecision), _ledger(h, EventKind.REVIEW_DECIDED)
    d = h.client.post(f"/reviews/{rid}/decisions", headers=chair.headers, json={"text": "too late"})
    assert d.status_code == 409 and "was cancelled" in d.json()["detail"] and "schedule a new review" in \
        d.json()["detail"], d.text
    a = h.client.post(f"/reviews/{rid}/actions", headers=chair.headers, json={
        "owner_agency": "Y0000000000000000", "due_at": (clock.now() + timedelta(days=3)).isoformat()})
    assert a.status_code == 409 and "action items can no longer be recorded" in a.json()["detail"]
    for change in (h.client.post(f"/reviews/{rid}/reschedule", headers=chair.headers,
                                 json={"scheduled_for": (clock.now() + timedelta(days=4)).isoformat()}),
                   h.client.post(f"/reviews/{rid}/cancel", headers=chair.headers, json={"reason": "other"}),
                   h.client.post(f"/reviews/{rid}/participants", headers=chair.headers,
                                 json={"participant": _username(h, EXAMINER)})):
        assert change.status_code == 409, change.text
    assert _count(h, ReviewDecision) == decided_before and _ledger(h, EventKind.REVIEW_DECIDED) == entries_before
    assert _ledger(h, EventKind.REVIEW_ACTION_ADDED) == 0 and _ledger(h, EventKind.REVIEW_CANCELLED) == 1

    view = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert view.status_code == 200 and view.json()["review"]["state"] == "cancelled", view.text


def test_lists_show_only_what_the_caller_may_see(h, clock):
    case_id, _, _ = _case(h, clock, release=False)
    other_case, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=[case_id, other_case])
    first = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]
    second = _schedule(h, clock, case_id, chair, _username(h, EXAMINER))["id"]
    elsewhere = _schedule(h, clock, other_case, chair, _username(h, OFFICER))["id"]

    assigned = h.user("examiner", assign_to=case_id)
    for who in (chair.headers, assigned.headers):
        r = h.client.get(f"/cases/{case_id}/reviews", headers=who)
        assert r.status_code == 200 and {x["id"] for x in r.json()} == {first, second}, r.text
    for who in (h.user("examiner").headers, h.user("coordinator").headers, _headers(h, OFFICER)):
        r = h.client.get(f"/cases/{case_id}/reviews", headers=who)
        assert r.status_code == 403 and first not in r.text and second not in r.text, r.text

    mine = h.client.get("/reviews", headers=_headers(h, OFFICER))
    assert mine.status_code == 200 and {x["id"] for x in mine.json()} == {first, elsewhere}
    assert h.client.get("/reviews", headers=h.user("examiner").headers).json() == []
    assert {x["id"] for x in h.client.get("/reviews", headers=chair.headers).json()} == {first, second, elsewhere}

    assert h.client.post(f"/reviews/{first}/cancel", headers=chair.headers,
                         json={"reason": "duplicate"}).status_code == 200
    upcoming = h.client.get("/reviews", headers=_headers(h, OFFICER)).json()
    assert [x["id"] for x in upcoming] == [elsewhere]
    every = h.client.get("/reviews", params={"past": "true"}, headers=_headers(h, OFFICER)).json()
    assert {x["id"]: x["state"] for x in every} == {first: "cancelled", elsewhere: "scheduled"}
    listed = h.client.get(f"/cases/{case_id}/reviews", headers=assigned.headers).json()
    assert {x["id"]: x["state"] for x in listed} == {first: "cancelled", second: "scheduled"}


def test_only_the_changeable_columns_change_and_no_row_is_deleted(h, clock):
    """Revision 0027: case_review lets only its time and cancellation change, the participant row only its
    agency, seat and removal mark; DELETE stays refused on both (history is kept)."""
    import sqlalchemy as sa

    case_id, _, _ = _case(h, clock, release=False)
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER))["id"]
    refused = ["UPDATE case_review SET scheduled_by = 'someone-else' WHERE id = :r",
               "DELETE FROM case_review WHERE id = :r",
               "DELETE FROM case_review_participant WHERE review_id = :r",
               "UPDATE case_review_participant SET user_id = :other WHERE review_id = :r"]
    for statement in refused:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), h.engine.begin() as c:
            c.execute(sa.text(statement), {"r": rid, "other": EXAMINER.id} if ":other" in statement else {"r": rid})
    with h.engine.begin() as c:
        c.execute(sa.text("UPDATE case_review SET scheduled_for = scheduled_for WHERE id = :r"), {"r": rid})
        c.execute(sa.text("UPDATE case_review_participant SET seat = seat WHERE review_id = :r"), {"r": rid})
