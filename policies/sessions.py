"""Login sessions: refresh tokens that renew a short-lived access token for a working day.

A refresh token is an opaque random string given to the client once; only its SHA-256 is stored. A login
starts a family that expires 10 h after the login (SESSION_TTL, not extended by renewals). Each use rotates it:
the used token is spent and a new one of the same family issued. A spent token presented again means it was
copied: the whole family is revoked (reuse detection). Logout revokes the family; deactivating an account revokes
all of its families (policies.authz.update_user), and renewal refuses an inactive account in any case.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, String, select, update
from sqlmodel import Field, Session, SQLModel

from core.clock import as_utc, utcnow
from core.db import commit_early
from core.errors import AuthenticationFailed

SESSION_TTL = timedelta(hours=10)  # a working day from the login; renewals do not extend it
_REFUSED = "the session has ended (expired, logged out, reused or the account deactivated): run `coc login`"


class RefreshToken(SQLModel, table=True):
    """One issued refresh token (hash only). `family_id` groups the rotations of one login."""

    __tablename__ = "refresh_token"

    id: str = Field(primary_key=True, max_length=32)
    family_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    user_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


@dataclass(frozen=True)
class Issued:
    """A refresh token as given to the client (the secret is never stored) and whose it is."""

    token: str
    user_id: str
    family_id: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(session: Session, user_id: str, family_id: str, expires_at: datetime, now: datetime) -> Issued:
    token = secrets.token_urlsafe(32)
    session.add(RefreshToken(id=secrets.token_hex(16), family_id=family_id, user_id=user_id, token_hash=_hash(token),
                             issued_at=now, expires_at=expires_at))
    session.flush()
    return Issued(token=token, user_id=user_id, family_id=family_id, expires_at=expires_at)


def start_session(session: Session, *, user_id: str, now: datetime | None = None) -> Issued:
    """A new family for a login: its first refresh token, valid SESSION_TTL from now."""
    now = now or utcnow()
    return _issue(session, user_id, secrets.token_hex(16), now + SESSION_TTL, now)


def revoke_family(session: Session, family_id: str, now: datetime) -> None:
    """End a login: every token of the family is revoked."""
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
    session.flush()


def revoke_user_sessions(session: Session, *, user_id: str, now: datetime | None = None) -> None:
    """End every login of an account (deactivation)."""
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=now or utcnow()))
    session.flush()


def _find(session: Session, token: str) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == _hash(token)).with_for_update()
    return session.execute(stmt).scalars().first()


def rotate(session: Session, *, token: str, now: datetime | None = None) -> Issued:
    """Spend `token` and issue the next of its family; AuthenticationFailed when unknown, expired, revoked or
    already spent (a spent token presented again revokes the whole family). The caller checks the account."""
    now = now or utcnow()
    row = _find(session, token) if token else None
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        raise AuthenticationFailed(_REFUSED)
    if row.used_at is not None:  # replayed: someone holds a copy of a spent token
        revoke_family(session, row.family_id, now)
        commit_early(session, "the revocation of a replayed session must stand although the request is refused")
        raise AuthenticationFailed(_REFUSED)
    row.used_at = now
    session.add(row)
    return _issue(session, row.user_id, row.family_id, as_utc(row.expires_at), now)


def end_session(session: Session, *, token: str, now: datetime | None = None) -> bool:
    """Logout: revoke the family of `token`; False when the token is unknown."""
    row = _find(session, token) if token else None
    if row is None:
        return False
    revoke_family(session, row.family_id, now or utcnow())
    return True
