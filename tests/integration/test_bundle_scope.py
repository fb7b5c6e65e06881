"""Offline bundle verification: every entry must be within the bundle's scope (case OR item, like the export), and
malformed bundles are failed reports, never exceptions; the custody view reads the verified bytes, not `decoded`."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.ledger import EventKind, signing
from core.ledger import bundle as bundle_mod
from evidence import audit


@pytest.fixture
def key(tmp_path):
    previous = signing.set_key_path(tmp_path / "keys" / "ledger.pem")
    yield signing.public_key_pem()
    signing.set_key_path(previous)


# (case, item, kind, data): C-1 holds I-A and I-B; C-2 holds I-C, and one entry of item I-A is recorded under C-2.
STEPS = [
    ("C-1", "I-A", EventKind.ITEM_COLLECTED, {"custodian": "U-exam", "location": "exam room"}),
    ("C-2", "I-C", EventKind.ITEM_COLLECTED, {"custodian": "U-other", "location": "elsewhere"}),
    ("C-1", None, EventKind.CASE_OPENED, {}),
    ("C-1", "I-A", EventKind.ITEM_SEALED, {"seal_number": "S-1", "seal_intact": True}),
    ("C-2", "I-C", EventKind.TRANSFER_ACCEPTED, {"from_user": "U-other", "to_user": "U-lab", "reason": "c2"}),
    ("C-1", "I-B", EventKind.ITEM_COLLECTED, {"custodian": "U-exam"}),
    ("C-1", "I-A", EventKind.TRANSFER_ACCEPTED, {"from_user": "U-exam", "to_user": "U-lab", "reason": "analysis",
                                                "seal_number": "S-1", "seal_intact": True, "condition": "good"}),
    ("C-2", "I-A", EventKind.CHECKED_IN, {"location": "freezer 3", "custodian": "U-lab"}),
    ("C-2", "I-C", EventKind.CHECKED_IN, {"location": "shelf 9"}),
    ("C-1", "I-B", EventKind.CHECKED_IN, {"location": "shelf 1"}),
]


@pytest.fixture
def scope_db(engine, clock, key):
    actor = Actor(id="U-exam", role="examiner")
    with Session(engine) as s:
        for case, item, kind, data in STEPS:
            clock.advance(timedelta(minutes=3))
            ledger.append(s, kind=kind, actor=actor, case_id=case, item_id=item, data=data)
        s.commit()
    return engine


def _export(engine, **scope: str) -> dict[str, Any]:
    with Session(engine) as s:
        return json.loads(json.dumps(audit.export_bundle(s, **scope)))


def _seqs(bundle: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in bundle["entries"]]


def _with_foreign(bundle: dict[str, Any], foreign: dict[str, Any]) -> dict[str, Any]:
    b = copy.deepcopy(bundle)
    b["entries"] = sorted(b["entries"] + [copy.deepcopy(foreign)], key=lambda e: e["seq"])
    return b


def test_both_scope_ids_select_case_or_item_and_verify(scope_db, key):
    both = _export(scope_db, case_id="C-1", item_id="I-A")
    assert _seqs(both) == [1, 3, 4, 6, 7, 8, 10]  # seq 8 is item I-A recorded under case C-2
    report = audit.verify_bundle(both, key)
    assert report.ok, report.errors
    for scope in ({"case_id": "C-1"}, {"item_id": "I-A"}, {"item_id": "I-C"}, {"case_id": "C-2"}):
        report = audit.verify_bundle(_export(scope_db, **scope), key)
        assert report.ok, (scope, report.errors)


def test_foreign_case_entry_fails_with_both_scope_ids(scope_db, key):
    both = _export(scope_db, case_id="C-1", item_id="I-A")
    other = _export(scope_db, case_id="C-2")
    assert both["tree_head"]["root_hash"] == other["tree_head"]["root_hash"]  # proofs are valid in both bundles
    for foreign in (e for e in other["entries"] if e["decoded"]["item"] == "I-C"):
        report = audit.verify_bundle(_with_foreign(both, foreign), key)
        assert not report.ok
        # Wrong are the scope and the completeness: bytes, proof, signature and chain links all check out.
        n = len(both["entries"])
        assert report.errors == [f"entry #{_seqs(_with_foreign(both, foreign)).index(foreign['seq']) + 1} "
                                 f"(seq {foreign['seq']}): entry belongs to neither case C-1 nor item I-A",
                                 f"entry seq {foreign['seq']} is not one of the scope's entries the scope head "
                                 "signed (added)",
                                 f"the bundle holds {n + 1} entries; the signed scope head lists {n}"]


def test_single_scope_id_must_match(scope_db, key):
    by_case = _export(scope_db, case_id="C-1")
    by_item = _export(scope_db, item_id="I-A")
    other = _export(scope_db, case_id="C-2")
    seq8 = next(e for e in other["entries"] if e["seq"] == 8)  # item I-A, case C-2
    report = audit.verify_bundle(_with_foreign(by_case, seq8), key)
    assert not report.ok and any("another case" in e for e in report.errors)
    report = audit.verify_bundle(_with_foreign(by_item, next(e for e in other["entries"] if e["seq"] == 9)), key)
    assert not report.ok and any("another item" in e for e in report.errors)
    assert 8 in _seqs(by_item) and audit.verify_bundle(by_item, key).ok  # the item's entry under case C-2


@pytest.mark.parametrize("scope", [None, [], "C-1", {}, {"case_id": None, "item_id": None},
                                   {"case_id": "", "item_id": ""}, {"case_id": 5}, {"item_id": ["I-A"]}])
def test_missing_or_malformed_scope_fails(scope_db, key, scope):
    bundle = _export(scope_db, case_id="C-1", item_id="I-A")
    if scope is None:
        del bundle["scope"]
    else:
        bundle["scope"] = scope
    report = audit.verify_bundle(bundle, key)
    assert not report.ok and "scope" in report.errors[0]


def _never_raises(bundle: Any, key: bytes) -> audit.BundleReport:
    report = audit.verify_bundle(bundle, key)
    assert isinstance(report, audit.BundleReport)
    audit.custody_rows(bundle)
    audit.custody_gaps(bundle)
    return report


@pytest.mark.parametrize("junk", [1, "entry", None, [], True, 2.5, {"seq": 1}])
def test_non_object_or_empty_entries_fail(scope_db, key, junk):
    bundle = _export(scope_db, case_id="C-1")
    bundle["entries"].insert(1, junk)
    report = _never_raises(bundle, key)
    assert not report.ok and report.errors and all("entry #2" in e or "scope head" in e for e in report.errors)
    assert any("entry #2" in e for e in report.errors)
    assert report.entries_checked == len(bundle["entries"]) - 1
    assert audit.render_custody_pdf(bundle).startswith(b"%PDF-")


@pytest.mark.parametrize("decoded", ["text", None, [], 7, {"seq": 1}, {"data": None}])
def test_broken_decoded_view_fails_and_is_never_shown(scope_db, key, decoded):
    bundle = _export(scope_db, item_id="I-A")
    for entry in bundle["entries"]:
        entry["decoded"] = copy.deepcopy(decoded)
    report = _never_raises(bundle, key)
    assert not report.ok and all("decoded view" in e for e in report.errors)
    rows = audit.custody_rows(bundle)
    transfer = next(r for r in rows if r["event"] == EventKind.TRANSFER_ACCEPTED)
    assert (transfer["from"], transfer["to"], transfer["reason"]) == ("U-exam", "U-lab", "analysis")
    assert audit.render_custody_pdf(bundle).startswith(b"%PDF-")


def test_custody_view_reads_the_verified_bytes_not_decoded(scope_db, key):
    bundle = _export(scope_db, item_id="I-A")
    entry = next(e for e in bundle["entries"] if e["decoded"]["kind"] == EventKind.TRANSFER_ACCEPTED)
    entry["decoded"]["data"].update(to_user="U-forger", reason="forged", seal_intact=False)
    assert not audit.verify_bundle(bundle, key).ok
    row = next(r for r in audit.custody_rows(bundle) if r["seq"] == str(entry["seq"]))
    assert (row["to"], row["reason"], row["seal_intact"]) == ("U-lab", "analysis", "yes")
    entry["decoded"]["item"] = "I-Z"  # a forged hand-off in `decoded` cannot invent a custody gap either
    assert audit.custody_gaps(bundle) == []


@pytest.mark.parametrize("field", ["seq", "body_b64", "entry_hash", "inclusion_proof"])
def test_missing_fields_fail(scope_db, key, field):
    bundle = _export(scope_db, case_id="C-1")
    del bundle["entries"][2][field]
    report = _never_raises(bundle, key)
    assert not report.ok and any(field in e for e in report.errors), report.errors


def test_optional_fields_may_be_absent(scope_db, key):
    bundle = _export(scope_db, case_id="C-1")
    for entry in bundle["entries"]:
        del entry["decoded"], entry["leaf_index"]
    assert audit.verify_bundle(bundle, key).ok


@pytest.mark.parametrize(("field", "value"), [
    ("seq", "1"), ("seq", True), ("seq", 1.0), ("seq", None), ("seq", 10 ** 30), ("seq", -1),
    ("body_b64", 123), ("body_b64", ["eyJ9"]), ("body_b64", "not base64!"), ("body_b64", base64.b64encode(b"[1]")),
    ("body_b64", "W10="), ("body_b64", "//79"), ("body_b64", ""),
    ("entry_hash", None), ("entry_hash", 5), ("entry_hash", ["x"]),
    ("inclusion_proof", "ab" * 32), ("inclusion_proof", {"0": "ab"}), ("inclusion_proof", [1]),
    ("inclusion_proof", ["zz" * 32]), ("inclusion_proof", None),
    ("leaf_index", "0"), ("leaf_index", True), ("leaf_index", None), ("leaf_index", 99),
])
def test_wrong_entry_field_types_fail(scope_db, key, field, value):
    bundle = _export(scope_db, case_id="C-1")
    bundle["entries"][1][field] = value.decode() if isinstance(value, bytes) else value
    report = _never_raises(bundle, key)
    assert not report.ok and report.errors, (field, value)
    assert audit.render_custody_pdf(bundle).startswith(b"%PDF-")


@pytest.mark.parametrize(("field", "value"), [
    ("tree_head", None), ("tree_head", []), ("tree_head", "sth"), ("tree_head", {"tree_size": "1"}),
    ("entries", None), ("entries", {}), ("entries", "[]"), ("format", None), ("public_key_fingerprint", 5),
    ("generated_at", {"x": 1}),
])
def test_wrong_bundle_field_types_fail_or_are_ignored(scope_db, key, field, value):
    bundle = _export(scope_db, case_id="C-1")
    bundle[field] = value
    report = _never_raises(bundle, key)
    assert report.ok == (field == "generated_at"), report.errors
    assert audit.render_custody_pdf(bundle).startswith(b"%PDF-")


@pytest.mark.parametrize("bundle", [None, [], "bundle", 3, True, {}, {"format": audit.BUNDLE_FORMAT}])
def test_non_bundles_fail(key, bundle):
    report = _never_raises(bundle, key)
    assert not report.ok and report.errors
    assert audit.render_custody_pdf(bundle).startswith(b"%PDF-")


def test_bad_keys_fail(scope_db, key):
    bundle = _export(scope_db, case_id="C-1")
    for bad in (b"", b"garbage", "not bytes", None):
        report = audit.verify_bundle(bundle, bad)  # type: ignore[arg-type]
        assert not report.ok and "public key" in report.errors[0]


def test_deeply_nested_entry_bytes_fail(scope_db, key):
    bundle = _export(scope_db, case_id="C-1")
    body = b"[" * 100_000 + b"]" * 100_000
    entry = bundle["entries"][0]
    entry.update(body_b64=base64.b64encode(body).decode(), entry_hash=hashlib.sha256(body).hexdigest())
    entry.pop("decoded")
    report = _never_raises(bundle, key)
    assert not report.ok


# -- property: arbitrary JSON-shaped mutations ------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _mutate(bundle: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Apply one JSON-shaped change somewhere in the bundle (may be anywhere, including the entry bytes)."""
    paths = _paths(bundle)
    path = data.draw(st.sampled_from(paths), label="path")
    action = data.draw(st.sampled_from(["replace", "delete", "copy", "tweak", "forge-body", "insert"]),
                       label="action")
    if action == "forge-body":  # a consistent forgery: edited bytes with matching entry_hash and decoded view
        entries = bundle.get("entries")
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            return bundle
        entry = data.draw(st.sampled_from([e for e in entries if isinstance(e, dict)]), label="entry")
        try:
            doc = json.loads(base64.b64decode(entry["body_b64"]))
        except (KeyError, TypeError, ValueError):
            return bundle
        if not isinstance(doc, dict):
            return bundle
        field = data.draw(st.sampled_from(sorted(doc) or ["x"]), label="field")
        doc[field] = data.draw(JSON, label="value")
        body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        entry.update(body_b64=base64.b64encode(body).decode(), entry_hash=hashlib.sha256(body).hexdigest(),
                     decoded=doc)
        return bundle
    if not path:  # the whole bundle
        return data.draw(JSON, label="bundle") if action == "replace" else bundle
    parent, last = _get(bundle, path[:-1]), path[-1]
    if action == "replace":
        parent[last] = data.draw(JSON, label="value")
    elif action == "delete":
        del parent[last]
    elif action == "copy":  # another value of the same bundle: plausible shapes in the wrong place
        parent[last] = copy.deepcopy(_get(bundle, data.draw(st.sampled_from(paths), label="source")))
    elif action == "insert" and isinstance(parent, list):
        parent.insert(last, data.draw(JSON, label="value"))
    elif action == "tweak":
        value = parent[last]
        if isinstance(value, str) and value:
            i = data.draw(st.integers(0, len(value) - 1), label="at")
            parent[last] = value[:i] + data.draw(st.characters(), label="char") + value[i + 1:]
        elif isinstance(value, int) and not isinstance(value, bool):
            parent[last] = value + data.draw(st.sampled_from([-1, 1]), label="delta")
    return bundle


@pytest.fixture
def good_bundle(scope_db):
    return _export(scope_db, case_id="C-1", item_id="I-A")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_bundles_never_raise_and_never_verify_changed_bytes(good_bundle, key, data):
    truth = {e["seq"]: base64.b64decode(e["body_b64"]) for e in good_bundle["entries"]}
    bundle: Any = copy.deepcopy(good_bundle)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not isinstance(bundle, dict):
            break
        bundle = _mutate(bundle, data)
    report = _never_raises(bundle, key)
    if report.ok:
        # ok means: every entry carries exactly the ledger's bytes for its sequence number, within the scope.
        for entry in bundle["entries"]:
            body = base64.b64decode(entry["body_b64"], validate=True)
            assert body == truth[entry["seq"]]
            doc = json.loads(body)
            assert doc["case"] == bundle["scope"]["case_id"] or doc["item"] == bundle["scope"]["item_id"]
    changed = (not isinstance(bundle, dict) or not isinstance(bundle.get("entries"), list)
               or any(not isinstance(e, dict) or not isinstance(e.get("seq"), int)
                      or bundle_mod.entry_body(e) != truth.get(e["seq"]) for e in bundle["entries"]))
    if changed:
        assert not report.ok
