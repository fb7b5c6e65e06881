"""Envelope encryption, PURE (no Session): the centre keyring, case-key wrapping, row-bound sealing, commitments.

- A centre key is a Fernet key string (urlsafe base64 of 32 bytes: COC_IDENTITY_KEY, retired ones in
  COC_IDENTITY_KEYS_RETIRED). Its id is a fingerprint (16 hex of a SHA-256 over a domain tag and the key); its
  key-encryption key (KEK) is HKDF-SHA256 of the raw bytes.
- A case key is 32 random bytes, stored only wrapped: AES-256-GCM under a KEK with the associated data
  b"case_key:<case id>" (a wrapped key copied to another case does not unwrap).
- Sealed values: MAGIC + 12-byte nonce + AES-256-GCM ciphertext+tag under the case key, with associated data
  naming table, column and row id (`aad_for`), so a ciphertext moved to another row or column fails.
- Legacy values (before 0015): Fernet tokens under a centre key; `is_sealed` tells the formats apart.
- Commitments: HMAC-SHA256 of a text under HKDF(case key, "coc/commit/v1"), hex.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from base64 import urlsafe_b64decode
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigError, IntegrityViolation

MAGIC = b"COC\x01"  # sealed-value format 1; a Fernet token starts with b"gAAAAA" (base64 of 0x80 …)
NONCE_BYTES = 12
DATA_KEY_BYTES = 32


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class CentreKey:
    """One centre key: its id (fingerprint), its KEK and its Fernet (for legacy values)."""

    key_id: str
    kek: bytes = field(repr=False)
    fernet: Fernet = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> CentreKey:
        """Build from a Fernet key string; a malformed one is a ConfigError (the key itself never printed)."""
        try:
            raw = urlsafe_b64decode(secret.strip().encode())
        except Exception:  # noqa: BLE001 - any decoding problem means the same thing
            raw = b""
        if len(raw) != 32:
            raise ConfigError("a centre key (COC_IDENTITY_KEY / COC_IDENTITY_KEYS_RETIRED) is not a "
                              "urlsafe-base64 Fernet key of 32 bytes")
        key_id = hashlib.sha256(b"coc/centre-key-id/v1\x00" + raw).hexdigest()[:16]
        return cls(key_id=key_id, kek=_hkdf(raw, b"coc/kek/v1"), fernet=Fernet(secret.strip().encode()))


@dataclass(frozen=True)
class Keyring:
    """The current centre key (wraps new case keys) plus retired ones (still unwrap and read legacy values)."""

    current: CentreKey
    retired: tuple[CentreKey, ...] = ()

    @classmethod
    def from_secrets(cls, current: str, retired: Iterable[str] = ()) -> Keyring:
        """Keyring from key strings; retired keys equal to the current one are dropped."""
        cur = CentreKey.from_secret(current)
        old = tuple(k for k in (CentreKey.from_secret(s) for s in retired if s.strip()) if k.key_id != cur.key_id)
        return cls(current=cur, retired=old)

    @property
    def keys(self) -> tuple[CentreKey, ...]:
        """Current first, then retired."""
        return (self.current, *self.retired)

    def get(self, key_id: str) -> CentreKey:
        """The key with this id, or a ConfigError saying the key that wrapped it is not configured."""
        for k in self.keys:
            if k.key_id == key_id:
                return k
        raise ConfigError(f"centre key {key_id} is not in the keyring: add it to COC_IDENTITY_KEYS_RETIRED "
                          "(or run `coc admin rotate-key` before removing a retired key)")


def parse_retired(value: str | None) -> list[str]:
    """COC_IDENTITY_KEYS_RETIRED: comma- or whitespace-separated Fernet keys (empty → none)."""
    return [p for p in (value or "").replace(",", " ").split() if p]


def aad_for(table: str, column: str, row_id: str | int) -> bytes:
    """Associated data binding a value to its place: b"<table>:<column>:<row id>"."""
    return f"{table}:{column}:{row_id}".encode()


def new_data_key() -> bytes:
    """A fresh random case key (32 bytes)."""
    return os.urandom(DATA_KEY_BYTES)


def wrap_key(centre: CentreKey, case_id: str, data_key: bytes) -> bytes:
    """Wrap a case key under a centre key, bound to the case id."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(centre.kek).encrypt(nonce, data_key, aad_for("case_key", "wrapped", case_id))


def unwrap_key(centre: CentreKey, case_id: str, wrapped: bytes) -> bytes:
    """Unwrap a case key; a wrong key, another case's wrapped key or tampering → IntegrityViolation."""
    wrapped = bytes(wrapped)
    try:
        return AESGCM(centre.kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                          aad_for("case_key", "wrapped", case_id))
    except (InvalidTag, ValueError):
        raise IntegrityViolation("a case key cannot be unwrapped: wrong centre key or tampered key row") from None


def seal(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt under a case key with associated data (see aad_for): MAGIC + nonce + ciphertext+tag."""
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def open_sealed(data_key: bytes, token: bytes, *, aad: bytes) -> bytes:
    """Decrypt a sealed value; another row/column's value, a wrong key or tampering → IntegrityViolation."""
    token = bytes(token)
    if not is_sealed(token):
        raise IntegrityViolation("an encrypted field is not in the sealed format")
    body = token[len(MAGIC):]
    try:
        return AESGCM(data_key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise IntegrityViolation("an encrypted field does not belong to this row or was tampered with") from None


def is_sealed(token: bytes) -> bool:
    """True for the row-bound format, False for a legacy Fernet token."""
    return bytes(token[: len(MAGIC)]) == MAGIC


def open_legacy(keyring: Keyring, token: bytes) -> bytes:
    """Decrypt a legacy Fernet token with any key of the keyring (current first)."""
    for k in keyring.keys:
        try:
            return k.fernet.decrypt(bytes(token))
        except InvalidToken:
            continue
    raise IntegrityViolation("a legacy encrypted field cannot be decrypted: wrong COC_IDENTITY_KEY (add the old "
                             "key to COC_IDENTITY_KEYS_RETIRED) or tampered data")


def commitment(data_key: bytes, text: str) -> str:
    """Keyed commitment to a text: hex HMAC-SHA256 under HKDF(case key, "coc/commit/v1")."""
    return hmac.new(_hkdf(data_key, b"coc/commit/v1"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def commitment_matches(data_key: bytes, text: str, value: str) -> bool:
    """Constant-time check of a commitment made by `commitment`."""
    return hmac.compare_digest(commitment(data_key, text), value)
