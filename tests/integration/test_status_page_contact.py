"""Survivors' "please contact me about my kit" requests reach the right staff and are closed (issue: contact
requests): an examiner not assigned to the case does not see them (list, tasks); the assigned advocate does and
closes one with a closed outcome (gone from the open list and the tasks, present with state=all); closing twice
is 409; closing a request of a hidden case answers as a missing one (404) and the refusal is recorded; the
ledger entry holds ids, the outcome and the staff id only. Over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlmodel import Session, select

from core.actors import Actor
from core.db import transaction
from core.errors import Conflict
from core.ledger import EventKind, LedgerEntry
from evidence import contact_requests, lookup_guard, lookup_page
from evidence.lookup_models import KitLookup
from policies.access import AccessLog
from policies.permissions import Role
from tests.api_helpers import api_harness
from tests.evidence_support import EXAMINER, new_case, new_item
from tests.web.support import DESCRIPTION, Kit, kit_with_card

HANDLE = "case:contact:handle"


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path, lookup_rate_per_min=50)
    yield h
    h.close()


def _ask_to_be_contacted(h, kit: Kit) -> int:
    """The survivor logs in with the card and presses "please contact me"; the request's seq."""
    page = h.client.post("/status", data={"code": kit.code, "password": kit.password})
    assert page.status_code == 200, page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    assert h.client.post("/status/contact", data={"token": token.group(1)}).status_code == 200
    with Session(h.engine) as s:
        return max(s.exec(select(LedgerEntry.seq).where(
            LedgerEntry.kind == EventKind.STATUS_CONTACT_REQUESTED.value)).all())


def _listed(h, who, state: str | None = None) -> list[dict]:
    r = h.client.get("/status-requests", headers=who.headers, params={"state": state} if state else None)
    assert r.status_code == 200, r.text
    return r.json()


def _contact_tasks(h, who) -> list[dict]:
    r = h.client.get("/tasks", headers=who.headers)
    assert r.status_code == 200, r.text
    return [t for t in r.json() if t["kind"] == "contact-requested"]


def _handled(h, who, seq: int, outcome: str = "reached"):
    return h.client.post(f"/status-requests/{seq}/handled", json={"outcome": outcome}, headers=who.headers)


def _handlings(h) -> list[LedgerEntry]:
    with Session(h.engine) as s:
        return list(s.exec(select(LedgerEntry).where(LedgerEntry.kind == EventKind.STATUS_CONTACT_HANDLED.value)))


def test_assigned_advocate_sees_and_closes_a_request_a_stranger_never_sees(harness, tmp_path):
    """The request reaches the case's staff and the coordinator, not an unassigned examiner; the advocate closes
    it (reached): it leaves the open list and every task queue, stays in state=all with outcome, who and when;
    closing again is a 409 naming how it was handled."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    advocate = h.user(Role.ADVOCATE, assign_to=kit.case_id)
    stranger = h.user(Role.EXAMINER)  # an examiner of other cases
    coordinator = h.user(Role.COORDINATOR)  # not assigned: sees every case's requests
    seq = _ask_to_be_contacted(h, kit)

    assert _listed(h, stranger) == [] and _listed(h, stranger, "all") == []
    assert _contact_tasks(h, stranger) == []
    for who in (advocate, kit.examiner, coordinator):
        [row] = _listed(h, who)
        assert (row["seq"], row["case_id"], row["item_id"], row["outcome"]) == (seq, kit.case_id, kit.item_id, None)
        [task] = _contact_tasks(h, who)
        assert (task["case_id"], task["ref"]) == (kit.case_id, str(seq))
        assert task["verb"].startswith(f"coc evidence contact-handled {seq} --outcome reached|left-message")
    assert _contact_tasks(h, kit.officer) == []  # law enforcement never gets survivors' call-backs

    assert _handled(h, advocate, seq, "called-twice").status_code == 422  # a closed set
    done = _handled(h, advocate, seq, "reached")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["seq"], body["outcome"], body["handled_by"], body["handled_by_username"]) == \
        (seq, "reached", advocate.id, advocate.user.username)

    for who in (advocate, kit.examiner, coordinator):
        assert _listed(h, who) == [] and _contact_tasks(h, who) == []
        [row] = _listed(h, who, "all")
        assert (row["seq"], row["outcome"], row["handled_by_username"]) == (seq, "reached", advocate.user.username)
        assert row["handled_at"] is not None
    assert _listed(h, stranger, "all") == []

    again = _handled(h, kit.examiner, seq, "no-answer")
    assert again.status_code == 409, again.text
    assert "already handled (reached" in again.json()["detail"] and advocate.user.username in again.text
    assert len(_handlings(h)) == 1


def test_ledger_entry_holds_the_seq_outcome_and_staff_id_only(harness, tmp_path):
    """The handling entry: the request's seq, the closed outcome, the staff id; nothing of the survivor."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    seq = _ask_to_be_contacted(h, kit)
    assert _handled(h, kit.examiner, seq, "left-message").status_code == 200
    [entry] = _handlings(h)
    doc = json.loads(entry.body)
    assert doc["data"] == {"request_seq": seq, "outcome": "left-message", "staff": kit.examiner.id}
    assert (entry.case_id, entry.item_id) == (kit.case_id, kit.item_id)
    for secret in (kit.code, kit.password, DESCRIPTION, "S-1"):
        assert secret.encode() not in entry.body, secret


def test_a_hidden_cases_request_answers_as_a_missing_one_and_the_attempt_is_recorded(harness, tmp_path):
    """An unassigned examiner closing a real request gets exactly what a missing number gets (404, same words),
    nothing is recorded but the refused attempt (access log: refused, the case, the permission, the true reason);
    a plain missing number is not an attempt on anyone's file. A role without the permission gets 403."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    seq = _ask_to_be_contacted(h, kit)
    stranger = h.user(Role.EXAMINER)
    hidden = _handled(h, stranger, seq)
    other_kind = _handled(h, stranger, 1)  # a real ledger entry, not a contact request
    missing = _handled(h, stranger, seq + 10_000)
    assert hidden.status_code == other_kind.status_code == missing.status_code == 404
    for resp, number in ((hidden, seq), (other_kind, 1), (missing, seq + 10_000)):
        assert resp.json()["detail"] == \
            f"no contact request {number}: check the number in `coc evidence contact-requests`"
        assert kit.case_id not in resp.text and kit.item_id not in resp.text
    assert dict(hidden.headers) == dict(missing.headers) | {"content-length": hidden.headers["content-length"]}
    assert _handlings(h) == []
    with Session(h.engine) as s:
        refused = list(s.exec(select(AccessLog).where(AccessLog.outcome == "refused",
                                                      AccessLog.user_id == stranger.id)))
    [row] = refused  # the hidden one only: a missing number is no attempt on a survivor's file
    assert (row.case_id, row.permission, row.resource) == \
        (kit.case_id, HANDLE, "POST /status-requests/{request_seq}/handled")
    assert row.reason.startswith("PermissionDenied: you are not assigned")
    assert _handled(h, kit.officer, seq).status_code == 403
    assert _handled(h, kit.examiner, 2**40).status_code == 404  # past the seq column's range: no entry, no 500
    assert _listed(h, kit.examiner)[0]["seq"] == seq  # still open


def test_two_people_closing_one_request_at_once_record_it_once(engine, clock):
    """Service level: while one coordinator's handling is not yet committed, a second one waits for it and then
    gets the 409 (the case's row is locked on PostgreSQL; SQLite writers queue): never two handlings."""
    with Session(engine, expire_on_commit=False) as s:
        item_id = new_item(s, new_case(s))
        code, _password = lookup_guard.issue_card(s, actor=EXAMINER, item_id=item_id)
        lookup_page.request_contact(s, s.get(KitLookup, code))
        s.commit()
        seq = max(s.exec(select(LedgerEntry.seq).where(
            LedgerEntry.kind == EventKind.STATUS_CONTACT_REQUESTED.value)).all())
    first_holds = threading.Event()
    outcomes: dict[str, object] = {}

    def close(name: str, outcome: str, hold: bool) -> None:
        try:
            with transaction(engine) as session:
                done = contact_requests.handle_contact_request(
                    session, actor=Actor(id=f"U-{name}", role="coordinator"), seq=seq, outcome=outcome)
                if hold:
                    first_holds.set()
                    time.sleep(0.6)  # the second one starts meanwhile
                outcomes[name] = done.outcome
        except Conflict as exc:
            outcomes[name] = exc

    first = threading.Thread(target=close, args=("first", "reached", True))
    first.start()
    assert first_holds.wait(10)
    second = threading.Thread(target=close, args=("second", "no-answer", False))
    second.start()
    first.join(20)
    second.join(20)
    assert outcomes["first"] == "reached"
    assert isinstance(outcomes["second"], Conflict) and "already handled (reached" in str(outcomes["second"])
    with Session(engine) as s:
        assert len(s.exec(select(LedgerEntry).where(
            LedgerEntry.kind == EventKind.STATUS_CONTACT_HANDLED.value)).all()) == 1
