"""Audit bundles: ledger entries + inclusion proofs + a signed tree head, verifiable offline; custody PDF.

Bundle format "coc-audit-bundle/1" (a JSON object):
  scope {case_id, item_id}, generated_at, tree_head (core.ledger.signing signed tree head), public_key_fingerprint,
  entries: [{seq, leaf_index, body_b64 (the exact stored bytes), entry_hash, decoded (display only),
             inclusion_proof: [hex, ...]}] in seq order.
`verify_bundle` needs only the bundle and the ledger's public key PEM: no database, no server. Every entry must
be of the scope's case or of its item (the export's selection). `decoded` is a convenience copy: it must equal
the parsed bytes, and the custody rows and PDF read body_b64, never `decoded`.
`ledger_verification` (evidence.verification.statement): the exporting server's whole-ledger verification at
export time {ok, verified_at, entries_checked, first_bad_seq, reason, statement}. It is the server's word, not
covered by the tree head's signature; verify_bundle fails a bundle that says the ledger was not intact and
warns when a bundle does not say.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from core import ledger
from core.clock import utcnow
from core.errors import ValidationFailed
from core.ledger import LedgerEntry, merkle, signing

BUNDLE_FORMAT = "coc-audit-bundle/1"
MAX_ENTRIES = 20_000


def export_bundle(session: Session, *, case_id: str | None = None, item_id: str | None = None,
                  now: datetime | None = None, max_entries: int = MAX_ENTRIES,
                  data_dir: Path | None = None, verification: dict[str, Any] | None = None) -> dict[str, Any]:
    """Entries of a case or item with an inclusion proof each against one signed tree head (JSON-able).

    `verification`: the whole-ledger verification made for this export (evidence.verification.statement),
    stored as the bundle's `ledger_verification` and shown on every page of the PDF."""
    if not case_id and not item_id:
        raise ValidationFailed("give case_id or item_id to export an audit bundle")
    now = now or utcnow()
    sth = ledger.signed_tree_head(session, now=now, data_dir=data_dir)
    size = sth["tree_size"]
    conds = []
    if case_id:
        conds.append(LedgerEntry.case_id == case_id)
    if item_id:
        conds.append(LedgerEntry.item_id == item_id)
    rows = session.execute(
        select(LedgerEntry.seq, LedgerEntry.body, LedgerEntry.entry_hash)
        .where(or_(*conds), LedgerEntry.seq <= size)
        .order_by(LedgerEntry.seq).limit(max_entries + 1)
    ).all()
    if len(rows) > max_entries:
        raise ValidationFailed(f"more than {max_entries} entries match: export a single item instead")
    nodes = ledger.DbNodes(session)
    entries = []
    for seq, body, entry_hash in rows:
        body = bytes(body)
        proof = merkle.inclusion_proof(seq - 1, size, nodes)
        entries.append({"seq": seq, "leaf_index": seq - 1, "body_b64": base64.b64encode(body).decode("ascii"),
                        "entry_hash": entry_hash, "decoded": json.loads(body),
                        "inclusion_proof": [p.hex() for p in proof]})
    bundle = {"format": BUNDLE_FORMAT, "scope": {"case_id": case_id, "item_id": item_id},
              "generated_at": ledger.iso(now), "tree_head": sth,
              "public_key_fingerprint": sth["key_fingerprint"], "entries": entries}
    if verification is not None:
        bundle["ledger_verification"] = verification
    return bundle


@dataclass
class BundleReport:
    """Outcome of an offline bundle verification: ok, the errors found, and softer custody warnings."""

    ok: bool = True
    entries_checked: int = 0
    ledger: str | None = None  # the exporting server's whole-ledger verification, as the bundle states it
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        """Record an error (the bundle does not verify)."""
        self.ok = False
        self.errors.append(message)


def _unhex32(value: Any) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else b""
    if len(raw) != 32:
        raise ValueError("not a 32-byte hex hash")
    return raw


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry_body(entry: Any) -> bytes | None:
    """The exact stored bytes of a bundle entry (its body_b64), or None when missing or not strict base64."""
    if not isinstance(entry, dict) or not isinstance(entry.get("body_b64"), str):
        return None
    try:
        return base64.b64decode(entry["body_b64"], validate=True)
    except ValueError:
        return None


def _entry_doc(entry: Any) -> dict[str, Any] | None:
    """The ledger document parsed from an entry's own bytes (never its untrusted `decoded` view), or None."""
    body = _entry_body(entry)
    if body is None:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


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
    """Why an entry is outside the scope, or None: like export_bundle, an entry of the case OR of the item."""
    if (case_id and doc.get("case") == case_id) or (item_id and doc.get("item") == item_id):
        return None
    if case_id and item_id:
        return f"entry belongs to neither case {case_id} nor item {item_id}"
    return "entry belongs to another case" if case_id else "entry belongs to another item"


def verify_bundle(bundle: Any, public_key_pem: bytes) -> BundleReport:
    """Check every entry's bytes → leaf → proof → root → signature, chain links between neighbours, and that
    every entry is within the bundle's scope. Never raises: any malformed input is a failed report."""
    report = BundleReport()
    try:
        _verify_bundle(bundle, public_key_pem, report)
    except Exception as exc:  # noqa: BLE001 - a bundle that cannot be checked does not verify
        report.fail(f"the bundle could not be checked ({exc.__class__.__name__})")
    if isinstance(bundle, dict):  # reported even when the entries could not be checked
        _check_ledger_statement(bundle.get("ledger_verification"), report)
    return report


def _verify_bundle(bundle: Any, public_key_pem: bytes, report: BundleReport) -> None:
    if isinstance(public_key_pem, str):
        public_key_pem = public_key_pem.encode()
    try:
        if not isinstance(public_key_pem, bytes):
            raise TypeError("not bytes")
        fp = signing.fingerprint(public_key_pem)
    except (ValueError, TypeError):
        report.fail("the public key is not an Ed25519 PEM key")
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
    previous: tuple[int, str] | None = None
    for pos, entry in enumerate(entries):
        if not isinstance(entry, dict):
            report.fail(f"entry #{pos + 1}: not a JSON object")
            continue
        seq = entry.get("seq")
        where = f"entry #{pos + 1} (seq {seq if _is_int(seq) else '?'})"
        missing = [k for k in ("seq", "body_b64", "entry_hash", "inclusion_proof") if k not in entry]
        if missing:
            report.fail(f"{where}: malformed (missing {', '.join(missing)})")
            continue
        if not _is_int(seq) or not 1 <= seq <= size:
            report.fail(f"{where}: sequence number is outside the signed tree of size {size}")
            continue
        body = _entry_body(entry)
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
        doc = _entry_doc(entry)
        if doc is None:
            report.fail(f"{where}: the entry's bytes are not a JSON object")
            continue
        digest = hashlib.sha256(body).hexdigest()
        if entry["entry_hash"] != digest:
            report.fail(f"{where}: entry_hash does not match the entry's bytes")
        leaf_index = entry.get("leaf_index", seq - 1)
        if not _is_int(leaf_index) or leaf_index != seq - 1 or doc.get("seq") != seq:
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
    report.warnings.extend(custody_gaps(bundle))


def ledger_status(statement: Any) -> tuple[bool | None, str]:
    """(intact?, text) of a bundle's `ledger_verification`: None when the bundle does not say."""
    if statement is None:
        return None, "the bundle does not state whether the exporting server's ledger verified"
    if not isinstance(statement, dict) or not isinstance(statement.get("ok"), bool):
        return False, "LEDGER NOT INTACT — the bundle's ledger_verification is malformed"
    if statement["ok"]:
        return True, (f"ledger verified at {statement.get('verified_at')}, "
                      f"{statement.get('entries_checked')} entries")
    seq = statement.get("first_bad_seq")
    return False, f"LEDGER NOT INTACT — first bad entry {seq if _is_int(seq) else '?'}: {statement.get('reason')}"


def _check_ledger_statement(statement: Any, report: BundleReport) -> None:
    intact, text = ledger_status(statement)
    report.ledger = text
    if intact is None:
        report.warnings.append(text)
    elif not intact:
        report.fail(f"{text} (the exporting server's ledger did not verify when this bundle was exported; "
                    "its entries cannot be relied on)")


# -- chain of custody view ---------------------------------------------------------------------------------
# Rows are read from each entry's own bytes (body_b64), the bytes verify_bundle checks; the bundle's `decoded`
# field is a convenience copy that anyone could edit, so it is never shown.

def _pick(data: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if data.get(k) not in (None, ""):
            return data[k]
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def custody_rows(bundle: Any) -> list[dict[str, str]]:
    """One display row per entry with the custody fields read tolerantly from the entry's verified bytes."""
    entries = bundle.get("entries") if isinstance(bundle, dict) else None
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        doc = _entry_doc(entry)
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if doc is None:
            rows.append({k: "" for k in _ROW_KEYS} | {"seq": _text(seq) if _is_int(seq) else "?",
                                                       "event": "(entry bytes unreadable)"})
            continue
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        actor = doc.get("actor") if isinstance(doc.get("actor"), dict) else {}
        seal_intact = _pick(data, "seal_intact")
        rows.append({
            "seq": _text(doc.get("seq")),
            "time": _text(doc.get("at")),
            "event": _text(doc.get("kind")),
            "item": _text(doc.get("item") or ""),
            "actor": _text(actor.get("id")),
            "from": _text(_pick(data, "from_user", "from_custodian", "released_by") or ""),
            "to": _text(_pick(data, "to_user", "to_custodian", "custodian", "received_by", "holder") or ""),
            "reason": _text(_pick(data, "reason", "purpose") or ""),
            "seal": _text(_pick(data, "seal_number", "seal") or ""),
            "seal_intact": "" if seal_intact is None else ("yes" if seal_intact in (True, "true", "yes") else "NO"),
            "condition": _text(_pick(data, "condition") or ""),
            "location": _text(_pick(data, "location", "to_location", "storage_location") or ""),
            "sha256": _text(_pick(data, "sha256", "file_sha256") or ""),
        })
    return rows


_ROW_KEYS = ("seq", "time", "event", "item", "actor", "from", "to", "reason", "seal", "seal_intact", "condition",
             "location", "sha256")


def custody_gaps(bundle: Any) -> list[str]:
    """Per item: a hand-off whose releasing person is not the last recorded holder (a custody gap)."""
    holder: dict[str, str] = {}
    out = []
    for row in custody_rows(bundle):
        item = row["item"]
        if not item:
            continue
        if row["from"] and item in holder and holder[item] != row["from"]:
            out.append(f"item {item}: seq {row['seq']} released by {row['from']} but last holder was {holder[item]}")
        if row["to"]:
            holder[item] = row["to"]
    return out


def _page_band(intact: bool | None, text: str):
    """A reportlab page callback drawing the ledger's verification state on a page (header and footer)."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm

    def draw(canvas, doc) -> None:
        width, height = doc.pagesize
        page = f"page {canvas.getPageNumber()}"
        canvas.saveState()
        if intact:
            canvas.setFillColor(colors.darkgreen)
            canvas.setFont("Helvetica", 8)
            canvas.drawString(10 * mm, 6 * mm, text)
            canvas.drawRightString(width - 10 * mm, 6 * mm, page)
        else:  # broken or not stated: a red band at the top and the bottom of every page
            warn = text if intact is False else "LEDGER VERIFICATION NOT STATED — " + text
            for y in (height - 13 * mm, 3 * mm):
                canvas.setFillColor(colors.red)
                canvas.rect(0, y, width, 10 * mm, stroke=0, fill=1)
                canvas.setFillColor(colors.white)
                canvas.setFont("Helvetica-Bold", 11)
                canvas.drawString(10 * mm, y + 5.5 * mm, warn[:120])
                canvas.setFont("Helvetica", 7.5)
                canvas.drawString(10 * mm, y + 1.8 * mm, "Do not rely on this report: run `coc audit verify` and "
                                                         "contact the auditor.")
                canvas.drawRightString(width - 10 * mm, y + 1.8 * mm, page)
        canvas.restoreState()

    return draw


def render_custody_pdf(bundle: Any) -> bytes:
    """A chain-of-custody report (PDF bytes) listing every event of the bundle with its proof status.

    Every page carries the bundle's ledger verification: a quiet footer "ledger verified at …, N entries" when
    the whole ledger verified at export, else a red band at the top and bottom ("LEDGER NOT INTACT — first bad
    entry N")."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    buf = io.BytesIO()
    bundle = bundle if isinstance(bundle, dict) else {}
    intact, ledger_text = ledger_status(bundle.get("ledger_verification"))
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            topMargin=(10 if intact else 18) * mm, bottomMargin=(12 if intact else 16) * mm,
                            title="Chain of custody report")
    sth = bundle.get("tree_head") if isinstance(bundle.get("tree_head"), dict) else {}
    scope = bundle.get("scope") if isinstance(bundle.get("scope"), dict) else {}
    subject = ", ".join(f"{k} {v}" for k, v in scope.items() if v) or "ledger"

    def p(text: str, style=small) -> Paragraph:
        esc = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(esc, style)

    state = styles["BodyText"].clone("ledger", fontSize=9, leading=11, fontName="Helvetica-Bold",
                                     textColor=colors.darkgreen if intact else colors.red)
    story = [
        Paragraph(f"Chain of custody report: {p(subject).text}", styles["Title"]),
        p(f"Ledger state at export: {ledger_text}.", state),
        p(f"Generated {bundle.get('generated_at', '')}. Ledger tree size {sth.get('tree_size')}, "
          f"root {sth.get('root_hash')}, signed {sth.get('timestamp')} ({sth.get('algorithm')}, key "
          f"fingerprint {bundle.get('public_key_fingerprint')})."),
        p("Each row is a ledger entry; its exact bytes and inclusion proof are in the JSON bundle and can be "
          "checked offline with the public key (verify_bundle)."),
        Spacer(1, 4 * mm),
    ]
    header = ["Seq", "Time (UTC)", "Event", "Item", "Recorded by", "From", "To / custodian", "Reason",
              "Seal no.", "Seal intact", "Condition", "Location", "SHA-256 of file"]
    keys = ["seq", "time", "event", "item", "actor", "from", "to", "reason", "seal", "seal_intact",
            "condition", "location", "sha256"]
    data = [[p(h) for h in header]]
    for row in custody_rows(bundle):
        cells = dict(row)
        if cells["sha256"]:
            cells["sha256"] = cells["sha256"][:32] + " " + cells["sha256"][32:]  # wrap the long hash
        data.append([p(cells[k]) for k in keys])
    widths = [10, 26, 30, 20, 20, 20, 22, 28, 15, 12, 18, 22, 34]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    statement = bundle.get("ledger_verification")
    bad_seq = statement.get("first_bad_seq") if isinstance(statement, dict) and not intact else None
    style += [("BACKGROUND", (0, i), (-1, i), colors.mistyrose)  # the first bad entry, when in this report
              for i, row in enumerate(data[1:], start=1) if _is_int(bad_seq) and row[0].text == str(bad_seq)]
    table.setStyle(TableStyle(style))
    story.append(table)
    gaps = custody_gaps(bundle)
    if gaps:
        story += [Spacer(1, 4 * mm), p("Custody gaps:")] + [p(g) for g in gaps]
    band = _page_band(intact, ledger_text)
    doc.build(story, onFirstPage=band, onLaterPages=band)
    return buf.getvalue()
