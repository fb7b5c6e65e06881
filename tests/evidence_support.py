"""Helpers for evidence tests: a case with consents granted through the real consent API."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from core.actors import Actor
from core.cases import CaseCreate, Reporting
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from policies.cases import open_case
from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision
from policies.handoffs import ConsentScope

# Fixed, well-formed staff ids: custody checks the receiver of a transfer against the staff accounts, so
# new_case() creates these accounts in the test database (ensure_staff).
# LAB and LAB2 are the centre's evidence-store staff (agency: the centre); CRIME_LAB and CRIME_LAB2 work at a
# crime lab, OFFICER and OFFICER2 at a police force (outside the centre: policies.boundary).
EXAMINER = Actor(id="U0000000000000E01", role="examiner")
LAB = Actor(id="U00000000000000B1", role="lab")
LAB2 = Actor(id="U00000000000000B2", role="lab")
OFFICER = Actor(id="U00000000000000P1", role="law_enforcement")
CRIME_LAB = Actor(id="U00000000000000X1", role="lab")
CRIME_LAB2 = Actor(id="U00000000000000X2", role="lab")
OFFICER2 = Actor(id="U00000000000000P2", role="law_enforcement")
STAFF = (EXAMINER, LAB, LAB2, OFFICER, CRIME_LAB, CRIME_LAB2, OFFICER2)
# Test partner agencies (one per kind), created on demand by ensure_agency.
TEST_AGENCY_NAMES = {"police": "Test police", "crime-lab": "Test crime lab", "prosecution": "Test prosecution",
                     "advocacy-org": "Test advocacy organisation"}
# Where a test account belongs when the test does not say: law enforcement at the police, CRIME_LAB* at the
# crime lab, everyone else at the centre.
_DEFAULT_KIND = {CRIME_LAB.id: "crime-lab", CRIME_LAB2.id: "crime-lab"}


def ensure_agency(session: Session, kind: str) -> str:
    """The id of the test agency of `kind` (the centre's own for "centre"), created unless it exists; flushes."""
    from policies.agencies import CENTRE_AGENCY_ID, AgencyCreate, AgencyKind, agency_by_name, create_agency

    if AgencyKind(kind) is AgencyKind.CENTRE:
        return CENTRE_AGENCY_ID
    name = TEST_AGENCY_NAMES[str(AgencyKind(kind))]
    agency = agency_by_name(session, name)
    if agency is None:
        from core.actors import system_actor

        agency = create_agency(session, actor=system_actor("test"), data=AgencyCreate(name=name, kind=kind))
    return agency.id


def default_agency_kind(actor_id: str, role: str) -> str:
    """The agency kind a test account belongs to unless the test says otherwise (see _DEFAULT_KIND)."""
    if actor_id in _DEFAULT_KIND:
        return _DEFAULT_KIND[actor_id]
    return "police" if str(role) == "law_enforcement" else "centre"


def ensure_staff(session: Session, *actors: Actor, agency_kind: str | None = None) -> None:
    """Create staff accounts for `actors` (default: STAFF above) unless they exist, in the test agency of
    `agency_kind` (default: default_agency_kind); flushes."""
    from core.clock import utcnow
    from policies.authz import User

    for actor in actors or STAFF:
        if session.get(User, actor.id) is None:
            agency_id = ensure_agency(session, agency_kind or default_agency_kind(actor.id, actor.role))
            session.add(User(id=actor.id, username=f"test-{actor.role}-{actor.id[-3:]}", role=actor.role,
                             subject=actor.id, password_hash=None, active=True, created_at=utcnow(),
                             agency_id=agency_id))
    session.flush()

ALL_SCOPES = (
    ConsentScope.MEDICAL_CARE, ConsentScope.FORENSIC_EXAM, ConsentScope.EVIDENCE_SWABS,
    ConsentScope.EVIDENCE_CLOTHING, ConsentScope.EVIDENCE_TOXICOLOGY, ConsentScope.PHOTO_RECORD,
    ConsentScope.RELEASE_LAW_ENFORCEMENT, ConsentScope.LAB_TESTING, ConsentScope.STATUS_LOOKUP,
)


def grant(session: Session, case_id: str, *scopes: ConsentScope, decision: Decision = Decision.GRANTED) -> None:
    """Record written consent decisions for `scopes` through the consent service."""
    for scope in scopes:
        record_decision(session, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
            scope=scope, decision=decision, method=Method.WRITTEN, form_ref=f"FORM-{scope}"))


def new_case(session: Session, *, consents=ALL_SCOPES, reporting=Reporting.UNRESTRICTED) -> str:
    """Open an adult case (reported) and grant `consents`; commits (creating the test staff accounts)."""
    ensure_staff(session)
    case = open_case(session, actor=EXAMINER, data=CaseCreate(reporting=reporting))
    grant(session, case.id, *consents)
    session.commit()
    return case.id


def past_retention(item_retention_until) -> timedelta:
    """How far to advance the ManualClock so an item's retention date (the pack's 20 years) has passed."""
    from core.clock import as_utc, utcnow

    return as_utc(item_retention_until) - utcnow() + timedelta(days=1)


def new_item(session: Session, case_id: str, kind: ItemKind = ItemKind.KIT, *, actor: Actor = EXAMINER,
             retention_until=None) -> str:
    """Collect an item and commit; returns its id."""
    item = collect_item(session, actor=actor, case_id=case_id, data=EvidenceItemCreate(
        kind=kind, description=f"test {kind}", retention_until=retention_until))
    session.commit()
    return item.id


def destroy_by_two(session: Session, item_id: str, *, proposer: Actor, approver: Actor, reason: str = "retention ended",
                   authority_ref: str = "ORDER-1", now=None):
    """Two-person destruction (evidence.destruction): `proposer` proposes, `approver` approves; no commit."""
    from evidence.custody import DestroyCreate
    from evidence.destruction import approve_destruction, propose_destruction

    propose_destruction(session, actor=proposer, item_id=item_id, now=now,
                        data=DestroyCreate(reason=reason, authority_ref=authority_ref))
    return approve_destruction(session, actor=approver, item_id=item_id, now=now)
