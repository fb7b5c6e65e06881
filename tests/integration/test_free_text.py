"""Free text out of the permanent ledger (issue #14), end to end over the API on SQLite and PostgreSQL with a real
object store: a canary typed into a transfer reason, a condition, a seal number, a form reference, an item
description, a referral name and a file name is never in a ledger entry nor in the exported bundle's entries;
the API and the court report show it decrypted, and the report proves it matches its ledger entry; after a lawful
erasure the canary is nowhere in the database, reads say "[erased]", and the ledger and the bundle still verify."""

from __future__ import annotations

import json
import secrets
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import ledger
from core.crypto import ERASED_TEXT, CaseText
from evidence import audit
from tests.api_helpers import api_harness

CANARY = "Zeldacanary7Q"  # fits every field (seal numbers and form references are reference codes)


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    # The app's own centre key (its data dir), not the process settings': every request runs under it.
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-text-{secrets.token_hex(5)}")
    yield h
    h.close()


def _ok(r, code=200):
    assert r.status_code == code, r.text
    return r.json()


def _case_with_canaries(h, clock):
    """Every free-text field staff type, each holding the canary."""
    c = h.client
    examiner, lab = h.user("examiner"), h.user("lab")
    case_id = _ok(c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers), 201)["id"]
    advocate = h.user("advocate", assign_to=case_id)
    for scope in ("forensic-exam", "evidence-swabs", "share-with-advocate"):
        _ok(c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{CANARY}",
                         "expires_at": (clock.now() + timedelta(days=90)).isoformat()}), 201)
    item = _ok(c.post(f"/cases/{case_id}/items", headers=examiner.headers,
                      json={"kind": "swab", "description": f"swab given by {CANARY}"}), 201)
    item_id = item["id"]
    named = {**examiner.headers, "Content-Disposition": f"attachment; filename*=UTF-8''{CANARY}.jpg"}
    upload = _ok(c.put(f"/items/{item_id}/file", headers=named, content=b"photo bytes"), 201)
    _ok(c.post(f"/items/{item_id}/seal", json={"seal_number": CANARY}, headers=examiner.headers))
    offer = _ok(c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
                       json={"to_user": lab.id, "reason": f"{CANARY} asked for testing",
                             "condition": f"bag marked {CANARY}", "seal_number": CANARY}), 201)
    # a wrong seal is still refused (commitments compared), and the message names neither seal
    r = c.post(f"/transfers/{offer['id']}/accept", json={"condition": "ok", "seal_number": "S-WRONG"},
               headers=lab.headers)
    assert r.status_code == 422 and "does not match" in r.json()["detail"] and CANARY not in r.text
    accepted = _ok(c.post(f"/transfers/{offer['id']}/accept", headers=lab.headers,
                          json={"condition": f"received from {CANARY}", "seal_number": CANARY, "seal_intact": True}))
    _ok(c.post(f"/cases/{case_id}/advocacy", headers=advocate.headers,
               json={"kind": "referral", "service": "legal-aid", "status": "offered",
                     "referral_to": f"{CANARY} Legal Aid"}), 201)
    return case_id, item_id, examiner, lab, advocate, offer, accepted, upload


def _reads(h, case_id, item_id, examiner, lab, advocate) -> dict:
    c = h.client
    return {"item": _ok(c.get(f"/items/{item_id}", headers=examiner.headers)),
            "history": _ok(c.get(f"/items/{item_id}/custody", headers=lab.headers)),
            "advocacy": _ok(c.get(f"/cases/{case_id}/advocacy", headers=advocate.headers)),
            "consents": _ok(c.get(f"/cases/{case_id}/consents", headers=examiner.headers))["decisions"]}


def _ledger_bytes(engine) -> bytes:
    with Session(engine) as s:
        return b"".join(bytes(e.body) for e in s.execute(sa.select(ledger.LedgerEntry)).scalars())


def _database_dump(engine) -> bytes:
    """Every value of every table (a pg_dump-like SELECT of every column), as bytes."""
    out = []
    with engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\x00".join(out)


def _pdf_text(h, auditor, case_id) -> str:
    pdf = h.client.get("/audit/export.pdf", params={"case_id": case_id}, headers=auditor.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout
    return " ".join(out.decode().split())


def test_free_text_is_kept_out_of_the_ledger_shown_proved_and_erased(harness, db_url, clock):
    h, c = harness, harness.client
    case_id, item_id, examiner, lab, advocate, offer, accepted, upload = _case_with_canaries(h, clock)
    auditor, first, second = h.user("auditor"), h.user("coordinator"), h.user("coordinator")

    # Writes answer with the text, never the commitment.
    assert upload["original_name"] == f"{CANARY}.jpg"
    assert offer["reason"] == f"{CANARY} asked for testing" and offer["seal_number"] == CANARY
    assert accepted["event"]["condition"] == f"received from {CANARY}" and accepted["item"]["seal_number"] == CANARY

    # Not in any ledger entry's body.
    assert CANARY.encode() not in _ledger_bytes(h.engine)
    # The reads show every text decrypted.
    reads = _reads(h, case_id, item_id, examiner, lab, advocate)
    assert reads["item"]["description"] == f"swab given by {CANARY}" and reads["item"]["seal_number"] == CANARY
    offered = next(e for e in reads["history"] if e["kind"] == "transfer-offered")
    assert offered["reason"] == f"{CANARY} asked for testing" and offered["condition"] == f"bag marked {CANARY}"
    assert offered["seal_number"] == CANARY
    assert [a["referral_to"] for a in reads["advocacy"]] == [f"{CANARY} Legal Aid"]
    assert {d["form_ref"] for d in reads["consents"]} == {f"F-{CANARY}"}
    # The rows hold commitments only: the text is in case_text, sealed.
    with Session(h.engine) as s:
        kept = s.execute(sa.select(CaseText).where(CaseText.case_id == case_id)).scalars().all()
        assert {str(t.purpose) for t in kept} >= {"reason", "condition", "seal-number", "form-ref", "referral",
                                                  "description", "file-name"}
        assert all(CANARY.encode() not in bytes(t.ciphertext) for t in kept)
    assert CANARY.encode() not in _database_dump(h.engine)  # nothing in clear anywhere, even before erasure

    # The exported bundle: its entries never hold the canary; its texts section shows it, each matching.
    bundle = _ok(c.get("/audit/export", params={"case_id": case_id}, headers=auditor.headers))
    assert CANARY not in json.dumps(bundle["entries"])
    reason = next(t for t in bundle["texts"] if t["field"] == "reason" and t["seq"] == offered["ledger_seq"])
    assert reason["text"] == f"{CANARY} asked for testing" and reason["matches"] is True
    assert all(t["matches"] is True for t in bundle["texts"])
    pem = _ok(c.get("/audit/public-key", headers=auditor.headers))["public_key_pem"].encode()
    assert audit.verify_bundle(bundle, pem).ok
    # The court report shows the texts and proves each against its ledger entry.
    text = _pdf_text(h, auditor, case_id)
    assert f"{CANARY} asked for testing" in text and f"bag marked {CANARY}" in text
    assert f"text matches ledger entry {offered['ledger_seq']}" in text
    assert "MISMATCH" not in text

    # Lawful erasure by two coordinators: the case key is destroyed.
    _ok(c.post(f"/cases/{case_id}/erasure", headers=first.headers, json={"basis": "survivor-request"}), 201)
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=second.headers))

    reads = _reads(h, case_id, item_id, examiner, lab, advocate)
    assert reads["item"]["description"] == ERASED_TEXT and reads["item"]["seal_number"] == ERASED_TEXT
    offered = next(e for e in reads["history"] if e["kind"] == "transfer-offered")
    assert offered["reason"] == offered["condition"] == offered["seal_number"] == ERASED_TEXT
    assert [a["referral_to"] for a in reads["advocacy"]] == [ERASED_TEXT]
    assert {d["form_ref"] for d in reads["consents"]} == {ERASED_TEXT}
    assert CANARY not in json.dumps(reads)
    # The canary is nowhere in the database.
    h.engine.dispose()
    assert CANARY.encode() not in _database_dump(h.engine)
    if db_url.startswith("sqlite"):
        path = sa.make_url(db_url).database
        for suffix in ("", "-wal"):
            try:
                with open(f"{path}{suffix}", "rb") as f:
                    assert CANARY.encode() not in f.read()
            except FileNotFoundError:
                assert suffix == "-wal"
    # The ledger, and an exported bundle, still verify; the report says the texts were erased.
    assert _ok(c.get("/audit/verify", headers=auditor.headers))["ok"]
    with Session(h.engine) as s:
        assert ledger.verify_chain(s).ok
    bundle = c.get("/audit/export", params={"case_id": case_id}, headers=auditor.headers)
    assert bundle.status_code == 200 and CANARY not in bundle.text
    assert audit.verify_bundle(bundle.json(), pem).ok
    assert {t["text"] for t in bundle.json()["texts"]} == {ERASED_TEXT}
    text = _pdf_text(h, auditor, case_id)
    assert CANARY not in text and "erased (lawful erasure)" in text

    # Custody goes on for the erased case's item: a new reason is recorded as erased, not refused.
    r = c.post(f"/items/{item_id}/check-in", json={"location": "lab-shelf-1", "condition": f"by {CANARY}"},
               headers=lab.headers)
    assert r.status_code == 200 and r.json()["event"]["condition"] == ERASED_TEXT
    assert CANARY.encode() not in _database_dump(h.engine)
