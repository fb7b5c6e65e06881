"""The chain-of-custody view of an audit bundle (pure: no database): one display row per entry and the custody
gaps (a hand-off released by someone other than the last recorded holder), and `verify_bundle`: the offline
verifier of core.ledger.bundle with those gaps as warnings.

Rows are read from each entry's own bytes (body_b64), the bytes verify_bundle checks; the bundle's `decoded`
field is a convenience copy that anyone could edit, so it is never shown."""

from __future__ import annotations

from typing import Any

from core.ledger.bundle import BundleReport, entry_doc, is_int
from core.ledger.bundle import verify_bundle as _verify_bundle


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
        doc = entry_doc(entry)
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if doc is None:
            rows.append({k: "" for k in _ROW_KEYS} | {"seq": _text(seq) if is_int(seq) else "?",
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


def verify_bundle(bundle: Any, public_key_pem: bytes) -> BundleReport:
    """core.ledger.bundle.verify_bundle with this bundle's custody gaps as warnings (offline: no database)."""
    return _verify_bundle(bundle, public_key_pem, extra_warnings=custody_gaps)
