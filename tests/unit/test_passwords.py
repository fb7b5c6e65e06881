"""Staff password hashes (policies.authz.passwords): argon2id with OWASP's parameters; earlier scrypt hashes verify
and are marked for rehashing; wrong passwords and malformed hashes never verify."""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import extract_parameters
from argon2.low_level import Type

from policies.authz import hash_password, needs_rehash, verify_password


def legacy_scrypt_hash(password: str) -> str:
    """An scrypt hash exactly as earlier versions wrote them (api.auth.issuer: N=2^14, r=8, p=1, 32 bytes)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)

    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    return f"scrypt${2**14}$8$1${enc(salt)}${enc(digest)}"


def test_new_hashes_are_argon2id_with_owasp_parameters():
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$")
    params = extract_parameters(stored)
    # OWASP Password Storage Cheat Sheet, argon2id: m >= 19 MiB with t >= 2 and p = 1 (its first configuration).
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism == 1
    assert params.salt_len >= 16 and params.hash_len >= 32
    assert hash_password("correct horse battery staple") != stored  # a fresh salt each time
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapl", stored)
    assert not needs_rehash(stored)


def test_scrypt_hashes_still_verify_and_need_rehashing():
    stored = legacy_scrypt_hash("an old password of 2025")
    assert verify_password("an old password of 2025", stored)
    assert not verify_password("an old password of 2026", stored)
    assert needs_rehash(stored)


def test_weaker_argon2_and_malformed_hashes():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw-pw-pw-pw-pw")
    assert verify_password("pw-pw-pw-pw-pw", weak)
    assert needs_rehash(weak)  # raised parameters rehash at the next login too
    for bad in (None, "", "plain-text", "scrypt$x$y", "$argon2id$garbage", "bcrypt$2b$12$abc",
                "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"):
        assert not verify_password("anything", bad), bad
        assert needs_rehash(bad), bad
