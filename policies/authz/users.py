"""Staff users: the account table, its request/response shapes, lookups, creation, changes and the per-request
authentication of a verified token subject (`active_actor`).

Security assumptions: who someone is and what role they hold comes from OUR database (role, active flag),
never from claims in a token; an unknown or deactivated account is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints
from sqlalchemy import Column, DateTime, ForeignKey, String, select
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.clock import utcnow
from core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from core.ids import PrintableLine, is_valid_id, new_id
from core.ledger import EventKind, append
from policies.agencies import Agency, AgencyKind, centre_agency, check_role_fits, needs_named_agency, resolve_agency
from policies.permissions import Role


class UserBase(SQLModel):
    """Fields of a staff account a coordinator may set."""

    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]+$")] = Field(min_length=1, max_length=64)
    role: Role = Field(sa_type=String(24))


class UserCreate(UserBase):
    """Request body to create a staff account (password for local login, or subject for an external IdP)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    password: str | None = Field(default=None, min_length=12, max_length=256)
    subject: str | None = Field(default=None, min_length=1, max_length=255)
    # The user's agency, by name or id. Centre roles default to the centre; law enforcement must name theirs.
    agency: PrintableLine | None = Field(default=None, min_length=1, max_length=120)


class UserUpdate(SQLModel):
    """Request body to change a staff account's role or agency (by name or id), or deactivate/reactivate it."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    role: Role | None = None
    active: bool | None = None
    agency: PrintableLine | None = Field(default=None, min_length=1, max_length=120)


class User(UserBase, table=True):
    """A staff account; `subject` is the token `sub` (local users: their id; IdP users: the IdP's sub)."""

    __tablename__ = "staff_user"

    id: str = Field(primary_key=True, max_length=32)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    subject: str = Field(sa_column=Column(String(255), unique=True, nullable=False))
    active: bool = True
    password_hash: str | None = Field(default=None, max_length=255)  # None: authenticates at an external IdP
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    agency_id: str = Field(sa_column=Column(String(32), ForeignKey("agency.id"), nullable=False))


class UserPublic(UserBase):
    """A staff account as shown through the API (no password hash), with its agency."""

    id: str
    subject: str
    active: bool
    created_at: datetime
    agency_id: str
    agency: str | None = None  # the agency's name
    agency_kind: AgencyKind | None = None


def user_by_subject(session: Session, subject: str) -> User | None:
    """The staff account whose token subject is `subject`, or None."""
    return session.execute(select(User).where(User.subject == subject)).scalars().first()


def user_by_username(session: Session, username: str) -> User | None:
    """The staff account named `username`, or None."""
    return session.execute(select(User).where(User.username == username)).scalars().first()


def get_user(session: Session, user_id: str) -> User:
    """Return the staff account or raise NotFound."""
    user = session.get(User, user_id) if is_valid_id(user_id, "user") else None
    if user is None:
        raise NotFound(f"no staff user {user_id!r}: check the user id")
    return user


def resolve_user(session: Session, ref: str) -> User:
    """The staff account named by `ref`: a user id, or a username (what people type).

    An unknown name is a 422 naming it (ValidationFailed), an unknown id a 404 (NotFound) as before; both are
    raised before anything is recorded.
    """
    user = session.get(User, ref) if is_valid_id(ref, "user") else None
    if user is None:
        user = user_by_username(session, ref)
    if user is None:
        if is_valid_id(ref, "user"):
            raise NotFound(f"no staff user {ref!r}: check the user id")
        raise ValidationFailed(f"no staff account named {ref!r}: check the username")
    return user


def active_actor(session: Session, subject: str) -> Actor:
    """Resolve a verified token subject to an Actor; unknown or deactivated accounts are refused (every request)."""
    # Three columns, not the whole account (no password hash, no ORM object): this runs on every request.
    row = session.execute(select(User.id, User.role, User.active).where(User.subject == subject)).first()
    if row is None:
        raise AuthenticationFailed("no staff account for this token: ask a coordinator to create one")
    user_id, role, active = row
    if not active:
        raise AuthenticationFailed("this staff account is deactivated")
    return Actor(id=user_id, role=str(role))


def create_user(session: Session, *, actor: Actor, data: UserCreate, password_hash: str | None = None,
                now: datetime | None = None) -> User:
    """Create a staff account (local with a password hash, or external keyed by subject)."""
    now = now or utcnow()
    if user_by_username(session, data.username) is not None:
        raise Conflict(f"username {data.username!r} is taken: choose another")
    if data.subject and user_by_subject(session, data.subject) is not None:
        raise Conflict("another account already uses this identity-provider subject")
    if password_hash is None and not data.subject:
        raise ValidationFailed("give a password (local login) or the identity provider's subject")
    agency = _agency_for(session, str(data.role), data.agency, None)
    uid = new_id("user")
    user = User(id=uid, username=data.username, role=Role(data.role), subject=data.subject or uid,
                password_hash=password_hash, active=True, created_at=now, agency_id=agency.id)
    session.add(user)
    session.flush()
    append(session, kind=EventKind.USER_CHANGED, actor=actor, at=now,
           data={"user": uid, "change": "created", "role": str(user.role), "agency": agency.id})
    return user


def _agency_for(session: Session, role: str, ref: str | None, current: str | None) -> Agency:
    """The agency a `role` user belongs to: `ref` (name or id), else `current`, else the centre for centre
    roles; the role must fit the agency's kind (ValidationFailed, 422, otherwise)."""
    if ref is not None:
        try:
            agency = resolve_agency(session, ref)
        except NotFound as exc:
            raise ValidationFailed(exc.detail) from None
    elif current is not None:
        agency = session.get(Agency, current) or centre_agency(session)
    elif needs_named_agency(role):
        raise ValidationFailed(f"a {role} user belongs to a partner agency, not the centre: name it (agency), "
                               "registering it first if needed (coc admin agency add NAME --kind police)")
    else:
        agency = centre_agency(session)
    check_role_fits(role, str(agency.kind), agency.name)
    return agency


def user_agency_kind(session: Session, user_id: str) -> AgencyKind | None:
    """The kind of agency the staff account `user_id` belongs to (None: no such account)."""
    kind = session.execute(select(Agency.kind).join(User, User.agency_id == Agency.id)
                           .where(User.id == user_id)).scalars().first()
    return AgencyKind(kind) if kind is not None else None


def users_public(session: Session, users: list[User]) -> list[UserPublic]:
    """Staff accounts as shown through the API, each with its agency's name and kind."""
    ids = {u.agency_id for u in users}
    agencies = {a.id: a for a in session.execute(select(Agency).where(Agency.id.in_(ids))).scalars()} if ids else {}
    out = []
    for u in users:
        agency = agencies.get(u.agency_id)
        out.append(UserPublic(id=u.id, username=u.username, role=Role(u.role), subject=u.subject, active=u.active,
                              created_at=u.created_at, agency_id=u.agency_id, agency=agency.name if agency else None,
                              agency_kind=AgencyKind(agency.kind) if agency else None))
    return out


def user_public(session: Session, user: User) -> UserPublic:
    """One staff account as shown through the API (see users_public)."""
    return users_public(session, [user])[0]


def update_user(session: Session, *, actor: Actor, user_id: str, change: UserUpdate,
                now: datetime | None = None) -> User:
    """Change a staff account's role and/or active flag (deactivation takes effect on the next request)."""
    now = now or utcnow()
    user = get_user(session, user_id)
    if user.id == actor.id and (change.active is False or (change.role and change.role != Role.COORDINATOR)):
        # Why: a coordinator locking themselves out could leave the centre without an administrator.
        raise Conflict("you cannot deactivate or demote your own account: ask another coordinator")
    data: dict[str, object] = {"user": user.id, "change": "updated"}
    if change.role is not None or change.agency is not None:
        role = str(change.role if change.role is not None else user.role)
        agency = _agency_for(session, role, change.agency, user.agency_id)
        if agency.id != user.agency_id:
            user.agency_id = agency.id
            data["agency"] = agency.id
    if change.role is not None:
        user.role = Role(change.role)
        data["role"] = str(change.role)
    if change.active is not None:
        user.active = change.active
        data["active"] = "yes" if change.active else "no"
        if not change.active:  # its refresh tokens end now (access tokens end at their next request)
            from policies.sessions import revoke_user_sessions

            revoke_user_sessions(session, user_id=user.id, now=now)
    session.add(user)
    session.flush()
    append(session, kind=EventKind.USER_CHANGED, actor=actor, at=now, data=data)
    return user
