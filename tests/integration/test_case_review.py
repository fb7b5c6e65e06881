"""Multidisciplinary case review on SQLite and PostgreSQL (issue #15): each participant sees only what the
survivor's consents allow for their agency, every view is access-logged and ledgered, bad input is a clear 4xx
with nothing recorded, and an overdue action item shows in its owner agency's accountability report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.actors import system_actor
from core.cases import Reporting
from core.ledger import EventKind, LedgerEntry
from evidence.custody import TransferAccept, TransferCreate, accept_transfer, offer_transfer
from policies.access import AccessLog
from policies.advocacy import AdvocacyCreate, record_advocacy
from policies.authz import User, UserUpdate, update_user
from policies.clinical import ExamCreate, record_exam
from policies.consent import ConsentDecisionCreate, Method, record_decision
from policies.handoffs import ConsentScope, ItemKind
from policies.review import Review, ReviewAction, ReviewDecision
from tests.evidence_support import CRIME_LAB, EXAMINER, OFFICER, OFFICER2, TEST_AGENCY_NAMES, new_case, new_item

NARRATIVE = "canary-exam-narrative-7Q"
POLICE = TEST_AGENCY_NAMES["police"]


@pytest.fixture
def h(keyed_harness):
    return keyed_harness  # tests.fixtures.harness: the harness with its centre key installed


def _headers(h, actor) -> dict[str, str]:
    with Session(h.engine) as s:
        return {"Authorization": f"Bearer {h.token_for(s.get(User, actor.id))}"}


def _username(h, actor) -> str:
    with Session(h.engine) as s:
        return s.get(User, actor.id).username


def _case(h, clock, *, reporting=Reporting.UNRESTRICTED, release=True):
    """A case with an exam, an advocacy record, a kit (released to OFFICER when `release`) and a swab kept at the
    centre. Returns (case_id, kit_id, swab_id)."""
    with Session(h.engine) as s:
        case_id = new_case(s, reporting=reporting)
        record_exam(s, actor=EXAMINER, case_id=case_id, key=h.settings.secret("identity_key"),
                    data=ExamCreate(started_at=clock.now() - timedelta(hours=1), narrative=NARRATIVE))
        record_advocacy(s, actor=EXAMINER, case_id=case_id, key=h.settings.secret("identity_key"),
                        data=AdvocacyCreate(kind="service", service="counselling", status="accepted"))
        s.commit()
    with Session(h.engine) as s:
        kit, swab = new_item(s, case_id), new_item(s, case_id, ItemKind.SWAB)
        if release:
            t = offer_transfer(s, actor=EXAMINER, item_id=kit,
                               data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
            s.commit()
            accept_transfer(s, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
            s.commit()
    return case_id, kit, swab


def _share_release(h, clock, case_id) -> None:
    with Session(h.engine) as s:
        record_decision(s, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
            scope=ConsentScope.SHARE_ADVOCATE, decision="granted", method=Method.WRITTEN, form_ref="F-SHARE",
            expires_at=clock.now() + timedelta(days=30)))
        s.commit()


def _schedule(h, clock, case_id, coordinator, *participants) -> dict:
    r = h.client.post(f"/cases/{case_id}/reviews", headers=coordinator.headers,
                      json={"scheduled_for": (clock.now() + timedelta(days=2)).isoformat(),
                            "participants": list(participants)})
    assert r.status_code == 201, r.text
    return r.json()


def _count(h, model) -> int:
    with Session(h.engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _ledger(h, kind: str) -> int:
    with Session(h.engine) as s:
        return s.execute(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == kind)).scalar_one()


def test_each_participant_sees_what_the_consents_allow_their_agency_and_every_view_is_logged(h, clock):
    case_id, kit, swab = _case(h, clock)
    coordinator = h.user("coordinator", assign_to=case_id)
    clinician = h.user("examiner")
    advocate = h.user("advocate", agency_kind="advocacy-org")
    review = _schedule(h, clock, case_id, coordinator, clinician.user.username, _username(h, OFFICER),
                       advocate.user.username, _username(h, CRIME_LAB))
    assert {(p["agency"]["kind"], p["seat"]) for p in review["participants"]} == {
        ("centre", "centre"), ("police", "police"), ("advocacy-org", "advocacy-org"), ("crime-lab", "crime-lab")}
    rid = review["id"]

    police = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert police.status_code == 200, police.text
    body = police.json()
    assert body["sections"] == ["decisions", "released-items"]
    [item] = body["items"]  # the released kit, not the swab kept at the centre
    assert item["item_id"] == kit and item["kind"] == "kit" and item["custodian"] == OFFICER.id
    assert [(x["purpose"], x["to_user"], x["outcome"]) for x in item["handoffs"]] == [("release", OFFICER.id,
                                                                                       "accepted")]
    assert body["exam"] is None and body["advocacy"] is None
    assert NARRATIVE not in police.text and swab not in police.text

    # The advocacy organisation: nothing without the sharing release; its advocacy data (never the exam) with it.
    before = h.client.get(f"/reviews/{rid}", headers=advocate.headers).json()
    assert before["sections"] == [] and before["advocacy"] is None and before["exam"] is None
    _share_release(h, clock, case_id)
    after = h.client.get(f"/reviews/{rid}", headers=advocate.headers)
    assert after.json()["sections"] == ["advocacy", "decisions"]
    assert [(a["kind"], a["service"]) for a in after.json()["advocacy"]] == [("service", "counselling")]
    assert after.json()["exam"] is None and NARRATIVE not in after.text and kit not in after.text

    health = h.client.get(f"/reviews/{rid}", headers=clinician.headers).json()
    assert health["sections"] == ["decisions", "exam", "items"]
    assert [e["narrative"] for e in health["exam"]] == [NARRATIVE]
    assert {i["item_id"] for i in health["items"]} == {kit, swab}

    lab = h.client.get(f"/reviews/{rid}", headers=_headers(h, CRIME_LAB)).json()
    assert lab["sections"] == ["decisions", "lab-items"] and lab["items"] == []  # nothing submitted to it yet

    chair = h.client.get(f"/reviews/{rid}", headers=coordinator.headers).json()
    assert chair["sections"] == ["decisions"] and chair["exam"] is None and chair["items"] is None

    # Not a participant: refused, and not logged as a view but as a refused attempt on the review.
    for outsider in (_headers(h, OFFICER2), h.user("examiner").headers, h.user("coordinator").headers):
        r = h.client.get(f"/reviews/{rid}", headers=outsider)
        assert r.status_code == 403 and "not a participant" in r.json()["detail"], r.text
    with Session(h.engine) as s:
        refused = s.execute(select(AccessLog).where(AccessLog.object_id == rid, AccessLog.outcome == "refused")
                            ).scalars().all()
    assert len(refused) == 3 and {r.user_id for r in refused} >= {OFFICER2.id}

    with Session(h.engine) as s:
        rows = s.execute(select(AccessLog).where(AccessLog.object_id == rid, AccessLog.outcome == "read")
                         .order_by(AccessLog.id)).scalars().all()
    assert [(r.user_id, r.resource) for r in rows] == [
        (OFFICER.id, "review view: decisions,released-items"), (advocate.id, "review view: nothing"),
        (advocate.id, "review view: advocacy,decisions"), (clinician.id, "review view: decisions,exam,items"),
        (CRIME_LAB.id, "review view: decisions,lab-items"), (coordinator.id, "review view: decisions")]
    assert all(r.case_id == case_id and r.permission == "review:meeting:read" for r in rows)
    assert _ledger(h, EventKind.REVIEW_VIEWED) == 6


def test_police_see_nothing_of_a_restricted_report(h, clock):
    case_id, kit, swab = _case(h, clock, reporting=Reporting.RESTRICTED, release=False)
    coordinator = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, coordinator, _username(h, OFFICER), EXAMINER.id)["id"]
    r = h.client.post(f"/reviews/{rid}/actions", headers=coordinator.headers,
                      json={"owner_agency": POLICE, "due_at": (clock.now() + timedelta(days=7)).isoformat(),
                            "text": "canary-action-text"})
    assert r.status_code == 201, r.text
    h.client.post(f"/reviews/{rid}/decisions", headers=coordinator.headers, json={"text": "canary-decision"})
    police = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert police.status_code == 200, police.text
    body = police.json()
    assert body["sections"] == [] and body["items"] is None and body["exam"] is None and body["decisions"] is None
    [action] = body["actions"]  # its own agency's action item, without the text
    assert action["owner_agency"]["name"] == POLICE and action["text"] is None
    for secret in (NARRATIVE, kit, swab, "canary-action-text", "canary-decision", "restricted"):
        assert secret not in police.text
    # The centre's clinician in the same review sees the exam and the decision.
    health = h.client.get(f"/reviews/{rid}", headers=_headers(h, EXAMINER)).json()
    assert health["exam"][0]["narrative"] == NARRATIVE and health["decisions"][0]["text"] == "canary-decision"


def test_bad_input_is_a_clear_4xx_and_nothing_is_recorded(h, clock):
    case_id, _, _ = _case(h, clock, release=False)
    coordinator = h.user("coordinator", assign_to=case_id)
    gone = h.user("law_enforcement", active=False)
    auditor = h.user("auditor")
    when = (clock.now() + timedelta(days=1)).isoformat()
    seq_before = _ledger(h, EventKind.REVIEW_SCHEDULED)

    def schedule(who, case, *participants):
        return h.client.post(f"/cases/{case}/reviews", headers=who.headers,
                             json={"scheduled_for": when, "participants": list(participants)})

    r = schedule(coordinator, case_id, _username(h, OFFICER), gone.user.username)
    assert r.status_code == 422 and f"{gone.user.username!r} is deactivated" in r.json()["detail"]
    r = schedule(coordinator, case_id, "no-such-person")
    assert r.status_code == 422 and "no staff account named 'no-such-person'" in r.json()["detail"]
    r = schedule(coordinator, case_id, auditor.user.username)
    assert r.status_code == 422 and "cannot take part" in r.json()["detail"]
    r = schedule(coordinator, case_id)
    assert r.status_code == 422
    # A case the coordinator cannot see (not assigned to it), and one that does not exist.
    with Session(h.engine) as s:
        other_case = new_case(s)
    r = schedule(coordinator, other_case, _username(h, OFFICER))
    assert r.status_code == 403 and "not assigned" in r.json()["detail"]
    r = schedule(coordinator, "C" + "2" * 16, _username(h, OFFICER))
    assert r.status_code in (403, 404)
    # Other roles may not schedule at all.
    assert schedule(h.user("examiner", assign_to=case_id), case_id, _username(h, OFFICER)).status_code == 403
    assert _count(h, Review) == 0 and _ledger(h, EventKind.REVIEW_SCHEDULED) == seq_before
    with Session(h.engine) as s:  # the attempt on a case not theirs is itself on record, as a refusal
        refused = s.execute(select(AccessLog).where(AccessLog.object_id == other_case)).scalars().all()
    assert [(r.user_id, r.outcome, r.permission) for r in refused] == [
        (coordinator.id, "refused", "review:meeting:schedule")]

    rid = schedule(coordinator, case_id, _username(h, OFFICER)).json()["id"]
    due = (clock.now() + timedelta(days=7)).isoformat()
    for body, status, words in (
        ({"due_at": due}, 422, "owner_agency"),  # no owner agency
        ({"owner_agency": "", "due_at": due}, 422, "owner_agency"),
        ({"owner_agency": POLICE}, 422, "due_at"),
        ({"owner_agency": "Nobody's agency", "due_at": due}, 404, "no agency named"),
        # the crime lab exists (new_case's test staff) but has no participant in this review
        ({"owner_agency": TEST_AGENCY_NAMES["crime-lab"], "due_at": due}, 422, "takes no part"),
        ({"owner_agency": POLICE, "due_at": (clock.now() - timedelta(days=1)).isoformat()}, 422, "has passed"),
        ({"owner_agency": POLICE, "due_at": due, "decision_id": 999}, 422, "not a decision of this review"),
    ):
        r = h.client.post(f"/reviews/{rid}/actions", headers=coordinator.headers, json=body)
        assert r.status_code == status and words in r.text, (body, r.text)
    assert _count(h, ReviewAction) == 0 and _ledger(h, EventKind.REVIEW_ACTION_ADDED) == 0
    # Only the review's coordinator records decisions; a participant outside the owner agency cannot close items.
    r = h.client.post(f"/reviews/{rid}/decisions", headers=h.user("coordinator").headers, json={"text": "x"})
    assert r.status_code == 403
    assert _count(h, ReviewDecision) == 0 and _ledger(h, EventKind.REVIEW_DECIDED) == 0
    # A coordinator who does not chair the review is refused before the body is read (403, not a 422 about it).
    for path in (f"/reviews/{rid}/actions", f"/reviews/{rid}/decisions"):
        r = h.client.post(path, headers=h.user("coordinator").headers, json={"text": ["not a string"]})
        assert r.status_code == 403 and "owner_agency" not in r.text, (path, r.text)
    r = h.client.post(f"/reviews/{rid}/actions", headers=coordinator.headers,
                      json={"owner_agency": "Centre", "due_at": due})
    assert r.status_code == 201, r.text
    r = h.client.post(f"/review-actions/{r.json()['id']}/done", headers=_headers(h, OFFICER))
    assert r.status_code == 403 and "owner agency" in r.json()["detail"]
    assert _ledger(h, EventKind.REVIEW_ACTION_DONE) == 0


def test_overdue_action_item_in_the_owner_agencys_accountability_report(h, clock):
    start = clock.now()
    case_id, _, _ = _case(h, clock)
    coordinator = h.user("coordinator", assign_to=case_id)
    auditor = h.user("auditor")
    rid = _schedule(h, clock, case_id, coordinator, _username(h, OFFICER), EXAMINER.id)["id"]
    d = h.client.post(f"/reviews/{rid}/decisions", headers=coordinator.headers,
                      json={"text": "canary-decision-text"}).json()
    r = h.client.post(f"/reviews/{rid}/actions", headers=coordinator.headers,
                      json={"owner_agency": POLICE, "due_at": (clock.now() + timedelta(days=7)).isoformat(),
                            "decision_id": d["id"], "text": "canary-action-text"})
    assert r.status_code == 201, r.text
    action_id = r.json()["id"]
    clock.advance(timedelta(days=9))

    params = {"agency": POLICE, "from": start.isoformat(), "to": (clock.now() + timedelta(hours=1)).isoformat()}
    report = h.client.get("/reports/compliance", params=params, headers=auditor.headers)
    assert report.status_code == 200, report.text
    [overdue] = report.json()["overdue_review_actions"]
    assert (overdue["review_id"], overdue["action_id"], overdue["status"]) == (rid, action_id, "open")
    assert overdue["overdue_by"] == "2 d" and overdue["overdue_seconds"] == 2 * 86400
    assert "canary" not in report.text  # ids and dates only
    csv_text = h.client.get("/reports/compliance", params={**params, "format": "csv"}, headers=auditor.headers).text
    assert f"review-action,{rid},,action {action_id}," in csv_text and csv_text.rstrip().endswith(",open,2 d")
    # Another agency's report does not list it.
    lab = h.client.get("/reports/compliance", params={**params, "agency": TEST_AGENCY_NAMES["crime-lab"]},
                       headers=auditor.headers).json()
    assert lab["review_actions"] == []
    view = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER)).json()
    assert view["actions"][0]["overdue"] is True

    clock.advance(timedelta(hours=3))
    done = h.client.post(f"/review-actions/{action_id}/done", headers=_headers(h, OFFICER))
    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    again = h.client.post(f"/review-actions/{action_id}/done", headers=_headers(h, OFFICER))
    assert again.status_code == 409
    params["to"] = (clock.now() + timedelta(hours=1)).isoformat()
    [late] = h.client.get("/reports/compliance", params=params, headers=auditor.headers).json()["review_actions"]
    assert (late["status"], late["overdue_by"]) == ("done", "2 d 3 h")  # done, late by the time it took

    # The review's record is on the ledger without personal data or free text.
    with Session(h.engine) as s:
        bodies = [bytes(b) for b in s.execute(select(LedgerEntry.body).where(LedgerEntry.kind.like("review:%")))
                  .scalars()]
    assert len(bodies) >= 5 and not any(b"canary" in b for b in bodies)
    assert any(POLICE.encode() not in b and b'"owner_agency"' in b for b in bodies)


def test_a_participant_whose_agency_changed_sees_nothing(h, clock):
    """The seat is the agency a participant was invited for: moved to another agency, they are refused."""
    case_id, _, _ = _case(h, clock)
    _share_release(h, clock, case_id)
    coordinator = h.user("coordinator", assign_to=case_id)
    advocate = h.user("advocate", agency_kind="advocacy-org")
    rid = _schedule(h, clock, case_id, coordinator, advocate.user.username)["id"]
    assert h.client.get(f"/reviews/{rid}", headers=advocate.headers).json()["sections"] == ["advocacy", "decisions"]
    with Session(h.engine) as s:
        update_user(s, actor=system_actor("test"), user_id=advocate.id, change=UserUpdate(agency="Centre"))
        s.commit()
    r = h.client.get(f"/reviews/{rid}", headers=advocate.headers)
    assert r.status_code == 403 and "agency has changed" in r.json()["detail"], r.text
    with Session(h.engine) as s:
        reads = s.execute(select(func.count()).select_from(AccessLog).where(
            AccessLog.object_id == rid, AccessLog.outcome == "read")).scalar_one()
    assert reads == 1
