"""The canonical form of a ledger entry (version 1): the exact bytes that are stored and hashed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from core.errors import ValidationFailed
from core.ledger.model import FORMAT_VERSION, LedgerEntry

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


def _body(prefix: bytes, prev: str, seq: int) -> bytes:
    """The canonical body from its head-independent prefix, the previous hash and the sequence number."""
    return b"%s%s\",\"seq\":%d,\"v\":%d}" % (prefix, prev.encode(), seq, FORMAT_VERSION)


def decode(entry: LedgerEntry) -> dict[str, Any]:
    """The entry's body as a dict (for display; the bytes remain the truth)."""
    return json.loads(entry.body)
