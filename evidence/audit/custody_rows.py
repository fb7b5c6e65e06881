"""The chain-of-custody view of an audit bundle (pure: no database): one display row per entry, the people
(from the bundle's signed staff directory), the custody gaps, and `verify_bundle`: the offline verifier of
core.ledger.bundle with those gaps as warnings.

Rows are read from each entry's own bytes (body_b64), the bytes verify_bundle checks; the bundle's `decoded`
field is a convenience copy that anyone could edit, so it is never shown.

Custody passes on ACCEPTANCE (evidence.custody.service): an offer, a decline or a cancellation leaves the item
with its holder; an accepted transfer, release, return or lab submission passes it to the entry's `to_user`, a
check-out to the person taking it. A gap is an event by someone who does not hold the item (seal, offer,
check-in, analysis, destruction, or a hand-over from someone else), i.e. a hand-over that is not on record.
"""

from __future__ import annotations

from typing import Any

from core.ledger import EventKind
from core.ledger.bundle import BundleReport, entry_doc, is_int
from core.ledger.bundle import verify_bundle as _verify_bundle

# Per ledger kind: (who must hold the item: a data key or "actor", whose data key becomes the holder).
_HOLDER_RULES: dict[str, tuple[str | None, str | None]] = {
    EventKind.ITEM_COLLECTED: (None, "custodian"),
    EventKind.ITEM_SEALED: ("custodian", None),
    EventKind.TRANSFER_OFFERED: ("from_user", None),
    EventKind.TRANSFER_DECLINED: ("custodian", None),
    EventKind.TRANSFER_CANCELLED: ("custodian", None),
    EventKind.TRANSFER_ACCEPTED: ("from_user", "to_user"),  # custody transfer or lab submission
    EventKind.RELEASED: ("from_user", "to_user"),
    EventKind.RETURNED: ("from_user", "to_user"),
    EventKind.CHECKED_IN: ("custodian", None),
    EventKind.CHECKED_OUT: ("from_user", "to_user"),
    EventKind.ANALYSED: ("custodian", None),
    EventKind.DESTROYED: ("custodian", None),
}

# Kinds only the holder performs: an entry without its custodian names the holder as its actor.
_DONE_BY_HOLDER = frozenset({EventKind.ITEM_SEALED, EventKind.CHECKED_IN, EventKind.ANALYSED, EventKind.DESTROYED})

_EVENT_NAMES = {
    EventKind.ITEM_COLLECTED: "collected", EventKind.ITEM_SEALED: "sealed",
    EventKind.TRANSFER_OFFERED: "hand-over offered", EventKind.TRANSFER_ACCEPTED: "hand-over accepted",
    EventKind.TRANSFER_DECLINED: "hand-over declined", EventKind.TRANSFER_CANCELLED: "offer cancelled",
    EventKind.RELEASED: "released to law enforcement", EventKind.RETURNED: "returned",
    EventKind.CHECKED_IN: "checked in", EventKind.CHECKED_OUT: "checked out", EventKind.ANALYSED: "analysed",
    EventKind.DESTROYED: "destroyed", EventKind.FILE_STORED: "file stored",
    EventKind.INTEGRITY_INCIDENT: "integrity incident", EventKind.INTEGRITY_RESOLVED: "integrity incident resolved",
    EventKind.CHECKPOINT_ALLOWED: "consent checkpoint: allowed", EventKind.CHECKPOINT_DENIED:
        "consent checkpoint: denied", EventKind.BOUNDARY_REFUSED: "hand-over refused (agency boundary)",
    EventKind.LEGAL_HOLD_SET: "legal hold", EventKind.ACCESS_REFUSED: "attempt refused",
}


def _pick(data: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if data.get(k) not in (None, ""):
            return data[k]
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def texts_of(bundle: Any) -> dict[tuple[int, str], dict[str, Any]]:
    """The bundle's free texts ({(seq, field): {commitment, text, matches}}, evidence.audit.texts), tolerantly."""
    texts = bundle.get("texts") if isinstance(bundle, dict) else None
    out = {}
    for t in texts if isinstance(texts, list) else []:
        if isinstance(t, dict) and is_int(t.get("seq")) and isinstance(t.get("field"), str) \
                and isinstance(t.get("text"), str) and isinstance(t.get("commitment"), str):
            out[(t["seq"], t["field"])] = t
    return out


def with_texts(data: dict[str, Any], seq: Any, texts: dict[tuple[int, str], dict[str, Any]]) -> dict[str, Any]:
    """The entry's data with each committed field shown as its text (only where the bundle's text names the
    very commitment the entry's verified bytes hold)."""
    if not is_int(seq):
        return data
    shown = dict(data)
    for (s, field), t in texts.items():
        if s == seq and data.get(field) == t["commitment"]:
            shown[field] = t["text"]
    return shown


def staff_of(bundle: Any) -> dict[str, Any]:
    """The bundle's staff directory ({id: {username, role, agency, agency_kind}}), tolerantly."""
    staff = bundle.get("staff") if isinstance(bundle, dict) else None
    return staff if isinstance(staff, dict) else {}


def person(staff: dict[str, Any], staff_id: str) -> str:
    """"username (role, agency)" of a staff id from the directory; the id itself when it is not there."""
    if not isinstance(staff_id, str) or not staff_id:
        return _text(staff_id)
    if staff_id.startswith("system:"):
        return f"{staff_id} (automatic, on the custodian's behalf)"
    info = staff.get(staff_id)
    if not isinstance(info, dict) or not info.get("username"):
        return f"{staff_id} (no staff record in the bundle)"
    agency = _text(info.get("agency"))
    kind = _text(info.get("agency_kind")).replace("-", " ")
    where = f"{agency} ({kind})" if kind and kind.lower() not in agency.lower() else agency
    role = _text(info.get("role")).replace("_", " ")
    return f"{info['username']} ({', '.join(x for x in (role, where) if x)})"


def event_name(kind: str, data: dict[str, Any]) -> str:
    """A reader's name for a ledger kind (an accepted lab transfer is a lab submission)."""
    if not isinstance(kind, str):
        return _text(kind)
    if kind == EventKind.TRANSFER_ACCEPTED and data.get("purpose") == "lab":
        return "submitted to the lab"
    if kind == EventKind.TRANSFER_OFFERED and data.get("purpose") in ("release", "lab", "return"):
        return f"hand-over offered ({data['purpose']})"
    return _EVENT_NAMES.get(kind, kind)


def custody_rows(bundle: Any) -> list[dict[str, str]]:
    """One display row per entry with the custody fields read tolerantly from the entry's verified bytes."""
    entries = bundle.get("entries") if isinstance(bundle, dict) else None
    rows = []
    texts = texts_of(bundle)
    for entry in entries if isinstance(entries, list) else []:
        doc = entry_doc(entry)
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if doc is None:
            rows.append({k: "" for k in _ROW_KEYS} | {"seq": _text(seq) if is_int(seq) else "?",
                                                       "event": "(entry bytes unreadable)"})
            continue
        data = with_texts(doc.get("data") if isinstance(doc.get("data"), dict) else {}, doc.get("seq"), texts)
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


def _docs(bundle: Any) -> list[dict[str, Any]]:
    entries = bundle.get("entries") if isinstance(bundle, dict) else None
    return [d for d in (entry_doc(e) for e in (entries if isinstance(entries, list) else [])) if d is not None]


def custody_gaps(bundle: Any) -> list[str]:
    """Per item, every event by someone who did not hold the item at that moment (see the module docstring)."""
    staff = staff_of(bundle)
    holder: dict[str, str] = {}
    out = []
    for doc in _docs(bundle):
        item, kind = doc.get("item"), doc.get("kind")
        if not isinstance(item, str) or not item or not isinstance(kind, str) or kind not in _HOLDER_RULES:
            continue
        data = doc["data"] if isinstance(doc.get("data"), dict) else {}
        actor = doc["actor"].get("id") if isinstance(doc.get("actor"), dict) else None
        must, becomes = _HOLDER_RULES[kind]
        who = _pick(data, must) if must else None
        if who is None and kind in _DONE_BY_HOLDER and not _text(actor).startswith("system:"):
            who = actor  # older entries without the custodian: the person who did it
        if isinstance(who, str) and item in holder and holder[item] != who:
            verb = event_name(kind, data)
            out.append(f"item {item}: seq {doc.get('seq')} ({verb}) by {person(staff, who)}, but the item was held "
                       f"by {person(staff, holder[item])}: no hand-over between them is on record")
        new = _pick(data, becomes, "custodian") if becomes else None
        if isinstance(new, str) and new:
            holder[item] = new
    return out


def verify_bundle(bundle: Any, public_key_pem: bytes) -> BundleReport:
    """core.ledger.bundle.verify_bundle with this bundle's custody gaps as warnings (offline: no database)."""
    return _verify_bundle(bundle, public_key_pem, extra_warnings=custody_gaps)
