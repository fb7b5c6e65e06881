"""Audit-bundle export (needs the database): a case's or item's ledger entries, each with its inclusion proof
against one signed tree head, the staff directory of the people they name, and a signed scope head listing
every entry of the scope (so the bundle proves it is complete). The format and its offline verifier are in
core.ledger.bundle."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from core import ledger
from core.clock import utcnow
from core.errors import ValidationFailed
from core.ledger import LedgerEntry, merkle, signing
from core.ledger.bundle import BUNDLE_FORMAT, scope_statement, staff_ids
from evidence.audit.staff import staff_directory
from evidence.audit.texts import bundle_texts

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
    entries, named, docs = [], set(), []
    for seq, body, entry_hash in rows:
        body = bytes(body)
        proof = merkle.inclusion_proof(seq - 1, size, nodes)
        doc = json.loads(body)
        named.update(staff_ids(doc))
        docs.append((seq, doc))
        entries.append({"seq": seq, "leaf_index": seq - 1, "body_b64": base64.b64encode(body).decode("ascii"),
                        "entry_hash": entry_hash, "decoded": doc,
                        "inclusion_proof": [p.hex() for p in proof]})
    scope = {"case_id": case_id, "item_id": item_id}
    staff = staff_directory(session, named)
    statement = scope_statement(scope=scope, tree_size=size, root_hash=sth["root_hash"], staff=staff,
                                entries=[(e["seq"], e["entry_hash"]) for e in entries])
    bundle = {"format": BUNDLE_FORMAT, "scope": scope,
              "generated_at": ledger.iso(now), "tree_head": sth,
              "public_key_fingerprint": sth["key_fingerprint"], "entries": entries, "staff": staff,
              "scope_head": signing.sign_statement(statement, data_dir)}
    if verification is not None:
        bundle["ledger_verification"] = verification
    # the free text behind the entries' commitments, outside the signed entries (evidence.audit.texts)
    bundle["texts"] = bundle_texts(session, docs)
    return bundle
