"""Who may act as whom: a password account is its creator's until its holder chooses a password of their own.

A coordinator who creates a local account chooses its first password, so until the holder changes it (POST
/auth/password, `coc password`) the creator can sign in as it: for a two-person rule (destruction, erasure) the
two accounts are one person. The holder's own change ends that, and is ledgered (never the hash).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlmodel import Session

from core.actors import Actor
from core.clock import utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.ledger import EventKind, LedgerEntry, append, decode
from policies.authz.passwords import hash_password, verify_password
from policies.authz.users import User, get_user

PASSWORD_CHANGED = "password-changed"  # noqa: S105 - a ledger change name, not a secret


class PasswordChange(BaseModel):
    """Request body of POST /auth/password: the signed-in person's current password and their new one."""

    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=12, max_length=256)


def created_local_account(session: Session, *, creator_id: str, user_id: str) -> bool:
    """True when `user_id` is a local (password) account that `creator_id` created and whose holder has not
    chosen a password of their own since: the creator still knows its password and can sign in as it."""
    user = session.get(User, user_id)
    if user is None or user.password_hash is None or creator_id == user_id:
        return False
    created_by: str | None = None
    for entry in session.execute(select(LedgerEntry).where(LedgerEntry.kind == EventKind.USER_CHANGED.value)
                                 .order_by(LedgerEntry.seq)).scalars():
        body = decode(entry)
        data, actor = body.get("data", {}), body.get("actor", {}).get("id")
        if data.get("user") != user_id:
            continue
        if data.get("change") == "created":
            created_by = actor
        elif data.get("change") == PASSWORD_CHANGED and actor == user_id:
            created_by = None  # the holder's own password from here on
    return created_by == creator_id


def one_person(session: Session, first: str, second: str) -> bool:
    """Two accounts that one person may act as (see created_local_account), either way round."""
    return (created_local_account(session, creator_id=first, user_id=second)
            or created_local_account(session, creator_id=second, user_id=first))


def change_own_password(session: Session, *, actor: Actor, change: PasswordChange,
                        now: datetime | None = None) -> None:
    """The signed-in person replaces their local password (the current one is checked); every other login of
    theirs ends (its refresh tokens are revoked). Ledgered as a user change without any password material."""
    from policies.sessions import revoke_user_sessions

    now = now or utcnow()
    user = get_user(session, actor.id)
    if user.password_hash is None:
        raise ValidationFailed("this account signs in at your organisation's identity provider: change the "
                               "password there")
    if not verify_password(change.current_password, user.password_hash):
        raise PermissionDenied("the current password is wrong: nothing changed")
    if change.new_password == change.current_password:
        raise ValidationFailed("choose a new password different from the current one")
    user.password_hash = hash_password(change.new_password)
    session.add(user)
    revoke_user_sessions(session, user_id=user.id, now=now)
    session.flush()
    append(session, kind=EventKind.USER_CHANGED, actor=actor, at=now,
           data={"user": user.id, "change": PASSWORD_CHANGED})
