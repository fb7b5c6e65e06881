"""Agency accountability on SQLite and PostgreSQL: police and crime-lab staff see their own items' deadlines in
GET /alerts (and nothing else), and GET /reports/compliance holds each receiving agency to the pack's deadlines
(handoffs received, acknowledgements, overdue by how long), in JSON, CSV and PDF, driven by a ManualClock."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import timedelta

import pytest
from sqlmodel import Session

from core.actors import system_actor
from evidence.custody import TransferAccept, TransferCreate, accept_transfer, offer_lab_submission, offer_transfer
from policies import deadlines
from policies.authz import User
from policies.deadlines import ClockName
from tests.api_helpers import api_harness
from tests.evidence_support import CRIME_LAB, EXAMINER, OFFICER, OFFICER2, TEST_AGENCY_NAMES, new_case, new_item

POLICE = TEST_AGENCY_NAMES["police"]
CRIME_LAB_NAME = TEST_AGENCY_NAMES["crime-lab"]


@pytest.fixture
def h(db_url, tmp_path, clock):
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


def _headers(h, actor) -> dict[str, str]:
    with Session(h.engine) as s:
        return {"Authorization": f"Bearer {h.token_for(s.get(User, actor.id))}"}


def _released_kit(h, clock):
    """A kit released to OFFICER (offered by the examiner, accepted by the officer); returns (case, item, t0)."""
    with Session(h.engine) as s:
        case_id = new_case(s)
        item_id = new_item(s, case_id)
        t = offer_transfer(s, actor=EXAMINER, item_id=item_id,
                           data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
        s.commit()
        clock.advance(timedelta(hours=5))  # acknowledged 5 h after the offer
        accept_transfer(s, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
        s.commit()
    return case_id, item_id, clock.now()


def _scan(h) -> list[tuple[str | None, str]]:
    with Session(h.engine) as s:
        raised = [(a.item_id, a.clock) for a in deadlines.scan_deadlines(s, actor=system_actor("deadline-watch"))]
        s.commit()
        return raised


def test_officer_sees_the_overdue_submission_of_the_kit_they_hold_and_no_one_elses(h, clock):
    case_id, item_id, _ = _released_kit(h, clock)
    clinical = h.user("examiner", assign_to=case_id)
    clock.advance(timedelta(days=31))  # the default pack: 30 days to submit to a lab
    raised = _scan(h)
    assert (item_id, ClockName.LAB_SUBMISSION) in raised

    mine = h.client.get("/alerts", headers=_headers(h, OFFICER))
    assert mine.status_code == 200, mine.text
    assert [(a["item_id"], a["clock"]) for a in mine.json()] == [(item_id, "lab-submission")]
    assert "not submitted to a lab" in mine.json()[0]["message"]
    # Another officer of the same force holds nothing of this case: nothing, not even other cases' alerts.
    other = h.client.get("/alerts", headers=_headers(h, OFFICER2))
    assert other.status_code == 200 and other.json() == []
    # A crime-lab user with nothing offered to them sees nothing either.
    assert h.client.get("/alerts", headers=_headers(h, CRIME_LAB)).json() == []
    # The examiner of the case still sees the case's alerts (unchanged behaviour).
    assert item_id in {a["item_id"] for a in h.client.get("/alerts", headers=clinical.headers).json()}


def test_officer_never_sees_clinical_alerts_of_the_case(h, clock):
    case_id, item_id, _ = _released_kit(h, clock)
    with Session(h.engine) as s:
        from policies.deadlines import Alert

        # A clinical alert of the same case and item must stay with the centre's staff.
        s.add(Alert(id="A0000000000000001", dedupe_key=f"{case_id}:{item_id}:hiv-pep", case_id=case_id,
                    item_id=item_id, clock=ClockName.HIV_PEP, message="HIV PEP closes in 3 h",
                    due_at=clock.now(), raised_at=clock.now(), ledger_seq=1, ledger_hash="0" * 64))
        s.commit()
    assert h.client.get("/alerts", headers=_headers(h, OFFICER)).json() == []


def test_compliance_report_shows_the_police_submission_overdue_then_the_lab_acknowledgement(h, clock):
    start = clock.now()
    _, item_id, released_at = _released_kit(h, clock)
    auditor = h.user("auditor")
    clock.advance(timedelta(days=31, hours=18))  # 1 d 18 h past the 30-day submission deadline
    params = {"agency": POLICE, "from": start.isoformat(), "to": (clock.now() + timedelta(hours=1)).isoformat()}
    resp = h.client.get("/reports/compliance", params=params, headers=auditor.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["agency"]["name"] == POLICE and body["agency"]["kind"] == "police"
    [handoff] = body["handoffs"]
    assert (handoff["item_id"], handoff["purpose"], handoff["outcome"]) == (item_id, "release", "accepted")
    assert handoff["accepted_at"].startswith(released_at.isoformat()[:19])
    [overdue] = body["overdue"]
    assert (overdue["clock"], overdue["item_id"], overdue["status"]) == ("lab-submission", item_id, "expired")
    assert overdue["overdue_by"] == "1 d 18 h" and overdue["overdue_seconds"] == (24 + 18) * 3600
    assert overdue["due_at"].startswith((released_at + timedelta(days=30)).isoformat()[:19])
    # No survivor data: ids, kinds, purposes and times only (not even the case id).
    assert "case_id" not in resp.text

    # The officer finally offers it to the crime lab, which acknowledges 2 h later.
    with Session(h.engine) as s:
        t = offer_lab_submission(s, actor=OFFICER, item_id=item_id,
                                 data=TransferCreate(to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
        s.commit()
        clock.advance(timedelta(hours=2))
        accept_transfer(s, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
        s.commit()
    params["to"] = (clock.now() + timedelta(hours=1)).isoformat()
    police = h.client.get("/reports/compliance", params=params, headers=auditor.headers).json()
    [late] = police["overdue"]
    assert (late["status"], late["overdue_by"]) == ("met", "1 d 20 h")  # done, but late by the time it took
    lab = h.client.get("/reports/compliance", params={**params, "agency": CRIME_LAB_NAME},
                       headers=auditor.headers).json()
    [received] = lab["handoffs"]
    assert (received["purpose"], received["outcome"], received["overdue_by"]) == ("lab", "accepted", "1 d 20 h")
    assert [d["clock"] for d in lab["duties"]] == ["lab-analysis"] and lab["overdue"] == []

    csv_resp = h.client.get("/reports/compliance", params={**params, "format": "csv"}, headers=auditor.headers)
    assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
    assert {(r["section"], r["what"], r["overdue_by"]) for r in rows} >= {("deadline", "lab-submission", "1 d 20 h")}
    pdf = h.client.get("/reports/compliance", params={**params, "format": "pdf"}, headers=auditor.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True,
                          check=True).stdout.decode()
    assert "Agency compliance:" in text and "lab-submission" in text and "1 d 20 h" in text, text
    # Times as a reader reads them ("2026-11-02 09:15 UTC"), not ISO with a T and an offset.
    assert " UTC" in text and not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text) and "+00:00" not in text


def test_compliance_report_is_for_coordinators_and_auditors_only(h, clock):
    params = {"agency": POLICE}
    examiner = h.user("examiner")
    officer = h.user("law_enforcement")
    assert h.client.get("/reports/compliance", params=params, headers=examiner.headers).status_code == 403
    assert h.client.get("/reports/compliance", params=params, headers=officer.headers).status_code == 403
    coordinator = h.user("coordinator")
    ok = h.client.get("/reports/compliance", params=params, headers=coordinator.headers)
    assert ok.status_code == 200 and ok.json()["handoffs"] == []
    missing = h.client.get("/reports/compliance", params={"agency": "No such force"}, headers=coordinator.headers)
    assert missing.status_code == 404


def test_crime_lab_sees_the_overdue_analysis_of_the_kit_it_accepted(h, clock):
    _, item_id, _ = _released_kit(h, clock)
    with Session(h.engine) as s:
        t = offer_lab_submission(s, actor=OFFICER, item_id=item_id,
                                 data=TransferCreate(to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
        s.commit()
        accept_transfer(s, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
        s.commit()
    clock.advance(timedelta(days=91))  # the default pack: 90 days to analyse
    assert (item_id, ClockName.LAB_ANALYSIS) in _scan(h)
    lab = h.client.get("/alerts", headers=_headers(h, CRIME_LAB)).json()
    assert [(a["item_id"], a["clock"]) for a in lab] == [(item_id, "lab-analysis")]
