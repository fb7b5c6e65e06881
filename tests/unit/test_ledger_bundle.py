"""core.ledger.bundle verifies an audit bundle offline: a bundle built here with a fresh key, no database."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from core.ledger import bundle as offline
from core.ledger import canonical, merkle, sha256_hex, signing
from core.ledger.model import GENESIS

AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _body(seq: int, prev: str, case: str, item: str | None, data: dict) -> bytes:
    return canonical({"v": 1, "seq": seq, "prev": prev, "kind": "custody:item:transferred",
                      "at": "2026-12-04T10:00:00.000000Z",
                      "actor": {"id": "U-1", "role": "coordinator"}, "case": case, "item": item, "data": data})


@pytest.fixture
def key(tmp_path):
    previous = signing.set_key_path(tmp_path / "keys" / "ledger.pem")
    yield signing.public_key_pem()
    signing.set_key_path(previous)


def _bundle(key: bytes, scope: dict, seqs: list[int]) -> dict:
    """A ledger of 4 entries (seq 3 of another case) and the bundle of `seqs` with their inclusion proofs."""
    bodies, prev = [], GENESIS
    for seq, (case, data) in enumerate([("C-1", {"from_user": "ana", "to_user": "ben"}),
                                        ("C-1", {"from_user": "ben", "to_user": "cat"}),
                                        ("C-2", {}),
                                        ("C-1", {"from_user": "dan", "to_user": "eve"})], start=1):
        body = _body(seq, prev, case, "I-A" if case == "C-1" else "I-B", data)
        bodies.append(body)
        prev = sha256_hex(body)
    tree = merkle.MemoryTree(merkle.leaf_hash(b) for b in bodies)
    sth = signing.sign_tree_head(tree.size, tree.root(), AT)
    entries = [{"seq": s, "leaf_index": s - 1, "body_b64": base64.b64encode(bodies[s - 1]).decode(),
                "entry_hash": sha256_hex(bodies[s - 1]), "decoded": json.loads(bodies[s - 1]),
                "inclusion_proof": [p.hex() for p in merkle.inclusion_proof(s - 1, tree.size, tree)]} for s in seqs]
    return {"format": offline.BUNDLE_FORMAT, "scope": scope, "generated_at": "2026-12-04T10:00:00.000000Z",
            "tree_head": sth, "public_key_fingerprint": signing.fingerprint(key), "entries": entries,
            "ledger_verification": {"ok": True, "verified_at": "2026-12-04T10:00:00.000000Z", "entries_checked": 4,
                                    "first_bad_seq": None, "reason": None}}


def test_a_bundle_verifies_with_the_public_key_alone(key):
    report = offline.verify_bundle(_bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 4]), key)
    assert report.ok and report.errors == [] and report.entries_checked == 3
    assert report.ledger == "ledger verified at 2026-12-04T10:00:00.000000Z, 4 entries" and report.warnings == []


def test_tampering_or_another_key_or_a_foreign_entry_fails(key, tmp_path):
    good = _bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 4])
    changed = copy.deepcopy(good)
    forged = json.loads(base64.b64decode(changed["entries"][1]["body_b64"]))
    forged["data"]["to_user"] = "mallory"
    changed["entries"][1]["body_b64"] = base64.b64encode(canonical(forged)).decode()
    assert not offline.verify_bundle(changed, key).ok
    foreign = _bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 3])
    report = offline.verify_bundle(foreign, key)
    assert not report.ok and any("another case" in e for e in report.errors)
    signing.set_key_path(tmp_path / "other.pem")
    assert not offline.verify_bundle(good, signing.public_key_pem()).ok


def test_extra_warnings_run_after_every_entry_verified(key):
    bundle = _bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 4])
    seen = []
    report = offline.verify_bundle(bundle, key, extra_warnings=lambda b: seen.append(b) or ["gap at seq 4"])
    assert report.ok and report.warnings == ["gap at seq 4"] and seen == [bundle]
    assert offline.entry_doc(bundle["entries"][2])["data"] == {"from_user": "dan", "to_user": "eve"}


def test_the_offline_verifier_imports_nothing_above_core_and_no_database():
    code = ("import sys, core.ledger.bundle; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'evidence', 'policies', 'api', 'flows'} "
            "or m in {'core.db', 'core.settings'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_evidence_audit_verify_bundle_adds_the_custody_gaps_as_warnings(key):
    from evidence import audit

    bundle = _bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 4])  # seq 4 released by dan, held by cat
    gap = "item I-A: seq 4 released by dan but last holder was cat"
    report = audit.verify_bundle(bundle, key)
    assert report.ok and report.warnings == [gap] and audit.custody_gaps(bundle) == [gap]
    assert offline.verify_bundle(bundle, key).warnings == []
    assert [r["to"] for r in audit.custody_rows(bundle)] == ["ben", "cat", "eve"]


def test_the_verify_bundle_cli_path_opens_no_database_and_loads_no_server():
    code = ("import sys; from evidence.audit.custody_rows import verify_bundle; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'api', 'flows', 'policies'} "
            "or m in {'core.db', 'core.settings', 'evidence.verification', 'fastapi'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
