"""The append-only, hash-chained audit ledger.

Canonical serialization (version 1) of an entry — these exact bytes are stored in `body` and hashed:
  * a JSON object with keys v, seq, prev, kind, at, actor, case, item, data;
  * keys sorted, separators "," and ":" (no whitespace), UTF-8, non-ASCII kept as is (ensure_ascii off);
  * no floats anywhere (amounts are integers or strings), no NaN; datetimes as ISO-8601 UTC strings
    with microseconds and a trailing "Z";
  * `prev` is the hex SHA-256 of the previous entry's body (64 zeros for seq 1), `seq` starts at 1.
entry_hash = SHA-256(body); Merkle leaf = SHA-256(0x00 || body) (RFC 9162 §2.1), leaf index = seq - 1.
No personal data goes in: pseudonymous case/item ids and staff ids only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, String, func, select, text
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.clock import utcnow
from core.errors import ValidationFailed

GENESIS = "0" * 64
FORMAT_VERSION = 1


class EventKind(StrEnum):
    """Every kind of ledger entry (closed set, named scope:resource:action)."""

    CASE_OPENED = "case:case:opened"
    CASE_UPDATED = "case:case:updated"
    CASE_IDENTITY_STORED = "case:identity:stored"
    CASE_ASSIGNED = "case:assignment:granted"
    CASE_UNASSIGNED = "case:assignment:revoked"
    EXAM_RECORDED = "exam:exam:recorded"
    CARE_RECORDED = "exam:care:recorded"
    ITEM_COLLECTED = "custody:item:collected"
    ITEM_SEALED = "custody:item:sealed"
    FILE_STORED = "custody:file:stored"
    LEGAL_HOLD_SET = "custody:file:legal-hold"
    TRANSFER_OFFERED = "custody:transfer:offered"
    TRANSFER_ACCEPTED = "custody:transfer:accepted"
    TRANSFER_DECLINED = "custody:transfer:declined"
    TRANSFER_CANCELLED = "custody:transfer:cancelled"
    CHECKED_IN = "custody:item:checked-in"
    CHECKED_OUT = "custody:item:checked-out"
    ANALYSED = "custody:item:analysed"
    RETURNED = "custody:item:returned"
    RELEASED = "custody:item:released"
    DESTROYED = "custody:item:destroyed"
    DESTRUCTION_NOTICE = "custody:item:destruction-noticed"
    ITEM_RESTRICTED = "custody:item:restricted"
    INTEGRITY_INCIDENT = "integrity:item:incident"
    FIXITY_CHECKED = "integrity:store:fixity-checked"
    CONSENT_RECORDED = "consent:decision:recorded"
    CONSENT_OVERRIDE = "consent:override:recorded"
    CHECKPOINT_ALLOWED = "checkpoint:handoff:allowed"
    CHECKPOINT_DENIED = "checkpoint:handoff:denied"
    ALERT_RAISED = "deadline:alert:raised"
    PATHWAY_STEP = "pathway:step:completed"
    ADVOCACY_RECORDED = "advocacy:service:recorded"
    REFERRAL_MADE = "advocacy:referral:made"
    BREAK_GLASS = "access:case:break-glass"
    USER_CHANGED = "admin:user:changed"


class LedgerEntry(SQLModel, table=True):
    """One immutable ledger row; UPDATE and DELETE are refused by database triggers."""

    __tablename__ = "ledger_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    item_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


# Keys that would carry a survivor's identity; refused in ledger data as a last line of defence.
_FORBIDDEN_KEYS = frozenset(
    {"name", "first_name", "last_name", "full_name", "dob", "date_of_birth", "birth_date", "address",
     "phone", "email", "ssn", "identity", "narrative", "safety_plan"}
)


def _normalize(value: Any, path: str = "data") -> Any:
    """Turn `value` into canonical JSON types, refusing floats and identity-bearing keys."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise ValidationFailed(f"ledger {path}: floats are not allowed in the canonical form")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationFailed(f"ledger {path}: keys must be strings")
            if k.lower() in _FORBIDDEN_KEYS:
                raise ValidationFailed(f"ledger {path}.{k}: personal data never goes into the ledger")
            out[k] = _normalize(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(v, f"{path}[]") for v in value]
    raise ValidationFailed(f"ledger {path}: unsupported type {type(value).__name__}")


def iso(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and 'Z' (the ledger's only datetime form)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(obj: Any) -> bytes:
    """The canonical bytes of a JSON-able object (sorted keys, compact, UTF-8, no floats)."""
    return json.dumps(_normalize(obj, "entry"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def leaf_hash(body: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + body).digest()


def _lock_head(session: Session) -> None:
    """Serialize appenders so the chain never forks (PostgreSQL advisory lock; SQLite uses BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7061993)"))


def head(session: Session) -> tuple[int, str]:
    """The last (seq, entry_hash), or (0, GENESIS) for an empty ledger."""
    row = session.execute(
        select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(
    session: Session,
    *,
    kind: EventKind,
    actor: Actor,
    data: dict[str, Any] | None = None,
    case_id: str | None = None,
    item_id: str | None = None,
    at: datetime | None = None,
) -> LedgerEntry:
    """Append one entry in the caller's transaction (it commits with the state change, or not at all)."""
    kind = EventKind(kind)
    at = at or utcnow()
    _lock_head(session)
    seq, prev = head(session)
    seq += 1
    body = canonical({
        "v": FORMAT_VERSION, "seq": seq, "prev": prev, "kind": str(kind), "at": at,
        "actor": actor.ledger_ref(), "case": case_id, "item": item_id, "data": data or {},
    })
    entry = LedgerEntry(seq=seq, kind=str(kind), case_id=case_id, item_id=item_id, recorded_at=at,
                        body=body, entry_hash=sha256_hex(body))
    session.add(entry)
    session.flush()
    return entry


def decode(entry: LedgerEntry) -> dict[str, Any]:
    """The entry's body as a dict (for display; the bytes remain the truth)."""
    return json.loads(entry.body)


def count(session: Session) -> int:
    """Number of entries in the ledger."""
    return session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a chain verification: ok, or the first bad sequence number and why."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_hash: str = GENESIS


def verify_rows(rows) -> ChainReport:
    """Check (seq, kind, case_id, item_id, body, entry_hash) rows in seq order against the chain rules."""
    expected_seq, prev, n = 1, GENESIS, 0
    for seq, kind, case_id, item_id, body, entry_hash in rows:
        body = bytes(body)
        if seq != expected_seq:
            bad = min(seq, expected_seq)
            return ChainReport(False, n, bad, f"sequence gap or reorder: expected {expected_seq}, found {seq}")
        digest = hashlib.sha256(body).hexdigest()
        if digest != entry_hash:
            return ChainReport(False, n, seq, "stored hash does not match the entry's bytes")
        try:
            doc = json.loads(body)
        except ValueError:
            return ChainReport(False, n, seq, "entry bytes are not valid JSON")
        if not isinstance(doc, dict) or doc.get("seq") != seq or doc.get("prev") != prev:
            return ChainReport(False, n, seq, "entry does not link to the previous entry")
        if canonical(doc) != body:
            return ChainReport(False, n, seq, "entry bytes are not in canonical form")
        if doc.get("kind") != kind or doc.get("case") != case_id or doc.get("item") != item_id:
            return ChainReport(False, n, seq, "indexed columns disagree with the entry's bytes")
        prev, expected_seq, n = digest, seq + 1, n + 1
    return ChainReport(True, n, None, None, prev)


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute the whole hash chain from the database and report the first bad entry."""
    stmt = (
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.case_id, LedgerEntry.item_id,
               LedgerEntry.body, LedgerEntry.entry_hash)
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=batch)
    )
    return verify_rows(session.execute(stmt))
