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
EXAMINER = Actor(id="U0000000000000E01", role="examiner")
LAB = Actor(id="U00000000000000B1", role="lab")
LAB2 = Actor(id="U00000000000000B2", role="lab")
OFFICER = Actor(id="U00000000000000P1", role="law_enforcement")
STAFF = (EXAMINER, LAB, LAB2, OFFICER)


def ensure_staff(session: Session, *actors: Actor) -> None:
    """Create staff accounts for `actors` (default: the four above) unless they exist; flushes."""
    from core.clock import utcnow
    from policies.authz import User

    for actor in actors or STAFF:
        if session.get(User, actor.id) is None:
            session.add(User(id=actor.id, username=f"test-{actor.role}-{actor.id[-3:]}", role=actor.role,
                             subject=actor.id, password_hash=None, active=True, created_at=utcnow()))
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
