"""Ed25519 signed tree heads for the ledger.

The key is created on first use at `<settings.data_dir>/keys/ledger-ed25519.pem` (PKCS#8 PEM, mode 0600,
directory 0700); `set_key_path()` points at another file (tests, or a key kept elsewhere).

Signed message (version 1): the canonical JSON of the tree head
  {"root_hash": "<64 hex>", "timestamp": "<YYYY-MM-DDTHH:MM:SS.ffffffZ>", "tree_size": <int>}
with keys sorted, separators "," and ":", UTF-8. The signature is raw Ed25519 (64 bytes), base64 in JSON.
The key fingerprint is the hex SHA-256 of the raw 32-byte public key. Verifying needs only the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "ledger-ed25519.pem"
ALGORITHM = "Ed25519"

_lock = threading.Lock()
_override: Path | None = None
_cache: dict[Path, Ed25519PrivateKey] = {}


def set_key_path(path: Path | str | None) -> Path | None:
    """Use the key at `path` (created on first use) instead of the data directory's; returns the previous."""
    global _override
    with _lock:
        previous, _override = _override, (Path(path) if path is not None else None)
    return previous


def key_path(data_dir: Path | None = None) -> Path:
    """Where the signing key lives: the override, else <data_dir>/keys/ (default: the settings' data_dir)."""
    if _override is not None:
        return _override
    if data_dir is None:
        from core.settings import get_settings

        data_dir = get_settings().data_dir
    return Path(data_dir) / "keys" / KEY_FILE


def _create(path: Path) -> Ed25519PrivateKey:
    """Write a new key with owner-only permissions (atomically, so a crash never leaves half a key)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    try:
        os.link(tmp, path)  # fails if another process created the key first: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _load(path)


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def private_key(data_dir: Path | None = None) -> Ed25519PrivateKey:
    """The ledger signing key, created on first use."""
    path = key_path(data_dir)
    with _lock:
        key = _cache.get(path)
        if key is None:
            key = _cache[path] = _load(path) if path.exists() else _create(path)
        return key


def public_key_pem(data_dir: Path | None = None) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM (what verifiers need)."""
    return private_key(data_dir).public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; raises ValueError unless it is Ed25519."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def fingerprint(public_key: Ed25519PublicKey | bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key (accepts a key or its PEM)."""
    if isinstance(public_key, bytes):
        public_key = load_public_key(public_key)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def tree_head_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """The exact bytes that are signed for a tree head (canonical JSON, see the module docstring)."""
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
        raise ValueError("tree_size must be a non-negative integer")
    if len(root_hash) != 64 or any(c not in "0123456789abcdef" for c in root_hash):
        raise ValueError("root_hash must be 64 lower-case hex characters")
    return json.dumps({"root_hash": root_hash, "timestamp": timestamp, "tree_size": tree_size},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_tree_head(tree_size: int, root_hash: bytes | str, timestamp: datetime,
                   data_dir: Path | None = None) -> dict[str, Any]:
    """A signed tree head: {tree_size, root_hash, timestamp, signature, algorithm, key_fingerprint}."""
    root_hex = root_hash.hex() if isinstance(root_hash, bytes) else root_hash
    ts = _ts(timestamp)
    key = private_key(data_dir)
    signature = key.sign(tree_head_message(tree_size, root_hex, ts))
    return {"tree_size": tree_size, "root_hash": root_hex, "timestamp": ts,
            "signature": base64.b64encode(signature).decode("ascii"), "algorithm": ALGORITHM,
            "key_fingerprint": fingerprint(key.public_key())}


def verify_tree_head(sth: dict[str, Any], public_key_pem: bytes) -> bool:
    """True when `sth`'s signature is valid for its size, root and timestamp under the given public key."""
    try:
        key = load_public_key(public_key_pem)
        message = tree_head_message(sth["tree_size"], sth["root_hash"], sth["timestamp"])
        key.verify(base64.b64decode(sth["signature"], validate=True), message)
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


# --- scope heads: a signed statement of exactly which entries an audit bundle's scope holds ----------------
# Signed message: the canonical JSON (as above) of the statement, which always carries a "format" key starting
# with SCOPE_HEAD_PREFIX, so it can never be mistaken for a tree head's message (whose keys are fixed).
SCOPE_HEAD_PREFIX = "coc-scope-head/"


def statement_message(statement: dict[str, Any]) -> bytes:
    """The exact bytes signed for a scope statement (canonical JSON; refuses a statement without its format)."""
    if not isinstance(statement, dict) or not str(statement.get("format", "")).startswith(SCOPE_HEAD_PREFIX):
        raise ValueError(f"a scope statement names its format ({SCOPE_HEAD_PREFIX}N)")
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign_statement(statement: dict[str, Any], data_dir: Path | None = None) -> dict[str, Any]:
    """A signed scope head: {statement, signature, algorithm, key_fingerprint} (same key as the tree heads)."""
    key = private_key(data_dir)
    signature = key.sign(statement_message(statement))
    return {"statement": statement, "signature": base64.b64encode(signature).decode("ascii"),
            "algorithm": ALGORITHM, "key_fingerprint": fingerprint(key.public_key())}


def verify_statement(signed: Any, public_key_pem: bytes) -> bool:
    """True when `signed` (from sign_statement) carries a valid signature of its statement under the key."""
    try:
        key = load_public_key(public_key_pem)
        key.verify(base64.b64decode(signed["signature"], validate=True), statement_message(signed["statement"]))
    except (InvalidSignature, ValueError, KeyError, TypeError, RecursionError):
        return False
    return True
