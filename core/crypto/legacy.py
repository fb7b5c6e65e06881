"""Legacy field encryption (Fernet under COC_IDENTITY_KEY), the format of rows written before revision 0015.

Kept to write legacy rows in tests and for callers outside the case data; new values use core.crypto.service."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from core.errors import IntegrityViolation
from core.settings import get_settings


def _fernet(key: str | None = None) -> Fernet:
    if key is None:
        key = get_settings().secret("identity_key")
    return Fernet(key.encode())


def encrypt_text(plaintext: str, *, key: str | None = None) -> bytes:
    """Encrypt a UTF-8 string; returns the Fernet token (authenticated, timestamped)."""
    return _fernet(key).encrypt(plaintext.encode("utf-8"))


def decrypt_text(token: bytes, *, key: str | None = None) -> str:
    """Decrypt a token made by encrypt_text; a wrong key or tampering raises IntegrityViolation."""
    try:
        return _fernet(key).decrypt(bytes(token)).decode("utf-8")
    except InvalidToken:
        raise IntegrityViolation(
            "encrypted field cannot be decrypted: wrong COC_IDENTITY_KEY or tampered data"
        ) from None
