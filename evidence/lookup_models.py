"""The survivor's status-lookup credential: its table and the password hash (scrypt, salted)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

# scrypt cost: n=2^14, r=8, p=1 (~16 MiB, tens of ms): slows guessing, rate limiting and lockout do the rest.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


class KitLookup(SQLModel, table=True):
    """One enrolment (a card): the lookup code, the salted scrypt hash of its temporary password, and its guard
    state (failed attempts in a row, locked after too many; revoked when the centre issues a new card)."""

    __tablename__ = "kit_lookup"

    code: str = Field(primary_key=True, max_length=32)
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    password_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    enrolled_at: datetime = Field(sa_type=DateTime(timezone=True))
    enrolled_by: str = Field(max_length=64)
    failed_attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    locked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


@dataclass(frozen=True)
class PasswordHash:
    """A salt and the scrypt digest of a password under it."""

    salt: bytes
    digest: bytes


def hash_password(password: str, salt: bytes | None = None) -> PasswordHash:
    """The scrypt hash of `password` (a fresh 16-byte salt unless one is given)."""
    salt = salt or secrets.token_bytes(16)
    return PasswordHash(salt, hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT))


# Checked instead of a real card's hash when the code is unknown: the same scrypt work on every path.
DUMMY_HASH = hash_password("timing-equaliser")
