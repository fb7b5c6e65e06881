"""Staff password hashes (local login of the embedded issuer): argon2id, with scrypt hashes of earlier versions
still verified and replaced at the next successful login.

PURE (no Session): `hash_password`, `verify_password`, `needs_rehash`. The login (api.auth.issuer.authenticate)
verifies, and when `needs_rehash` says so stores `hash_password(password)` in the same transaction.

Parameters: argon2id with m = 19 MiB (19456 KiB), t = 2 iterations, p = 1 lane, a 16-byte salt and a 32-byte
tag — the first configuration of the OWASP Password Storage Cheat Sheet (its minimum for argon2id). Stored in
the PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$salt$tag`), so raising the parameters later rehashes
every account at its next login too (`needs_rehash`).
Earlier hashes: `scrypt$N$r$p$salt$digest` (base64url parts; N = 2^14, r = 8, p = 1: below current guidance);
they verify as before and are never written again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
ARGON2_PREFIX = "$argon2id$"
SCRYPT_PREFIX = "scrypt$"
_SCRYPT_MAXMEM = 64 * 1024 * 1024

_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM,
                         hash_len=32, salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (PHC string, a fresh random salt)."""
    return _hasher.hash(password)


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=_SCRYPT_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored` (argon2id, or an earlier scrypt hash); False for anything else,
    a malformed hash included (never raises)."""
    if not stored:
        return False
    if stored.startswith(ARGON2_PREFIX):
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if stored.startswith(SCRYPT_PREFIX):
        return _verify_scrypt(password, stored)
    return False  # an unknown scheme never verifies (fail closed)


def needs_rehash(stored: str | None) -> bool:
    """True when `stored` is not an argon2id hash with today's parameters (an scrypt hash, or weaker argon2)."""
    if not stored or not stored.startswith(ARGON2_PREFIX):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True

