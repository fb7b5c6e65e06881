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
    return canonical({"v": 1, "seq": seq, "prev": prev, "kind": "custody:transfer:accepted",
                      "at": "2026-12-04T10:00:00.000000Z",
                      "actor": {"id": "U-1", "role": "coordinator"}, "case": case, "item": item, "data": data})


@pytest.fixture
def key(tmp_path):
    previous = signing.set_key_path(tmp_path / "keys" / "ledger.pem")
    yield signing.public_key_pem()
    signing.set_key_path(previous)


STAFF = {"ana": {"username": "ana.examiner", "role": "examiner", "agency": "Centre", "agency_kind": "centre"}}


def _bundle(key: bytes, scope: dict, seqs: list[int], signed: list[int] | None = None,
            staff: dict | None = None) -> dict:
    """A ledger of 4 entries (seq 3 of another case) and the bundle of `seqs` with their inclusion proofs, its
    scope head signing the entries `signed` (default: `seqs`) and the staff directory."""
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
    staff = STAFF if staff is None else staff
    statement = offline.scope_statement(scope=scope, tree_size=tree.size, root_hash=sth["root_hash"], staff=staff,
                                        entries=[(s, sha256_hex(bodies[s - 1])) for s in
                                                 (seqs if signed is None else signed)])
    return {"format": offline.BUNDLE_FORMAT, "scope": scope, "generated_at": "2026-12-04T10:00:00.000000Z",
            "tree_head": sth, "public_key_fingerprint": signing.fingerprint(key), "entries": entries,
            "staff": staff, "scope_head": signing.sign_statement(statement),
            "ledger_verification": {"ok": True, "verified_at": "2026-12-04T10:00:00.000000Z", "entries_checked": 4,
                                    "first_bad_seq": None, "reason": None}}


def test_a_bundle_verifies_with_the_public_key_alone(key):
    report = offline.verify_bundle(_bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 4]), key)
    assert report.ok and report.errors == [] and report.entries_checked == 3
    assert report.ledger == "ledger verified at 2026-12-04 10:00:00 UTC, 4 entries" and report.warnings == []


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
    foreign = _bundle(key, {"case_id": "C-1", "item_id": None}, [1, 2, 3, 4], signed=[1, 2, 4])
    report = offline.verify_bundle(foreign, key)
    assert not report.ok and "entry seq 3 is not one of the scope's entries the scope head signed (added)" \
        in report.errors
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
    gap = ("item I-A: seq 4 (hand-over accepted) by dan (no staff record in the bundle), but the item was held by "
           "cat (no staff record in the bundle): no hand-over between them is on record")
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


SCOPE = {"case_id": "C-1", "item_id": None}


@pytest.mark.parametrize(("seqs", "error"), [
    ([2, 4], "entry seq 1 (first of the 3 entries the scope head signed) is missing from the bundle"),
    ([1, 4], "entry seq 2 (#2 of the 3 entries the scope head signed) is missing from the bundle"),
    ([1, 2], "entry seq 4 (last of the 3 entries the scope head signed) is missing from the bundle"),
    ([], "entry seq 1 (first of the 3 entries the scope head signed) is missing from the bundle"),
], ids=["first", "middle", "last", "all"])
def test_a_dropped_entry_fails_naming_it(key, seqs, error):
    report = offline.verify_bundle(_bundle(key, SCOPE, seqs, signed=[1, 2, 4]), key)
    assert not report.ok and error in report.errors and report.complete is None
    assert f"the bundle holds {len(seqs)} entries; the signed scope head lists 3" in report.errors


def test_dropping_entries_from_an_exported_bundle_fails(key):
    good = _bundle(key, SCOPE, [1, 2, 4])
    assert offline.verify_bundle(good, key).complete == (
        "complete: all 3 entries of case C-1 up to tree size 4, as the scope head signed")
    for drop in (0, 1, 2):
        b = copy.deepcopy(good)
        del b["entries"][drop]
        assert not offline.verify_bundle(b, key).ok, drop
    b = copy.deepcopy(good)
    b["entries"] = []
    report = offline.verify_bundle(b, key)
    assert not report.ok and report.entries_checked == 0


def test_an_empty_bundle_is_ok_only_when_the_signed_count_is_zero(key):
    report = offline.verify_bundle(_bundle(key, {"case_id": "C-9", "item_id": None}, []), key)
    assert report.ok and report.entries_checked == 0
    assert report.complete == "complete: the signed scope head says case C-9 has no entries up to tree size 4"


def test_reordered_or_replaced_entries_fail(key):
    good = _bundle(key, SCOPE, [1, 2, 4])
    b = copy.deepcopy(good)
    b["entries"][0], b["entries"][1] = b["entries"][1], b["entries"][0]
    report = offline.verify_bundle(b, key)
    assert not report.ok and any("order" in e for e in report.errors)
    # seq 2 replaced by seq 3: a valid entry of the same tree (its proof verifies), but not the scope's
    replaced = _bundle(key, SCOPE, [1, 3, 4], signed=[1, 2, 4])
    report = offline.verify_bundle(replaced, key)
    assert not report.ok
    assert "entry seq 2 (#2 of the 3 entries the scope head signed) is missing from the bundle" in report.errors
    assert "entry seq 3 is not one of the scope's entries the scope head signed (added)" in report.errors
    b = copy.deepcopy(good)  # same seq, another entry hash
    b["scope_head"] = _bundle(key, SCOPE, [1, 2, 4])["scope_head"]
    b["scope_head"]["statement"]["entries"][1][1] = "ab" * 32
    assert not offline.verify_bundle(b, key).ok  # the statement no longer matches its signature


def test_a_changed_scope_head_staff_directory_or_scope_fails(key, tmp_path):
    good = _bundle(key, SCOPE, [1, 2, 4])
    assert offline.verify_bundle(good, key).staff == STAFF
    b = copy.deepcopy(good)
    b["staff"]["ana"]["username"] = "someone.else"
    report = offline.verify_bundle(b, key)
    assert not report.ok and any("staff directory" in e for e in report.errors) and report.staff == {}
    b = copy.deepcopy(good)
    b["scope_head"]["statement"]["count"] = 2
    b["scope_head"]["statement"]["entries"].pop()
    assert any("scope head's signature" in e for e in offline.verify_bundle(b, key).errors)
    b = copy.deepcopy(good)
    b["scope"] = {"case_id": "C-1", "item_id": "I-A"}
    assert any("not the scope its scope head signed" in e for e in offline.verify_bundle(b, key).errors)
    b = copy.deepcopy(good)
    del b["scope_head"]
    assert offline.verify_bundle(b, key).errors == [
        "the bundle has no signed scope head: it cannot prove its completeness (entries may have been removed)"]
    b = copy.deepcopy(good)
    b["format"] = "coc-audit-bundle/1"
    assert "cannot prove its completeness" in offline.verify_bundle(b, key).errors[0]
    signing.set_key_path(tmp_path / "other.pem")  # a scope head signed by another key
    b = copy.deepcopy(good)
    b["scope_head"] = signing.sign_statement(good["scope_head"]["statement"])
    assert any("scope head's signature" in e for e in offline.verify_bundle(b, key).errors)


def test_a_scope_statement_is_never_a_tree_head_message():
    with pytest.raises(ValueError):
        signing.statement_message({"root_hash": "00" * 32, "timestamp": "t", "tree_size": 1})
