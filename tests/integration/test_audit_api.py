"""The /audit ledger routes through the app, on both databases: proofs verify, bundles verify offline."""

from __future__ import annotations

import base64

import pytest
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.ledger import EventKind, merkle, signing
from evidence import audit
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database with a few custody entries."""
    h = api_harness(db_url, tmp_path)
    with Session(h.engine) as s:
        for i in range(12):
            ledger.append(s, kind=EventKind.CHECKED_IN, actor=Actor(id="U-lab-1", role="lab"), case_id="C-API",
                          item_id=f"I-{i % 3}", data={"location": f"shelf {i}", "seal_intact": True})
        s.commit()
    yield h
    h.close()


def test_audit_routes(harness):
    c, auditor = harness.client, harness.user("auditor")
    h = auditor.headers
    key = c.get("/audit/public-key", headers=h).json()
    pem = key["public_key_pem"].encode()
    head = c.get("/audit/tree-head", headers=h).json()
    size = head["tree_size"]
    assert size >= 12 and signing.verify_tree_head(head, pem)

    log = c.get("/audit/log", params={"item_id": "I-1"}, headers=h).json()
    assert [e["body"]["item"] for e in log] == ["I-1"] * 4

    verify = c.get("/audit/verify", headers=h).json()
    assert verify["ok"] and verify["root_hash"] == head["root_hash"] and verify["tree_head"]["tree_size"] == size
    assert c.get("/audit/verify", params={"deep": True}, headers=h).json()["ok"]

    entry = log[2]
    proof = c.get("/audit/proofs/inclusion", params={"seq": entry["seq"], "tree_size": size}, headers=h).json()
    with Session(harness.engine) as s:
        body = bytes(s.get(ledger.LedgerEntry, entry["seq"]).body)
    assert merkle.verify_inclusion(merkle.leaf_hash(body), entry["seq"] - 1, size,
                                   [bytes.fromhex(p) for p in proof["path"]], bytes.fromhex(head["root_hash"]))
    cons = c.get("/audit/proofs/consistency", params={"first": 5, "second": size}, headers=h).json()
    assert merkle.verify_consistency(5, size, bytes.fromhex(cons["first_root"]), bytes.fromhex(head["root_hash"]),
                                     [bytes.fromhex(p) for p in cons["path"]])
    assert c.get("/audit/proofs/inclusion", params={"seq": size + 1}, headers=h).status_code == 422

    bundle = c.get("/audit/export", params={"item_id": "I-2"}, headers=h).json()
    assert len(bundle["entries"]) == 4 and audit.verify_bundle(bundle, pem).ok
    raw = bytearray(base64.b64decode(bundle["entries"][0]["body_b64"]))
    raw[-3] ^= 1
    bundle["entries"][0]["body_b64"] = base64.b64encode(bytes(raw)).decode()
    assert not audit.verify_bundle(bundle, pem).ok
    pdf = c.get("/audit/export.pdf", params={"case_id": "C-API"}, headers=h)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert c.get("/audit/export", headers=h).status_code == 422


def test_audit_routes_need_audit_permissions(harness):
    c, examiner = harness.client, harness.user("examiner")
    for path in ("/audit/log", "/audit/verify", "/audit/tree-head", "/audit/export?case_id=C-API"):
        assert c.get(path, headers=examiner.headers).status_code == 403, path
    assert c.get("/audit/log").status_code == 401
