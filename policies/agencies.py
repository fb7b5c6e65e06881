"""Agencies: the centre itself and its partners (police, crime lab, prosecution, advocacy organisations).

Every staff account belongs to exactly one agency (policies.authz.User.agency_id). The agency, not the role,
says which side of the centre's boundary a person stands on: a `lab` user of the centre is evidence-store
staff, a `lab` user of a crime lab is outside the centre (policies.boundary decides what a move across needs).

Which roles fit which agency kind is the pure rule `role_fits` / `check_role_fits`. Migration 0004 creates
the table, inserts the centre's own agency (`CENTRE_AGENCY_ID`) and puts existing accounts into agencies.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, String, select
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import PrintableLine, is_valid_id, new_id
from core.ledger import EventKind, append
from policies.permissions import Role

# The centre's own agency, inserted by migration 0004 (a fixed id so defaults and backfills can name it).
CENTRE_AGENCY_ID = "Y0000000000000000"
CENTRE_AGENCY_NAME = "Centre"


class AgencyKind(StrEnum):
    """What kind of organisation an agency is."""

    CENTRE = "centre"  # the response centre running this system (one per database)
    POLICE = "police"
    CRIME_LAB = "crime-lab"
    PROSECUTION = "prosecution"
    ADVOCACY_ORG = "advocacy-org"  # e.g. a rape crisis centre outside the centre


# Which agency kinds each role may belong to (pure rule; anything not listed is refused).
ROLE_AGENCY_KINDS: dict[Role, frozenset[AgencyKind]] = {
    Role.EXAMINER: frozenset({AgencyKind.CENTRE}),
    Role.ADVOCATE: frozenset({AgencyKind.CENTRE, AgencyKind.ADVOCACY_ORG}),
    Role.LAB: frozenset({AgencyKind.CENTRE, AgencyKind.CRIME_LAB}),  # centre: evidence store; crime lab: testing
    Role.LAW_ENFORCEMENT: frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTION}),
    Role.AUDITOR: frozenset({AgencyKind.CENTRE}),
    Role.COORDINATOR: frozenset({AgencyKind.CENTRE}),
}


def role_fits(role: str, kind: str) -> bool:
    """True when a `role` user may belong to an agency of `kind` (unknown role or kind: False)."""
    try:
        return AgencyKind(kind) in ROLE_AGENCY_KINDS.get(Role(role), frozenset())
    except ValueError:
        return False


def check_role_fits(role: str, kind: str, agency_name: str) -> None:
    """Raise ValidationFailed (HTTP 422) when `role` does not fit an agency of `kind`."""
    if not role_fits(role, kind):
        kinds = next((v for r, v in ROLE_AGENCY_KINDS.items() if r.value == str(role)), frozenset())
        allowed = sorted(str(k) for k in kinds)
        raise ValidationFailed(f"a {role} user cannot belong to agency {agency_name!r} (kind {kind}): "
                               f"{role} staff belong to an agency of kind {' or '.join(allowed) or 'none'}")


def needs_named_agency(role: str) -> bool:
    """True when a new `role` user must name their agency (the role does not fit the centre)."""
    return not role_fits(role, AgencyKind.CENTRE)


# --- tables and request/response shapes ------------------------------------------------------------

class AgencyBase(SQLModel):
    """Fields of an agency a coordinator sets."""

    name: PrintableLine = Field(min_length=1, max_length=120)
    kind: AgencyKind = Field(sa_type=String(16))

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class AgencyCreate(AgencyBase):
    """Request body to register a partner agency."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped


class Agency(AgencyBase, table=True):
    """An organisation whose staff use the system (the centre itself, or a partner)."""

    __tablename__ = "agency"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class AgencyPublic(AgencyBase):
    """An agency as shown through the API."""

    id: str
    created_at: datetime


# --- services -------------------------------------------------------------------------------------

def get_agency(session: Session, agency_id: str) -> Agency:
    """Return the agency or raise NotFound."""
    agency = session.get(Agency, agency_id) if is_valid_id(agency_id, "agency") else None
    if agency is None:
        raise NotFound(f"no agency {agency_id!r}: check the agency id (coc admin agency list)")
    return agency


def agency_by_name(session: Session, name: str) -> Agency | None:
    """The agency called `name` (exact), or None."""
    return session.execute(select(Agency).where(Agency.name == name)).scalars().first()


def resolve_agency(session: Session, ref: str) -> Agency:
    """The agency named `ref`, or whose id is `ref`; NotFound otherwise (people type names, not ids)."""
    ref = ref.strip()
    agency = agency_by_name(session, ref)
    if agency is None and is_valid_id(ref, "agency"):
        agency = session.get(Agency, ref)
    if agency is None:
        raise NotFound(f"no agency named {ref!r}: register it first (coc admin agency add) or check the name")
    return agency


def centre_agency(session: Session) -> Agency:
    """The centre's own agency (inserted by migration 0004)."""
    agency = session.get(Agency, CENTRE_AGENCY_ID)
    if agency is None:
        raise NotFound("the centre's own agency is missing: run the database migrations (coc up migrates)")
    return agency


def list_agencies(session: Session) -> list[Agency]:
    """Every agency, by name."""
    return list(session.execute(select(Agency).order_by(Agency.name)).scalars())


def create_agency(session: Session, *, actor: Actor, data: AgencyCreate, now: datetime | None = None) -> Agency:
    """Register a partner agency (ledgered). There is one centre per database: its own, made by the migration."""
    now = now or utcnow()
    data = AgencyCreate.model_validate(data.model_dump())
    if data.kind is AgencyKind.CENTRE:
        raise Conflict("the centre's own agency already exists (there is one per installation): register "
                       "partners as police, crime-lab, prosecution or advocacy-org")
    if agency_by_name(session, data.name) is not None:
        raise Conflict(f"an agency named {data.name!r} already exists: choose another name")
    agency = Agency(id=new_id("agency"), name=data.name, kind=data.kind, created_at=now)
    session.add(agency)
    session.flush()
    append(session, kind=EventKind.AGENCY_CREATED, actor=actor, at=now,
           data={"agency": agency.id, "agency_kind": str(agency.kind)})  # the name stays in the table
    return agency
