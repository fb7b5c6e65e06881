"""Withdrawing an erasure proposal (SQLite and PostgreSQL): by its proposer or another person allowed to propose,
ledgered with who and when; a withdrawn proposal cannot be approved; an approved or already withdrawn one cannot
be withdrawn; `coc case erase withdraw --json`."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import ledger
from core.crypto import CaseKey
from evidence.erasure import ErasureRequest
from tests.api_helpers import api_harness
from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _ledger(engine, case_id: str) -> list[tuple[str, dict, str]]:
    with Session(engine) as s:
        docs = [json.loads(bytes(e.body)) for e in s.execute(
            sa.select(ledger.LedgerEntry).where(ledger.LedgerEntry.case_id == case_id)
            .order_by(ledger.LedgerEntry.seq)).scalars()]
    return [(d["kind"], d["data"], d["actor"]["id"]) for d in docs]


def _erased(engine, case_id: str) -> bool:
    with Session(engine) as s:
        row = s.get(CaseKey, case_id)
        return row is not None and row.erased_at is not None


def _case(h) -> str:
    r = h.client.post("/cases", json={}, headers=h.user("examiner").headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_proposer_withdraws_and_the_withdrawn_proposal_cannot_be_approved(harness, clock):
    h, c = harness, harness.client
    first, second = h.user("coordinator"), h.user("coordinator")
    case_id = _case(h)
    r = c.post(f"/cases/{case_id}/erasure", headers=first.headers, json={"basis": "court-order",
                                                                        "reference": "CO-1"})
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    r = c.post(f"/cases/{case_id}/erasure/withdraw", headers=first.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["status"], body["withdrawn_by"], body["withdrawn_by_username"]) == (
        request_id, "withdrawn", first.id, first.user.username)
    assert body["withdrawn_at"] is not None and body["approved_by"] is None
    kind, data, actor = _ledger(h.engine, case_id)[-1]
    assert (kind, data["request"], data["proposed_by"], actor) == ("case:erasure:withdrawn", request_id, first.id,
                                                                    first.id)
    # the withdrawn proposal cannot be approved: nothing is erased, nothing recorded
    before = _ledger(h.engine, case_id)
    r = c.post(f"/cases/{case_id}/erasure/approve", headers=second.headers)
    assert r.status_code == 409 and "no erasure of this case is proposed" in r.json()["detail"], r.text
    assert not _erased(h.engine, case_id) and _ledger(h.engine, case_id) == before
    # nor withdrawn again
    r = c.post(f"/cases/{case_id}/erasure/withdraw", headers=second.headers)
    assert r.status_code == 409 and "already withdrawn" in r.json()["detail"], r.text
    assert first.user.username in r.json()["detail"] and _ledger(h.engine, case_id) == before
    state = c.get(f"/cases/{case_id}/erasure", headers=first.headers).json()
    assert state["erased"] is False and [q["status"] for q in state["requests"]] == ["withdrawn"]
    # a new proposal can be made (and approved by someone else) after a withdrawal
    assert c.post(f"/cases/{case_id}/erasure", headers=second.headers,
                  json={"basis": "survivor-request"}).status_code == 201
    assert c.post(f"/cases/{case_id}/erasure/approve", headers=first.headers).status_code == 200
    assert _erased(h.engine, case_id)
    with Session(h.engine) as s:
        assert ledger.verify_ledger(s, deep=True).ok
        statuses = [r.status for r in s.execute(sa.select(ErasureRequest).where(ErasureRequest.case_id == case_id)
                                                .order_by(ErasureRequest.id)).scalars()]
    assert statuses == ["withdrawn", "approved"]


def test_another_authorised_person_withdraws_but_not_an_approved_proposal_nor_without_permission(harness, clock):
    h, c = harness, harness.client
    first, second = h.user("coordinator"), h.user("coordinator")
    case_id = _case(h)
    r = c.post(f"/cases/{case_id}/erasure/withdraw", headers=first.headers)
    assert r.status_code == 409 and "nothing to withdraw" in r.json()["detail"], r.text
    assert c.post(f"/cases/{case_id}/erasure", headers=first.headers,
                  json={"basis": "survivor-request"}).status_code == 201
    # staff who may not propose an erasure may not withdraw one
    for role in ("examiner", "advocate", "auditor"):
        assert c.post(f"/cases/{case_id}/erasure/withdraw", headers=h.user(role).headers).status_code == 403, role
    r = c.post(f"/cases/{case_id}/erasure/withdraw", headers=second.headers)  # not the proposer
    assert r.status_code == 200 and r.json()["withdrawn_by_username"] == second.user.username, r.text

    other = _case(h)
    assert c.post(f"/cases/{other}/erasure", headers=first.headers, json={"basis": "survivor-request"}
                  ).status_code == 201
    assert c.post(f"/cases/{other}/erasure/approve", headers=second.headers).status_code == 200
    before = _ledger(h.engine, other)
    r = c.post(f"/cases/{other}/erasure/withdraw", headers=first.headers)
    assert r.status_code == 409 and "already erased" in r.json()["detail"], r.text
    assert _ledger(h.engine, other) == before
    assert c.post("/cases/C0000000000000000/erasure/withdraw", headers=first.headers).status_code == 404


def test_withdraw_from_the_cli(cli, live_api: LiveApi):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    first = login_as(cli, live_api, "coordinator")
    assert cli("case", "erase", "propose", case["id"], "--basis", "survivor-request", "--json").exit_code == 0
    out = cli("case", "erase", "withdraw", case["id"], "--json")
    assert out.exit_code == 0, out.output
    row = json.loads(out.output)
    assert (row["status"], row["withdrawn_by_username"]) == ("withdrawn", first.user.username)
    again = cli("case", "erase", "withdraw", case["id"], "--json")
    assert again.exit_code == 1 and "409" in again.output and "already withdrawn" in again.output
    login_as(cli, live_api, "coordinator")
    refused = cli("case", "erase", "approve", case["id"], "--json")
    assert refused.exit_code == 1 and "no erasure of this case is proposed" in refused.output
    table = cli("case", "erase", "status", case["id"])
    assert table.exit_code == 0 and "withdrawn" in table.output and first.user.username in table.output
