"""The checkpoint's requirement table and its evaluation, pure (no Session): unit-tested in
tests/unit/test_checkpoint_rules.py; policies.checkpoint.service loads the state and ledgers the decision.

Fail closed: a handoff that is unknown, missing from REQUIREMENTS, or whose requirement names no scope is
denied; a scope missing from the given state counts as "no consent on record".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.cases import Case, Reporting
from policies.consent import (
    Method,
    OverrideBasis,
    ScopeState,
    Status,
    band_mandatory_report,
    band_self_consents,
)
from policies.handoffs import ConsentScope, Handoff
from policies.jurisdictions import RulePack

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
class CaseFacts:
    """What the evaluation needs to know about the case and its jurisdiction's pack (plain values)."""

    jurisdiction: str
    reporting: Reporting
    self_consents: bool  # the survivor consents for themselves (else a guardian must)
    mandatory_report: bool  # the pack's mandatory reporting covers the case's age band
    release_requires_written: bool  # the pack's consent.release_requires_written

    @classmethod
    def of(cls, case: Case, pack: RulePack) -> CaseFacts:
        """The facts of `case` under `pack` (its jurisdiction's)."""
        return cls(jurisdiction=str(case.jurisdiction), reporting=Reporting(str(case.reporting)),
                   self_consents=band_self_consents(case.age_band, pack),
                   mandatory_report=band_mandatory_report(case.age_band, pack),
                   release_requires_written=pack.consent.release_requires_written)


class OverrideLike(Protocol):
    """What the evaluation reads of an override in force (a ConsentOverride row or an OverrideRecord)."""

    basis: OverrideBasis | str
    legal_basis: str
    ledger_hash: str
    ledger_seq: int


@dataclass(frozen=True)
class Evaluation:
    """The rule's answer: allowed or not, why (readable, no survivor identity), and what it relied on."""

    allowed: bool
    reason: str
    relied: tuple[tuple[str, int], ...] = ()  # (ledger hash, seq) of each consent/override entry relied on


def requirement_for(handoff: Handoff | str) -> Requirement | None:
    """The requirement of a known handoff that names at least one scope, else None (denied)."""
    try:
        req = REQUIREMENTS.get(Handoff(handoff))
    except ValueError:
        return None
    return req if req is not None and req.scopes else None


def scope_problem(req: Requirement, scope: ConsentScope, st: ScopeState, facts: CaseFacts) -> str | None:
    """None when the scope's grant satisfies the requirement, else why not (readable)."""
    if st.status is Status.NONE:
        return f"no consent to {scope} is on record"
    if st.status is Status.EXPIRED:
        return f"consent to {scope} expired"
    if st.status is not Status.GRANTED:
        return f"consent to {scope} was {st.status}"
    written_needed = scope in req.written or (scope in req.written_if_pack and facts.release_requires_written)
    if written_needed and not st.written:
        return f"consent to {scope} must be written (a signed form reference) but was given {st.method}"
    if scope in req.expiry and st.expires_at is None:
        return f"consent to {scope} must be time-limited (an expiry date)"
    if not facts.self_consents and st.method is not Method.GUARDIAN:
        return f"consent to {scope} must come from a guardian for this age band in {facts.jurisdiction}"
    return None


def override_covers(req: Requirement, ov: OverrideLike | None, facts: CaseFacts) -> bool:
    """True when the override in force may stand in for the scope's consent under `req`."""
    if ov is None:
        return False
    basis = OverrideBasis(str(ov.basis))
    return basis in req.override_bases and (basis is not OverrideBasis.MANDATORY_REPORT_MINOR
                                            or facts.mandatory_report)


def evaluate(
    handoff: Handoff | str,
    *,
    state: Mapping[ConsentScope, ScopeState],
    overrides: Mapping[ConsentScope, OverrideLike],
    facts: CaseFacts,
    kit_reported: bool | None = None,
) -> Evaluation:
    """Apply the requirement table to the consent state and overrides in force at one instant.

    `kit_reported` False (the subject item's own flag) refuses a reported_case_only handoff even in an
    unrestricted case; None means the caller gave no such flag.
    """
    try:
        handoff = Handoff(handoff)
    except ValueError:
        return Evaluation(False, f"unknown handoff {handoff!r}: denied by default")
    req = requirement_for(handoff)
    if req is None:
        return Evaluation(False, f"no consent rule is defined for {handoff}: denied by default")
    relied: list[tuple[str, int]] = []
    via_override = []
    for scope in req.scopes:
        st = state.get(scope) or ScopeState(scope, Status.NONE)
        problem = scope_problem(req, scope, st, facts)
        if problem is None:
            relied.append((st.ledger_hash, st.ledger_seq))
            continue
        ov = overrides.get(scope)
        if override_covers(req, ov, facts):
            relied.append((ov.ledger_hash, ov.ledger_seq))
            # the override's entry, not its legal basis: that is staff's text, kept out of the ledger (issue #14)
            via_override.append(f"{scope} by {ov.basis} (override entry {ov.ledger_seq})")
            continue
        return Evaluation(False, f"{handoff} refused: {problem}")
    if req.reported_case_only and (facts.reporting != Reporting.UNRESTRICTED or kit_reported is False):
        return Evaluation(False, f"{handoff} refused: the kit is not reported (case reporting is "
                                 f"{facts.reporting}); the survivor can convert the report to unrestricted at "
                                 "any time")
    reason = f"{handoff} allowed: consent on record for {', '.join(req.scopes)}"
    if via_override:
        reason += "; statutory override: " + "; ".join(via_override)
    return Evaluation(True, reason, tuple(relied))
