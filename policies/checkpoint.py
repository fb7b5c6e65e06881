"""The consent checkpoint: decides every handoff from the consent state at that instant, and records it.

`decide` reads the case's consent decisions and overrides as they stood at `now`, applies the jurisdiction's
rules and the fail-closed requirement table below, and appends CHECKPOINT_ALLOWED or CHECKPOINT_DENIED to
the ledger in the caller's transaction. The entry cites the hashes of the consent/override entries relied on,
so the ledger shows why each handoff happened. `enforce` commits a denial (so it is never lost with the
caller's rollback) and raises ConsentRequired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.cases import Case, Reporting, get_case
from core.clock import utcnow
from core.db import commit_early
from core.errors import ConsentRequired
from core.ledger import EventKind
from policies.consent import (
    Method,
    OverrideBasis,
    ScopeState,
    Status,
    active_overrides,
    can_self_consent,
    consent_state,
    mandatory_report_applies,
)
from policies.handoffs import ConsentScope, Handoff
from policies.jurisdictions import get_pack

S = ConsentScope


@dataclass(frozen=True)
class Requirement:
    """What must be on record for a handoff: every scope granted (or overridden), plus conditions."""

    scopes: tuple[ConsentScope, ...]
    written: frozenset[ConsentScope] = frozenset()  # scopes whose grant must be on a signed form
    written_if_pack: frozenset[ConsentScope] = frozenset()  # written only if the pack requires it for release
    expiry: frozenset[ConsentScope] = frozenset()  # scopes whose grant must carry an expiry date
    reported_case_only: bool = False  # e.g. lab testing: never for non-reported kits
    override_bases: frozenset[OverrideBasis] = frozenset()  # statutory overrides that may stand in


# Fail closed: a handoff missing from this table is denied; an empty `scopes` tuple is treated as a denial.
REQUIREMENTS: dict[Handoff, Requirement] = {
    Handoff.MEDICAL_CARE: Requirement((S.MEDICAL_CARE,)),
    Handoff.FORENSIC_EXAM: Requirement((S.FORENSIC_EXAM,)),
    Handoff.COLLECT_SWABS: Requirement((S.FORENSIC_EXAM, S.EVIDENCE_SWABS)),
    Handoff.COLLECT_CLOTHING: Requirement((S.FORENSIC_EXAM, S.EVIDENCE_CLOTHING)),
    Handoff.COLLECT_TOXICOLOGY: Requirement((S.FORENSIC_EXAM, S.EVIDENCE_TOXICOLOGY)),
    Handoff.PHOTO_TAKE: Requirement((S.PHOTO_RECORD,)),
    Handoff.PHOTO_VIEW: Requirement((S.PHOTO_RECORD,)),
    Handoff.PHOTO_SHARE_TEACHING: Requirement((S.PHOTO_RECORD, S.PHOTO_TEACHING)),
    Handoff.PHOTO_SHARE_PUBLICATION: Requirement((S.PHOTO_RECORD, S.PHOTO_PUBLICATION)),
    Handoff.ADVOCATE_SHARE: Requirement(
        (S.SHARE_ADVOCATE,), written=frozenset({S.SHARE_ADVOCATE}), expiry=frozenset({S.SHARE_ADVOCATE})),
    # A restricted/anonymous report means no police involvement (domain.md): its kit stays at the centre until
    # the survivor converts the report to unrestricted, whatever release form is on file.
    Handoff.RELEASE_LAW_ENFORCEMENT: Requirement(
        (S.RELEASE_LAW_ENFORCEMENT,), written_if_pack=frozenset({S.RELEASE_LAW_ENFORCEMENT}),
        reported_case_only=True, override_bases=frozenset({OverrideBasis.COURT_ORDER})),
    Handoff.LAB_TESTING: Requirement(
        (S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING), written_if_pack=frozenset({S.RELEASE_LAW_ENFORCEMENT}),
        reported_case_only=True, override_bases=frozenset({OverrideBasis.COURT_ORDER})),
    Handoff.DISCLOSE_IDENTITY_POLICE: Requirement(
        (S.REPORT_POLICE,),
        override_bases=frozenset({OverrideBasis.MANDATORY_REPORT_MINOR, OverrideBasis.COURT_ORDER})),
    Handoff.STATUS_LOOKUP_ENROL: Requirement((S.STATUS_LOOKUP,)),
}


@dataclass(frozen=True)
class CheckpointDecision:
    """The outcome of one checkpoint decision and the ledger entry that records it."""

    allowed: bool
    handoff: Handoff
    reason: str  # readable by a person, no survivor identity
    consent_hash: str | None  # hash of the (first) consent/override entry relied on; None on a denial
    ledger_seq: int
    ledger_hash: str
    relied_on: tuple[str, ...] = field(default=())  # every consent/override entry hash relied on


def _scope_ok(
    case: Case, req: Requirement, scope: ConsentScope, st: ScopeState, release_written: bool
) -> str | None:
    """None when the scope's grant satisfies the requirement, else why not (readable)."""
    if st.status is Status.NONE:
        return f"no consent to {scope} is on record"
    if st.status is Status.EXPIRED:
        return f"consent to {scope} expired"
    if st.status is not Status.GRANTED:
        return f"consent to {scope} was {st.status}"
    if (scope in req.written or (scope in req.written_if_pack and release_written)) and not st.written:
        return f"consent to {scope} must be written (a signed form reference) but was given {st.method}"
    if scope in req.expiry and st.expires_at is None:
        return f"consent to {scope} must be time-limited (an expiry date)"
    if not can_self_consent(case) and st.method is not Method.GUARDIAN:
        return f"consent to {scope} must come from a guardian for this age band in {case.jurisdiction}"
    return None


def _evaluate(session: Session, case: Case, handoff: Handoff, now: datetime,
              subject: dict[str, Any]) -> tuple[bool, str, list[tuple[str, int]]]:
    """Apply the requirement table; return (allowed, reason, [(hash, seq) relied on])."""
    req = REQUIREMENTS.get(handoff)
    if req is None or not req.scopes:
        return False, f"no consent rule is defined for {handoff}: denied by default", []
    pack = get_pack(case.jurisdiction)
    release_written = pack.consent.release_requires_written
    state = consent_state(session, case.id, now)
    overrides = active_overrides(session, case.id, now)
    relied: list[tuple[str, int]] = []
    via_override = []
    for scope in req.scopes:
        problem = _scope_ok(case, req, scope, state[scope], release_written)
        if problem is None:
            relied.append((state[scope].ledger_hash, state[scope].ledger_seq))
            continue
        ov = overrides.get(scope)
        if ov is not None and OverrideBasis(ov.basis) in req.override_bases and (
            OverrideBasis(ov.basis) is not OverrideBasis.MANDATORY_REPORT_MINOR or mandatory_report_applies(case)
        ):
            relied.append((ov.ledger_hash, ov.ledger_seq))
            via_override.append(f"{scope} by {ov.basis} ({ov.legal_basis})")
            continue
        return False, f"{handoff} refused: {problem}", []
    if req.reported_case_only and (case.reporting != Reporting.UNRESTRICTED or subject.get("reported") is False):
        return False, (f"{handoff} refused: the kit is not reported (case reporting is {case.reporting}); the "
                       "survivor can convert the report to unrestricted at any time"), []
    reason = f"{handoff} allowed: consent on record for {', '.join(req.scopes)}"
    if via_override:
        reason += "; statutory override: " + "; ".join(via_override)
    return True, reason, relied


def decide(
    session: Session,
    *,
    case_id: str,
    handoff: Handoff,
    actor: Actor,
    now: datetime | None = None,
    subject: dict[str, Any] | None = None,
) -> CheckpointDecision:
    """Decide `handoff` from the consent state at `now` and append the decision to the ledger (no commit)."""
    now = now or utcnow()
    subject = dict(subject or {})
    case = get_case(session, case_id)
    try:
        handoff = Handoff(handoff)
    except ValueError:
        allowed, reason, relied = False, f"unknown handoff {handoff!r}: denied by default", []
    else:
        allowed, reason, relied = _evaluate(session, case, handoff, now, subject)
    item_id = subject.pop("item_id", None)
    entry = ledger.append(
        session, kind=EventKind.CHECKPOINT_ALLOWED if allowed else EventKind.CHECKPOINT_DENIED, actor=actor,
        case_id=case.id, item_id=item_id, at=now,
        data={"handoff": str(handoff), "reason": reason, "relied_on": [h for h, _ in relied],
              "relied_on_seq": [s for _, s in relied], "subject": subject},
    )
    hashes = tuple(h for h, _ in relied)
    return CheckpointDecision(allowed, handoff, reason, hashes[0] if hashes else None, entry.seq,
                              entry.entry_hash, hashes)


def enforce(
    session: Session,
    *,
    case_id: str,
    handoff: Handoff,
    actor: Actor,
    now: datetime | None = None,
    subject: dict[str, Any] | None = None,
) -> CheckpointDecision:
    """Return the allowing decision, or commit the denial entry and raise ConsentRequired (call it first)."""
    decision = decide(session, case_id=case_id, handoff=handoff, actor=actor, now=now, subject=subject)
    if not decision.allowed:
        commit_early(session, "the denial must be on record even though the caller's change will not happen")
        raise ConsentRequired(decision.reason, handoff=str(decision.handoff), ledger_seq=decision.ledger_seq)
    return decision
