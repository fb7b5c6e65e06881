"""Refused attempts on evidence, consent-protected data and survivors' files are recorded (both databases).

Each scenario goes through the real API and would pass unrecorded before refusals were recorded: the access log
held only successful reads, and a refused custody action left nothing on the item's ledger record.
"""

from __future__ import annotations

import logging
import secrets

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from api.auth.issuer import mint_token
from core.ledger import EventKind, LedgerEntry, decode, iso
from policies.authz import User
from tests.api_helpers import ApiHarness, StaffUser, api_harness

SURVIVOR = {"full_name": "Rosalind Quennell-Vantongeren", "date_of_birth": "1990-04-02",
            "contact": "+1 555 0100 rosalind@example.org"}
IDENTITY_TOKENS = ("Rosalind", "Quennell", "Vantongeren", "1990-04-02", "555 0100", "rosalind@")


@pytest.fixture
def h(db_url, tmp_path, clock):
    """The app on a fresh database (no object store: no file is stored)."""
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


@pytest.fixture
def hs(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database and its own Object-Lock bucket."""
    harness = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-ref-{secrets.token_hex(5)}")
    yield harness
    harness.close()


def _consent(h: ApiHarness, who: StaffUser, case_id: str, *scopes: str, decision: str = "granted") -> None:
    for scope in scopes:
        r = h.client.post(f"/cases/{case_id}/consents", headers=who.headers,
                          json={"scope": scope, "decision": decision, "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text


def _case(h: ApiHarness, examiner: StaffUser, *scopes: str) -> str:
    """A case with the survivor's identity stored and the given consents granted."""
    case_id = h.client.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    assert h.client.put(f"/cases/{case_id}/identity", json=SURVIVOR, headers=examiner.headers).status_code == 204
    _consent(h, examiner, case_id, *scopes)
    return case_id


def _item(h: ApiHarness, examiner: StaffUser, case_id: str, kind: str = "swab") -> str:
    body = {"kind": kind, "description": f"{kind} 1"}
    r = h.client.post(f"/cases/{case_id}/items", json=body, headers=examiner.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _log(h: ApiHarness, **params: str) -> list[dict]:
    auditor = next((u for u in h.users if u.user.role == "auditor"), None) or h.user("auditor")
    r = h.client.get("/audit/access-log", params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _refused(h: ApiHarness, **params: str) -> list[dict]:
    return _log(h, outcome="refused", **params)


def _refusal_entries(h: ApiHarness, item_id: str) -> list[dict]:
    with Session(h.engine) as s:
        rows = s.execute(select(LedgerEntry).where(LedgerEntry.item_id == item_id,
                                                   LedgerEntry.kind == EventKind.ACCESS_REFUSED.value)
                         .order_by(LedgerEntry.seq)).scalars().all()
        return [decode(r) for r in rows]


def _assert_no_identity(h: ApiHarness) -> None:
    """No survivor identity in any access-log row or any refusal ledger entry."""
    with Session(h.engine) as s:
        rows = s.execute(text("SELECT * FROM access_log")).all()
        bodies = s.execute(select(LedgerEntry.body).where(
            LedgerEntry.kind == EventKind.ACCESS_REFUSED.value)).scalars().all()
    assert rows  # every scenario recorded something
    dumped = str(rows) + b"".join(bodies).decode()
    for token in IDENTITY_TOKENS:
        assert token not in dumped


def _one(rows: list[dict], **match: object) -> dict:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def test_photograph_download_after_photography_consent_withdrawn_is_refused_and_recorded(hs):
    """The survivor withdrew photography consent: the download is refused, and the attempt is in the access log
    (outcome refused) and on the photograph's ledger record; the earlier successful view is still a read."""
    c = hs.client
    examiner = hs.user("examiner")
    case_id = _case(hs, examiner, "forensic-exam", "photography-record")
    item_id = _item(hs, examiner, case_id, "photograph")
    assert c.put(f"/items/{item_id}/file", headers=examiner.headers, content=b"\x89PNG-body").status_code == 201
    r = c.get(f"/items/{item_id}/file", headers=examiner.headers)
    assert r.status_code == 200 and r.content == b"\x89PNG-body"
    _consent(hs, examiner, case_id, "photography-record", decision="withdrawn")

    r = c.get(f"/items/{item_id}/file", headers=examiner.headers)
    assert r.status_code == 403 and "withdrawn" in r.json()["detail"]

    row = _one(_refused(hs, case_id=case_id), object_id=item_id)
    assert row["user_id"] == examiner.id and row["role"] == "examiner" and row["case_id"] == case_id
    assert row["permission"] == "evidence:file:download" and row["resource"] == "GET /items/{item_id}/file"
    assert row["reason"].startswith("PermissionDenied: photograph consent was withdrawn")
    assert row["outcome"] == "refused" and row["at"].startswith("2026-03-01T22:00")  # the app clock
    # The successful view before the withdrawal is still logged as a read, as before (the default listing).
    reads = _log(hs, case_id=case_id)
    assert [(x["outcome"], x["permission"], x["object_id"]) for x in reads if x["resource"].endswith("/file")] == [
        ("read", "evidence:file:download", item_id)]
    assert all(x["outcome"] == "read" for x in reads)
    [entry] = _refusal_entries(hs, item_id)
    assert entry["case"] == case_id and entry["actor"] == {"id": examiner.id, "role": "examiner"}
    assert entry["data"]["permission"] == "evidence:file:download"
    assert entry["data"]["action"] == "GET /items/{item_id}/file"
    assert entry["data"]["reason"] == row["reason"]
    bundle = c.get("/audit/export", params={"item_id": item_id}, headers=hs.user("auditor").headers)
    assert bundle.status_code == 200 and EventKind.ACCESS_REFUSED.value in bundle.text  # part of the export
    _assert_no_identity(hs)


def test_a_deactivated_accounts_scan_is_refused_and_recorded_with_its_token_subject(h):
    """A deactivated lab user's still-valid token: the scan is 401, recorded with the token's subject, and on the
    item's ledger record; so is a token whose subject has no account at all."""
    c = h.client
    examiner = h.user("examiner")
    case_id = _case(h, examiner, "forensic-exam", "evidence-swabs")
    item_id = _item(h, examiner, case_id)
    gone = h.user("lab", active=False)
    r = c.post(f"/items/{item_id}/scan", json={"location": "shelf-1"}, headers=gone.headers)
    assert r.status_code == 401 and "deactivated" in r.json()["detail"]

    row = _one(_refused(h), object_id=item_id, user_id=gone.user.subject)
    assert row["role"] == "lab" and row["case_id"] == case_id and row["permission"] == "custody:item:check"
    assert row["resource"] == "POST /items/{item_id}/scan"
    assert row["reason"] == "AuthenticationFailed: this staff account is deactivated"
    [entry] = _refusal_entries(h, item_id)
    assert entry["actor"] == {"id": gone.user.subject, "role": "lab"}
    assert entry["data"]["permission"] == "custody:item:check"

    stranger = User(id="U0000000000000X01", username="nobody", role="lab", subject="idp|ext-4711", active=True,
                    created_at=examiner.user.created_at)
    token = mint_token(h.settings, h.app.state.issuer_keys, stranger)
    r = c.post(f"/items/{item_id}/check-out", json={"reason": "take"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    row = _one(_refused(h, user_id="idp|ext-4711"), object_id=item_id)
    assert row["role"] == "unknown" and row["permission"] == "custody:item:check"
    assert row["reason"].startswith("AuthenticationFailed: no staff account for this token")
    assert len(_refusal_entries(h, item_id)) == 2
    _assert_no_identity(h)


def test_scan_and_check_out_by_someone_not_the_custodian_are_refused_recorded_and_ledgered(h):
    """The examiner holds the kit: a lab user's scan (check-in) and check-out are refused; each attempt is in the
    access log and on the item's ledger record, and the item's custody did not change."""
    c = h.client
    examiner, lab = h.user("examiner"), h.user("lab")
    case_id = _case(h, examiner, "forensic-exam", "evidence-swabs")
    item_id = _item(h, examiner, case_id)
    r = c.post(f"/items/{item_id}/scan", json={"location": "lab-shelf-1"}, headers=lab.headers)
    assert r.status_code == 403, r.text
    scan_reason = r.json()["detail"]
    r = c.post(f"/items/{item_id}/check-out", json={"reason": "take it"}, headers=lab.headers)
    assert r.status_code == 409 and examiner.id in r.json()["detail"]

    rows = _refused(h, object_id=item_id)
    assert [(x["resource"], x["user_id"], x["permission"]) for x in rows] == [
        ("POST /items/{item_id}/check-out", lab.id, "custody:item:check"),
        ("POST /items/{item_id}/scan", lab.id, "custody:item:check")]  # newest first
    assert rows[1]["reason"] == f"PermissionDenied: {scan_reason}"
    assert rows[0]["reason"].startswith("Conflict: item is not checked in")
    assert all(x["case_id"] == case_id and x["role"] == "lab" for x in rows)
    entries = _refusal_entries(h, item_id)
    assert [(e["actor"]["id"], e["data"]["action"]) for e in entries] == [
        (lab.id, "POST /items/{item_id}/scan"), (lab.id, "POST /items/{item_id}/check-out")]
    assert c.get(f"/items/{item_id}", headers=examiner.headers).json()["custodian"] == examiner.id
    auditor = h.user("auditor")
    assert c.get("/audit/verify", headers=auditor.headers).json()["ok"] is True
    pdf = c.get("/audit/export.pdf", params={"item_id": item_id}, headers=auditor.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")  # the custody report renders them
    assert _refused(h, user_id=lab.id) == rows
    _assert_no_identity(h)


def test_law_enforcement_read_of_a_hidden_item_is_recorded(h):
    """An officer asks for an item never released to them: refused and recorded (a read: no ledger entry)."""
    c = h.client
    examiner, officer = h.user("examiner"), h.user("law_enforcement")
    case_id = _case(h, examiner, "forensic-exam", "evidence-swabs")
    item_id = _item(h, examiner, case_id)
    for path in (f"/items/{item_id}", f"/items/{item_id}/custody"):
        assert c.get(path, headers=officer.headers).status_code == 404  # hidden: answered as missing
    rows = _refused(h, user_id=officer.id)
    assert {x["permission"] for x in rows} == {"evidence:item:read", "custody:history:read"}
    for x in rows:
        assert x["object_id"] == item_id and x["role"] == "law_enforcement" and x["case_id"] == case_id
        assert x["reason"] == "PermissionDenied: this item was not released or offered to you"
    assert _refusal_entries(h, item_id) == []
    _assert_no_identity(h)


def test_unassigned_examiners_read_of_an_exam_and_a_consent_refusal_are_recorded(h, clock):
    """An examiner not assigned to the case reads its exam (refused by authorize() in the permission
    dependency); an assigned advocate without the sharing release is refused by the checkpoint (ConsentRequired,
    which the checkpoint ledgers itself). Both are in the access log; the assigned examiner's read is a read."""
    c = h.client
    examiner, stranger = h.user("examiner"), h.user("examiner")
    case_id = _case(h, examiner, "forensic-exam")
    advocate = h.user("advocate", assign_to=case_id)
    exam = {"started_at": iso(clock.now()), "narrative": "narrative text"}
    assert c.post(f"/cases/{case_id}/exam", json=exam, headers=examiner.headers).status_code == 201
    assert c.get(f"/cases/{case_id}/exam", headers=examiner.headers).status_code == 200
    r = c.get(f"/cases/{case_id}/exam", headers=stranger.headers)
    assert r.status_code == 403 and "not assigned" in r.json()["detail"]
    r = c.get(f"/cases/{case_id}/exam", headers=advocate.headers)
    assert r.status_code == 403 and "share-with-advocate" in r.json()["detail"]

    refused = _refused(h, case_id=case_id)
    row = _one(refused, user_id=stranger.id)
    assert row["permission"] == "exam:exam:read" and row["object_id"] == case_id
    assert row["resource"] == "GET /cases/{case_id}/exam"
    assert row["reason"].startswith("PermissionDenied: you are not assigned to this case")
    row = _one(refused, user_id=advocate.id)
    assert row["permission"] == "exam:exam:read" and row["role"] == "advocate"
    assert row["reason"].startswith("ConsentRequired:") and "share-with-advocate" in row["reason"]
    with Session(h.engine) as s:
        kinds = s.execute(select(LedgerEntry.kind).where(LedgerEntry.case_id == case_id)).scalars().all()
    assert EventKind.CHECKPOINT_DENIED.value in kinds and EventKind.ACCESS_REFUSED.value not in kinds
    # The default review is the reads, as before; "all" shows both.
    assert [(x["user_id"], x["outcome"]) for x in _log(h, case_id=case_id)] == [(examiner.id, "read")]
    assert {x["outcome"] for x in _log(h, case_id=case_id, outcome="all")} == {"read", "refused"}
    _assert_no_identity(h)


def test_not_refusals_unknown_ids_invalid_bodies_and_missing_tokens_leave_no_row(h):
    """A plain 404 for an unknown id, a 422 and a request without a token are not refused attempts; a junk
    path segment is never recorded as the object."""
    c = h.client
    examiner, lab = h.user("examiner"), h.user("lab")
    case_id = _case(h, examiner, "forensic-exam", "evidence-swabs")
    item_id = _item(h, examiner, case_id)
    assert c.get("/items/E0000000000000000", headers=lab.headers).status_code == 404
    assert c.post(f"/items/{item_id}/scan", json={"location": 5}, headers=lab.headers).status_code == 422
    assert c.post(f"/items/{item_id}/scan", json={"location": "x"}).status_code == 401
    assert c.post(f"/items/{item_id}/scan", json={"location": "x"},
                  headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert _refused(h) == []
    adv = h.user("advocate")  # wrong role, junk (survivor-looking) path segment
    assert c.get("/items/Rosalind Quennell/custody", headers=adv.headers).status_code == 403
    [row] = _refused(h)
    assert row["object_id"] is None and row["permission"] == "custody:history:read"
    _assert_no_identity(h)


def test_a_refusal_that_cannot_be_recorded_still_answers_the_refusal(h, db_url, caplog):
    """If writing the record fails, the caller still gets the original 403 (not a 500) and the failure is logged
    without request data."""
    c = h.client
    examiner, stranger = h.user("examiner"), h.user("examiner")
    case_id = _case(h, examiner, "forensic-exam")
    with h.engine.begin() as conn:  # the database refuses new access-log rows from now on
        if db_url.startswith("sqlite"):
            conn.exec_driver_sql("CREATE TRIGGER t_refuse BEFORE INSERT ON access_log "
                                 "BEGIN SELECT RAISE(ABORT, 'no'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION t_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; "
                                 "END; $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER t_refuse BEFORE INSERT ON access_log "
                                 "FOR EACH ROW EXECUTE FUNCTION t_refuse()")
    with caplog.at_level(logging.ERROR, logger="coc.api"):
        r = c.get(f"/cases/{case_id}/identity", headers=stranger.headers)
    assert r.status_code == 403 and "not assigned" in r.json()["detail"]
    assert any("could not record a refused attempt" in m for m in caplog.messages)
    assert case_id not in caplog.text and stranger.id not in caplog.text


def test_refusal_rows_are_append_only(h):
    """A refusal row cannot be changed or removed (the access log's triggers)."""
    examiner, stranger = h.user("examiner"), h.user("examiner")
    case_id = _case(h, examiner)
    assert h.client.get(f"/cases/{case_id}", headers=stranger.headers).status_code == 403
    assert len(_refused(h, case_id=case_id)) == 1
    for sql in ("UPDATE access_log SET reason = 'x'", "DELETE FROM access_log"):
        with pytest.raises(Exception, match="append-only"), h.engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert len(_refused(h, case_id=case_id)) == 1

