"""Field encryption at rest (Fernet, key from COC_IDENTITY_KEY) for identity, narratives, safety plans."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from core.errors import IntegrityViolation


def _fernet(key: str | None = None) -> Fernet:
    if key is None:
        from core.settings import get_settings

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
