"""Consent services: record decisions and overrides (each with its ledger entry), and load a case's state.

Nothing is overwritten. `consent_state(session, case_id, now)` loads the rows and replays them up to `now`
(the pure policies.consent.rules.replay_decisions). Withdrawal takes effect at once for future handoffs (the
checkpoint reads the state at the instant of each handoff), erases nothing, and calls the registered
withdrawal hooks (policies.consent.hooks) so other packages can mark affected items.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.ledger import EventKind
from policies.consent.hooks import wake_pathway, withdrawal_hooks
from policies.consent.models import ConsentDecision, ConsentOverride, Decision, OverrideBasis
from policies.consent.rules import (
    ScopeState,
    in_recorded_order,
    mandatory_report_applies,
    method_problem,
    overrides_in_force,
    replay_decisions,
)
from policies.consent.shapes import ConsentDecisionCreate, ConsentOverrideCreate
from policies.handoffs import ConsentScope
from policies.jurisdictions import get_pack
from policies.permissions import Role


def record_decision(
    session: Session, *, actor: Actor, case_id: str, data: ConsentDecisionCreate, now: datetime | None = None
) -> ConsentDecision:
    """Record one consent decision as a new row plus a CONSENT_RECORDED ledger entry."""
    now = now or utcnow()
    data = ConsentDecisionCreate.model_validate(data.model_dump())
    case = get_case(session, case_id)
    if data.expires_at is not None and as_utc(data.expires_at) <= now:
        raise ValidationFailed("expires_at is already in the past: give a future expiry date")
    # A survivor old enough to consent decides for themselves (verbal, written): a guardian's word must never
    # replace (or override) their own decision. Below the pack's age of consent a guardian decides, and the
    # minor's own assent or refusal is recorded as minor-assent.
    problem = method_problem(data.method, age_band=case.age_band, pack=get_pack(case.jurisdiction))
    if problem is not None:
        raise ValidationFailed(problem)
    if data.decision is Decision.GRANTED and actor.role == Role.ADVOCATE:
        # An advocate may pass on a survivor's refusal or withdrawal (it can only narrow sharing), but a grant
        # is recorded by the examiner who obtained it: an advocate must not unlock their own access (the
        # sharing release) or an evidence release.
        raise PermissionDenied("an advocate can record a survivor's refusal or withdrawal; a consent grant is "
                               "recorded by the examiner who obtained it")
    # The form reference is typed by staff: sealed in case_text, its commitment in the ledger and the row.
    data = data.model_copy(update={"form_ref": crypto.keep_text(
        session, case_id=case.id, purpose=crypto.TextPurpose.FORM_REF, text=data.form_ref, now=now)})
    entry = ledger.append(
        session, kind=EventKind.CONSENT_RECORDED, actor=actor, case_id=case.id, at=now,
        data={"scope": data.scope, "decision": data.decision, "method": data.method,
              "form_ref": data.form_ref, "expires_at": data.expires_at},
    )
    row = ConsentDecision(
        **data.model_dump(), case_id=case.id, decided_at=now, recorded_by=actor.id,
        ledger_seq=entry.seq, ledger_hash=entry.entry_hash,
    )
    session.add(row)
    session.flush()
    if data.decision is Decision.WITHDRAWN:
        hooks = withdrawal_hooks()
        if not hooks:
            # Fail closed: without its hooks a withdrawal would leave offers open and photographs shareable.
            raise RuntimeError("withdrawal hooks are not wired: the process must call evidence.bootstrap.wire()")
        for hook in hooks:
            hook(session, case.id, data.scope, actor, now)
    wake_pathway(session, case.id, f"consent:{data.scope}:{data.decision}", now)
    return row


def record_override(
    session: Session, *, actor: Actor, case_id: str, data: ConsentOverrideCreate, now: datetime | None = None
) -> ConsentOverride:
    """Record a statutory override (mandatory report for a minor, court order) with its legal basis."""
    now = now or utcnow()
    data = ConsentOverrideCreate.model_validate(data.model_dump())
    case = get_case(session, case_id)
    if data.basis is OverrideBasis.MANDATORY_REPORT_MINOR and not mandatory_report_applies(case):
        raise ValidationFailed(
            f"a mandatory report for a minor does not apply: the case's age band {case.age_band} is not under "
            f"the reporting age of jurisdiction {case.jurisdiction!r}"
        )
    if data.expires_at is not None and as_utc(data.expires_at) <= now:
        raise ValidationFailed("expires_at is already in the past: give a future expiry date")
    # The legal basis and the order's reference are typed by staff: sealed, their commitments in ledger and row.
    data = data.model_copy(update={
        "legal_basis": crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.LEGAL_BASIS,
                                        text=data.legal_basis, now=now),
        "reference": crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.REFERENCE,
                                      text=data.reference, now=now)})
    entry = ledger.append(
        session, kind=EventKind.CONSENT_OVERRIDE, actor=actor, case_id=case.id, at=now,
        data={"scope": data.scope, "basis": data.basis, "legal_basis": data.legal_basis,
              "reference": data.reference, "expires_at": data.expires_at},
    )
    row = ConsentOverride(
        **data.model_dump(), case_id=case.id, recorded_at=now, recorded_by=actor.id,
        ledger_seq=entry.seq, ledger_hash=entry.entry_hash,
    )
    session.add(row)
    session.flush()
    wake_pathway(session, case.id, f"override:{data.scope}", now)
    return row


def _decision_rows(session: Session, case_id: str) -> list[ConsentDecision]:
    return list(session.execute(
        select(ConsentDecision).where(ConsentDecision.case_id == case_id)
        .order_by(ConsentDecision.decided_at, ConsentDecision.id)
    ).scalars().all())


def _override_rows(session: Session, case_id: str) -> list[ConsentOverride]:
    return list(session.execute(
        select(ConsentOverride).where(ConsentOverride.case_id == case_id)
        .order_by(ConsentOverride.recorded_at, ConsentOverride.id)
    ).scalars().all())


def consent_state(session: Session, case_id: str, now: datetime | None = None) -> dict[ConsentScope, ScopeState]:
    """Effective state of every scope at `now`: the latest decision made at or before it, expiry applied."""
    # In ledger order (a clock that stepped back does not reorder decisions: rules.in_recorded_order).
    return replay_decisions(in_recorded_order(_decision_rows(session, case_id)), now or utcnow())


def active_overrides(
    session: Session, case_id: str, now: datetime | None = None
) -> dict[ConsentScope, ConsentOverride]:
    """The override in force for each scope at `now` (the most recent unexpired one)."""
    return overrides_in_force(_override_rows(session, case_id), now or utcnow())


def list_decisions(session: Session, case_id: str) -> list[ConsentDecision]:
    """Every decision of a case, oldest first (the full history, nothing hidden)."""
    get_case(session, case_id)
    return _decision_rows(session, case_id)


def list_overrides(session: Session, case_id: str) -> list[ConsentOverride]:
    """Every override of a case, oldest first."""
    get_case(session, case_id)
    return _override_rows(session, case_id)
