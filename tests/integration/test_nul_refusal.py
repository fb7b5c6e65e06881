"""U+0000 anywhere in a request's text is a 422 problem before any route runs (PostgreSQL refuses NUL in text and
would surface a 500); streamed file uploads are raw bytes and may hold 0x00 and the six bytes \\u0000."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from core.ledger import LedgerEntry
from tests.api_helpers import api_harness

CONSENTS = ("forensic-exam", "evidence-swabs", "lab-testing")


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database (SQLite and PostgreSQL) and its own Object-Lock bucket."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-nul-{secrets.token_hex(5)}")
    yield h
    h.close()


def _item(h, examiner) -> str:
    c = h.client
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in CONSENTS:
        r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/items", headers=examiner.headers,
               json={"kind": "swab", "description": "oral swab"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _ledger_size(h) -> int:
    with Session(h.engine) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


def _assert_nul_problem(resp) -> None:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["status"] == 422 and problem["title"] == "Validation failed"
    assert "NUL" in problem["detail"] and "body" in problem["detail"]


def test_transfer_with_nul_in_text_is_422_and_writes_nothing(harness):
    h, c = harness, harness.client
    examiner, lab = h.user("examiner"), h.user("lab")
    item_id = _item(h, examiner)
    url = f"/items/{item_id}/transfers"
    good = {"to_user": lab.id, "reason": "to store", "condition": "sealed"}
    before = _ledger_size(h)
    json_headers = {**examiner.headers, "content-type": "application/json"}
    chunked = json.dumps({**good, "condition": "wet\x00"}).encode()
    cut = chunked.index(b"\\u0000") + 3
    for resp in (
        c.post(url, json={**good, "reason": "to\x00store"}, headers=examiner.headers),  # httpx writes \u0000
        c.post(url, json={**good, "condition": "\x00"}, headers=examiner.headers),
        c.post(url, json={**good, "x\x00": 1}, headers=examiner.headers),  # in a key
        c.post(url, content=json.dumps(good).replace('"to store"', '"to \\\\\\u0000"').encode(),
               headers=json_headers),  # an escaped backslash, then a real \u0000 escape
        c.post(url, content=json.dumps({**good, "reason": "a\x00"}).encode(),
               headers={**examiner.headers, "content-type": "Application/JSON; charset=UTF-8"}),
        c.post(url, content=json.dumps({**good, "reason": "a\x00"}).encode(),
               headers={**examiner.headers, "content-type": "application/vnd.coc+json"}),
        c.post(url, content=iter([chunked[:cut], chunked[cut:]]), headers=json_headers),  # split across chunks
        c.post(url, content=json.dumps({**good, "reason": "x"}).encode("utf-16"), headers=json_headers),
        c.post(url, content=b'{"reason": "raw \x00 byte"}', headers=json_headers),
    ):
        _assert_nul_problem(resp)
    assert _ledger_size(h) == before
    custody = c.get(f"/items/{item_id}/custody", headers=examiner.headers).json()
    assert [e["kind"] for e in custody] == ["collected"]

    # Text that merely looks like the escape is not a NUL: an escaped backslash followed by "u0000".
    r = c.post(url, content=json.dumps({**good, "reason": "literal \\u0000"}).encode(), headers=json_headers)
    assert r.status_code == 201, r.text
    assert r.json()["reason"] == "literal \\u0000"
    assert _ledger_size(h) > before


def test_nul_in_login_form_is_422(harness):
    resp = harness.client.post("/auth/token", content=b"grant_type=password&username=ad%00min&password=x",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_nul_problem(resp)


def test_upload_bytes_with_nul_and_escape_are_stored_unchanged(harness):
    h, c = harness, harness.client
    examiner = h.user("examiner")
    data = b'{"note": "a \\u0000 and a \\U0000 and a raw \x00 byte"}\n' + bytes(range(256)) * 300 + b"\\u0000"
    for content_type in ("application/json", "application/octet-stream"):
        item_id = _item(h, examiner)
        headers = {**examiner.headers, "content-type": content_type}
        r = c.put(f"/items/{item_id}/file", headers=headers,
                  content=(data[i:i + 4096] for i in range(0, len(data), 4096)))
        assert r.status_code == 201, r.text
        assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
        got = c.get(f"/items/{item_id}/file", headers=examiner.headers)
        assert got.status_code == 200 and got.content == data
    # The URL of an upload is still checked.
    r = c.put(f"/items/{item_id}/file", params={"legal_hold": "\x00"}, headers=examiner.headers, content=b"abc")
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
