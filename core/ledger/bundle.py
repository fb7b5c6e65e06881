"""Offline audit-bundle verification: needs only a bundle and the ledger's public key (no database, no server).

Bundle format "coc-audit-bundle/2" (a JSON object, exported by evidence.audit.export_bundle):
  scope {case_id, item_id}, generated_at, tree_head (core.ledger.signing signed tree head), public_key_fingerprint,
  entries: [{seq, leaf_index, body_b64 (the exact stored bytes), entry_hash, decoded (display only),
             inclusion_proof: [hex, ...]}] in seq order,
  staff: {staff id: {username, role, agency, agency_kind}} of every staff id named in the entries,
  scope_head: a signed statement (core.ledger.signing.sign_statement, the tree heads' key) of
    {format "coc-scope-head/1", bundle_format, scope, tree_size, root_hash, count,
     entries: [[seq, entry_hash], ...] (every entry of the scope up to tree_size, in order), staff_sha256}.
The scope head makes a bundle prove its completeness: an entry dropped, added, reordered or replaced, or a
changed staff directory, fails. A "coc-audit-bundle/1" bundle (before scope heads) fails: it cannot prove that
no entry was removed.
`verify_bundle` checks it with core.ledger.merkle / signing alone. Every entry must be of the scope's case or of
its item (the export's selection). `decoded` is a convenience copy: it must equal the parsed bytes; readers of
a bundle (custody rows, PDF) use `entry_doc`, which reads body_b64, never `decoded`.
`ledger_verification` (evidence.verification.statement): the exporting server's whole-ledger verification at
export time {ok, verified_at, entries_checked, first_bad_seq, reason, statement}. It is the server's word, not
covered by the tree head's signature; verify_bundle fails a bundle that says the ledger was not intact and
warns when a bundle does not say (`ledger_status`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.ledger import merkle, signing

BUNDLE_FORMAT = "coc-audit-bundle/2"
OLD_FORMATS = ("coc-audit-bundle/1",)
SCOPE_HEAD_FORMAT = "coc-scope-head/1"
# Keys of an entry's data that name a staff member (besides the entry's actor).
STAFF_KEYS = ("from_user", "to_user", "custodian")


@dataclass
class BundleReport:
    """Outcome of an offline bundle verification: ok, the errors found, and softer custody warnings."""

    ok: bool = True
    entries_checked: int = 0
    ledger: str | None = None  # the exporting server's whole-ledger verification, as the bundle states it
    complete: str | None = None  # what the signed scope head proves about the bundle's completeness
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    staff: dict[str, Any] = field(default_factory=dict)  # the signed staff directory (names of custodians)

    def fail(self, message: str) -> None:
        """Record an error (the bundle does not verify)."""
        self.ok = False
        self.errors.append(message)


def _unhex32(value: Any) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else b""
    if len(raw) != 32:
        raise ValueError("not a 32-byte hex hash")
    return raw


def is_int(value: Any) -> bool:
    """A JSON integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def entry_body(entry: Any) -> bytes | None:
    """The exact stored bytes of a bundle entry (its body_b64), or None when missing or not strict base64."""
    if not isinstance(entry, dict) or not isinstance(entry.get("body_b64"), str):
        return None
    try:
        return base64.b64decode(entry["body_b64"], validate=True)
    except ValueError:
        return None


def entry_doc(entry: Any) -> dict[str, Any] | None:
    """The ledger document parsed from an entry's own bytes (never its untrusted `decoded` view), or None."""
    body = entry_body(entry)
    if body is None:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, compact, UTF-8), as the signing module uses."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def staff_ids(doc: dict[str, Any]) -> list[str]:
    """The staff ids an entry names: its actor and the people in its data (system actors are not staff)."""
    actor = doc.get("actor") if isinstance(doc.get("actor"), dict) else {}
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    ids = [actor.get("id")] + [data.get(k) for k in STAFF_KEYS]
    return [i for i in ids if isinstance(i, str) and i and not i.startswith("system:")]


def scope_statement(*, scope: dict[str, Any], tree_size: int, root_hash: str, entries: list[tuple[int, str]],
                    staff: dict[str, Any]) -> dict[str, Any]:
    """The statement a scope head signs: the scope, the tree it was cut from, every entry (seq, hash) of the
    scope in order, and the SHA-256 of the canonical staff directory."""
    return {"format": SCOPE_HEAD_FORMAT, "bundle_format": BUNDLE_FORMAT,
            "scope": {"case_id": scope.get("case_id") or None, "item_id": scope.get("item_id") or None},
            "tree_size": tree_size, "root_hash": root_hash, "count": len(entries),
            "entries": [[seq, digest] for seq, digest in entries],
            "staff_sha256": hashlib.sha256(canonical_json(staff)).hexdigest()}


def _scope_ids(scope: Any) -> tuple[str | None, str | None] | str:
    """(case_id, item_id) of a bundle's scope, at least one given; or the reason the scope is unusable."""
    if not isinstance(scope, dict):
        return "the bundle has no scope (case_id / item_id)"
    case_id, item_id = scope.get("case_id"), scope.get("item_id")
    if any(v is not None and not isinstance(v, str) for v in (case_id, item_id)):
        return "the bundle's scope case_id / item_id are not strings"
    if not case_id and not item_id:
        return "the bundle's scope names neither a case nor an item"
    return case_id or None, item_id or None


def _scope_mismatch(doc: dict[str, Any], case_id: str | None, item_id: str | None) -> str | None:
    """Why an entry is outside the scope, or None: like the export (evidence.audit.export_bundle), an entry of
    the case OR of the item."""
    if (case_id and doc.get("case") == case_id) or (item_id and doc.get("item") == item_id):
        return None
    if case_id and item_id:
        return f"entry belongs to neither case {case_id} nor item {item_id}"
    return "entry belongs to another case" if case_id else "entry belongs to another item"


def verify_bundle(bundle: Any, public_key_pem: bytes, *,
                  extra_warnings: Callable[[dict[str, Any]], Iterable[str]] | None = None) -> BundleReport:
    """Check every entry's bytes → leaf → proof → root → signature, chain links between neighbours, and that
    every entry is within the bundle's scope. Never raises: any malformed input is a failed report.

    `extra_warnings(bundle)`, when given, adds softer findings once every entry was checked (evidence.audit
    passes its custody-gap check: the custody meaning of an entry's data is not the ledger's business)."""
    report = BundleReport()
    try:
        _verify_bundle(bundle, public_key_pem, report, extra_warnings)
    except Exception as exc:  # noqa: BLE001 - a bundle that cannot be checked does not verify
        report.fail(f"the bundle could not be checked ({exc.__class__.__name__})")
    if isinstance(bundle, dict):  # reported even when the entries could not be checked
        _check_ledger_statement(bundle.get("ledger_verification"), report)
    return report


def _verify_bundle(bundle: Any, public_key_pem: bytes, report: BundleReport,
                   extra_warnings: Callable[[dict[str, Any]], Iterable[str]] | None) -> None:
    if isinstance(public_key_pem, str):
        public_key_pem = public_key_pem.encode()
    try:
        if not isinstance(public_key_pem, bytes):
            raise TypeError("not bytes")
        fp = signing.fingerprint(public_key_pem)
    except (ValueError, TypeError):
        report.fail("the public key is not an Ed25519 PEM key")
        return
    if isinstance(bundle, dict) and bundle.get("format") in OLD_FORMATS:
        report.fail(f"an older {bundle['format']} bundle: it carries no signed scope head, so it cannot prove "
                    "its completeness (entries may have been removed); export it again")
        return
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        report.fail(f"not a {BUNDLE_FORMAT} bundle")
        return
    sth = bundle.get("tree_head")
    if not isinstance(sth, dict) or not signing.verify_tree_head(sth, public_key_pem):
        report.fail("the tree head's signature does not verify with this public key")
        return
    if bundle.get("public_key_fingerprint") != fp or sth.get("key_fingerprint") != fp:
        report.fail("the bundle names a different signing key than the one given")
    size, root = sth["tree_size"], bytes.fromhex(sth["root_hash"])  # checked by verify_tree_head
    scope = _scope_ids(bundle.get("scope"))
    if isinstance(scope, str):
        report.fail(scope)
        return
    case_id, item_id = scope
    entries = bundle.get("entries")
    if not isinstance(entries, list):
        report.fail("the bundle has no entry list")
        return
    signed = _scope_head(bundle, public_key_pem, fp, sth, report)
    previous: tuple[int, str] | None = None
    present: list[tuple[Any, Any]] = []
    for pos, entry in enumerate(entries):
        if not isinstance(entry, dict):
            report.fail(f"entry #{pos + 1}: not a JSON object")
            continue
        seq = entry.get("seq")
        present.append((seq, entry.get("entry_hash")))
        where = f"entry #{pos + 1} (seq {seq if is_int(seq) else '?'})"
        missing = [k for k in ("seq", "body_b64", "entry_hash", "inclusion_proof") if k not in entry]
        if missing:
            report.fail(f"{where}: malformed (missing {', '.join(missing)})")
            continue
        if not is_int(seq) or not 1 <= seq <= size:
            report.fail(f"{where}: sequence number is outside the signed tree of size {size}")
            continue
        body = entry_body(entry)
        if body is None:
            report.fail(f"{where}: malformed (body_b64 is not base64 text)")
            continue
        proof_hex = entry["inclusion_proof"]
        try:
            if not isinstance(proof_hex, list):
                raise ValueError("not a list")
            proof = [_unhex32(p) for p in proof_hex]
        except ValueError:
            report.fail(f"{where}: malformed (inclusion_proof is not a list of 32-byte hex hashes)")
            continue
        doc = entry_doc(entry)
        if doc is None:
            report.fail(f"{where}: the entry's bytes are not a JSON object")
            continue
        digest = hashlib.sha256(body).hexdigest()
        if entry["entry_hash"] != digest:
            report.fail(f"{where}: entry_hash does not match the entry's bytes")
        leaf_index = entry.get("leaf_index", seq - 1)
        if not is_int(leaf_index) or leaf_index != seq - 1 or doc.get("seq") != seq:
            report.fail(f"{where}: the entry's bytes carry a different sequence number")
        if "decoded" in entry and entry["decoded"] != doc:
            report.fail(f"{where}: the decoded view does not match the entry's bytes")
        if not merkle.verify_inclusion(merkle.leaf_hash(body), seq - 1, size, proof, root):
            report.fail(f"{where}: the inclusion proof does not lead to the signed root")
        mismatch = _scope_mismatch(doc, case_id, item_id)
        if mismatch:
            report.fail(f"{where}: {mismatch}")
        if previous is not None:
            if seq <= previous[0]:
                report.fail(f"{where}: entries are not in increasing sequence order")
            elif seq == previous[0] + 1 and doc.get("prev") != previous[1]:
                report.fail(f"{where}: does not link to the entry before it")
        previous = (seq, digest)
        report.entries_checked += 1
    if signed is not None:
        _check_complete(signed, present, report)
    if extra_warnings is not None:
        report.warnings.extend(extra_warnings(bundle))


def _scope_head(bundle: dict[str, Any], public_key_pem: bytes, fp: str, sth: dict[str, Any],
                report: BundleReport) -> dict[str, Any] | None:
    """The verified statement of the bundle's signed scope head, or None (and the bundle fails)."""
    head = bundle.get("scope_head")
    if head is None:
        report.fail("the bundle has no signed scope head: it cannot prove its completeness (entries may have "
                    "been removed)")
        return None
    if not isinstance(head, dict) or not signing.verify_statement(head, public_key_pem):
        report.fail("the scope head's signature does not verify with this public key")
        return None
    st = head["statement"]
    if st.get("format") != SCOPE_HEAD_FORMAT or st.get("bundle_format") != BUNDLE_FORMAT:
        report.fail(f"the scope head is not a {SCOPE_HEAD_FORMAT} statement of a {BUNDLE_FORMAT} bundle")
        return None
    if head.get("key_fingerprint") != fp:
        report.fail("the scope head names a different signing key than the one given")
    if st.get("tree_size") != sth.get("tree_size") or st.get("root_hash") != sth.get("root_hash"):
        report.fail("the scope head was cut from another tree than the bundle's signed tree head")
    scope = bundle.get("scope") if isinstance(bundle.get("scope"), dict) else {}
    if st.get("scope") != {"case_id": scope.get("case_id") or None, "item_id": scope.get("item_id") or None}:
        report.fail("the bundle's scope is not the scope its scope head signed")
    listed = st.get("entries")
    if (not isinstance(listed, list) or not is_int(st.get("count")) or st["count"] != len(listed)
            or any(not isinstance(x, list) or len(x) != 2 or not is_int(x[0]) for x in listed)):
        report.fail("the scope head's entry list is malformed")
        return None
    staff = bundle.get("staff", {})
    try:
        staff_ok = hashlib.sha256(canonical_json(staff)).hexdigest() == st.get("staff_sha256")
    except (TypeError, ValueError, RecursionError):
        staff_ok = False
    if not staff_ok or not isinstance(staff, dict):
        report.fail("the staff directory (names and roles of the custodians) is not the one the scope head "
                    "signed")
    else:
        report.staff = staff
    return st


def _check_complete(st: dict[str, Any], present: list[tuple[Any, Any]], report: BundleReport) -> None:
    """The bundle's entries must be exactly the signed list: same count, same order, same hashes."""
    listed = [(x[0], x[1]) for x in st["entries"]]
    signed_hash = dict(listed)
    have = {seq for seq, _ in present if is_int(seq)}
    scope = st["scope"]
    what = " and ".join(f"{k.split('_')[0]} {v}" for k, v in scope.items() if v)
    before = len(report.errors)
    for pos, (seq, _digest) in enumerate(listed):
        if seq not in have:
            where = ("first" if pos == 0 else "last" if pos == len(listed) - 1 else f"#{pos + 1}")
            report.fail(f"entry seq {seq} ({where} of the {len(listed)} entries the scope head signed) is missing "
                        "from the bundle")
    for seq, digest in present:
        if is_int(seq) and seq not in signed_hash:
            report.fail(f"entry seq {seq} is not one of the scope's entries the scope head signed (added)")
        elif is_int(seq) and digest != signed_hash[seq]:
            report.fail(f"entry seq {seq} is not the entry the scope head signed (replaced: another entry hash)")
    if len(present) != len(listed):
        report.fail(f"the bundle holds {len(present)} entries; the signed scope head lists {len(listed)}")
    elif len(report.errors) == before and [s for s, _ in present] != [s for s, _ in listed]:
        report.fail("the entries are not in the order the scope head signed")
    if len(report.errors) == before:
        report.complete = (f"complete: all {len(listed)} entries of {what} up to tree size {st['tree_size']}, "
                           "as the scope head signed" if listed else
                           f"complete: the signed scope head says {what} has no entries up to tree size "
                           f"{st['tree_size']}")


def when(at: Any) -> str:
    """A ledger time ("2026-03-01T22:00:05.123456Z") to the second with its zone: "2026-03-01 22:00:05 UTC"."""
    text = "" if at is None else str(at)
    if len(text) >= 19 and text[10] == "T" and text.endswith("Z"):
        return f"{text[:10]} {text[11:19]} UTC"
    return text


def ledger_status(statement: Any) -> tuple[bool | None, str]:
    """(intact?, text) of a bundle's `ledger_verification`: None when the bundle does not say."""
    if statement is None:
        return None, "the bundle does not state whether the exporting server's ledger verified"
    if not isinstance(statement, dict) or not isinstance(statement.get("ok"), bool):
        return False, "LEDGER NOT INTACT — the bundle's ledger_verification is malformed"
    if statement["ok"]:
        return True, (f"ledger verified at {when(statement.get('verified_at'))}, "
                      f"{statement.get('entries_checked')} entries")
    seq = statement.get("first_bad_seq")
    return False, f"LEDGER NOT INTACT — first bad entry {seq if is_int(seq) else '?'}: {statement.get('reason')}"


def _check_ledger_statement(statement: Any, report: BundleReport) -> None:
    intact, text = ledger_status(statement)
    report.ledger = text
    if intact is None:
        report.warnings.append(text)
    elif not intact:
        report.fail(f"{text} (the exporting server's ledger did not verify when this bundle was exported; "
                    "its entries cannot be relied on)")
