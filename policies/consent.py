"""Consent decisions and statutory overrides: append-only rows, each with its ledger entry.

Nothing is overwritten. A new decision supersedes the previous one for the same scope from the instant it
is made; `consent_state(session, case_id, now)` replays the rows up to `now`. Withdrawal takes effect at
once for future handoffs (the checkpoint reads the state at the instant of each handoff), erases nothing,
and calls the registered withdrawal hooks so other packages can mark affected items.

Why hooks: policies must not import evidence, yet withdrawing photography consent must flag that case's
photographs as restricted. The composition root (evidence.bootstrap.wire) registers the evidence package's
callbacks with `register_withdrawal_hook`; a withdrawal in a process that never wired them is refused. A hook
runs inside the caller's transaction, so the flag and the withdrawal commit together. The checkpoint never
relies on that flag: it denies photograph handoffs from the consent state itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import field_validator, model_validator
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, select
from sqlmodel import Field, Session, SQLModel

from core import ledger, outbox
from core.actors import Actor
from core.cases import AgeBand, Case, get_case
from core.clock import as_utc, require_offset, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.ledger import EventKind
from policies.handoffs import ConsentScope
from policies.jurisdictions import RulePack, get_pack
from policies.permissions import Role


class Decision(StrEnum):
    """What the survivor (or guardian) decided for one scope."""

    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class Method(StrEnum):
    """How the decision was given."""

    VERBAL = "verbal"
    WRITTEN = "written"
    GUARDIAN = "guardian"
    MINOR_ASSENT = "minor-assent"


class OverrideBasis(StrEnum):
    """Statutory grounds on which a handoff may proceed without (or against) consent."""

    MANDATORY_REPORT_MINOR = "mandatory-report-minor"
    COURT_ORDER = "court-order"


# Which scopes each basis may override (fail closed: anything not listed cannot be overridden).
OVERRIDABLE: dict[OverrideBasis, frozenset[ConsentScope]] = {
    OverrideBasis.MANDATORY_REPORT_MINOR: frozenset({ConsentScope.REPORT_POLICE}),
    OverrideBasis.COURT_ORDER: frozenset({
        ConsentScope.RELEASE_LAW_ENFORCEMENT, ConsentScope.LAB_TESTING, ConsentScope.REPORT_POLICE,
    }),
}

# Scopes whose grant must carry an expiry (VAWA/FVPSA: information-sharing releases are time-limited).
EXPIRY_REQUIRED = frozenset({ConsentScope.SHARE_ADVOCATE})

# References to paper forms / court orders: short codes only, so no name can slip in.
_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def _check_ref(value: str | None, what: str) -> str | None:
    if value is not None and not _REF_RE.match(value):
        raise ValueError(f"{what} must be a short reference code (letters, digits, . _ : / -), not free text")
    return value


class ConsentDecisionBase(SQLModel):
    """Fields a caller gives when recording a decision."""

    scope: ConsentScope = Field(sa_type=String(32))
    decision: Decision = Field(sa_type=String(16))
    method: Method = Field(sa_type=String(16))
    form_ref: str | None = Field(default=None, max_length=64)  # signed form's reference, required if written
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ConsentDecisionCreate(ConsentDecisionBase):
    """Request body for recording a consent decision."""

    @field_validator("expires_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    @field_validator("form_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return _check_ref(v, "form_ref")

    @model_validator(mode="after")
    def _rules(self) -> ConsentDecisionCreate:
        if self.method is Method.WRITTEN and not self.form_ref:
            raise ValueError("a written decision needs form_ref, the signed form's reference")
        if self.decision is Decision.GRANTED and self.scope in EXPIRY_REQUIRED and self.expires_at is None:
            raise ValueError(f"consent to {self.scope} must have an expiry date (expires_at)")
        if self.decision is not Decision.GRANTED and self.expires_at is not None:
            raise ValueError("only a grant can carry an expiry date")
        return self


class ConsentDecision(ConsentDecisionBase, table=True):
    """One decision, never updated (append-only in the database)."""

    __tablename__ = "consent_decision"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    decided_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)


class ConsentDecisionPublic(ConsentDecisionBase):
    """A decision as shown through the API."""

    id: int
    case_id: str
    decided_at: datetime
    recorded_by: str
    ledger_seq: int
    ledger_hash: str


class ConsentOverrideBase(SQLModel):
    """Fields of a statutory override."""

    scope: ConsentScope = Field(sa_type=String(32))
    basis: OverrideBasis = Field(sa_type=String(32))
    legal_basis: str = Field(max_length=200)  # the statute or rule relied on, e.g. "Tex. Fam. Code 261.101"
    reference: str | None = Field(default=None, max_length=64)  # e.g. the court order's number
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ConsentOverrideCreate(ConsentOverrideBase):
    """Request body for recording an override."""

    @field_validator("expires_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    @field_validator("legal_basis")
    @classmethod
    def _basis(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("legal_basis must name the statute or order relied on")
        return v.strip()

    @field_validator("reference")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return _check_ref(v, "reference")

    @model_validator(mode="after")
    def _rules(self) -> ConsentOverrideCreate:
        if self.scope not in OVERRIDABLE[self.basis]:
            raise ValueError(f"a {self.basis} override cannot apply to {self.scope}")
        if self.basis is OverrideBasis.COURT_ORDER and not self.reference:
            raise ValueError("a court-order override needs the order's reference")
        return self


class ConsentOverride(ConsentOverrideBase, table=True):
    """One override, never updated (append-only in the database)."""

    __tablename__ = "consent_override"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    recorded_by: str = Field(max_length=64)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)


class ConsentOverridePublic(ConsentOverrideBase):
    """An override as shown through the API."""

    id: int
    case_id: str
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int
    ledger_hash: str


# --- withdrawal hooks -------------------------------------------------------------------------------

WithdrawalHook = Callable[[Session, str, ConsentScope, Actor, datetime], None]
_withdrawal_hooks: list[WithdrawalHook] = []


def register_withdrawal_hook(hook: WithdrawalHook) -> WithdrawalHook:
    """Register `hook(session, case_id, scope, actor, now)`, run in the withdrawing transaction."""
    if hook not in _withdrawal_hooks:
        _withdrawal_hooks.append(hook)
    return hook


def unregister_withdrawal_hook(hook: WithdrawalHook) -> None:
    """Remove a hook (tests)."""
    if hook in _withdrawal_hooks:
        _withdrawal_hooks.remove(hook)


# --- waking the pathway flow ------------------------------------------------------------------------

def wake_pathway(session: Session, case_id: str, reason: str, now: datetime | None = None) -> None:
    """Queue a wake-up of the case's pathway flow in this transaction (the single call site into core.outbox).

    `reason` is for readers of this code only: the outbox row carries the opaque case id and nothing else,
    and the woken flow re-reads the database to see what changed.
    """
    outbox.enqueue(session, case_id=case_id, kind=outbox.OutboxKind.WAKE, now=now)


# --- recording ----------------------------------------------------------------------------------------

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
        if not _withdrawal_hooks:
            # Fail closed: without its hooks a withdrawal would leave offers open and photographs shareable.
            raise RuntimeError("withdrawal hooks are not wired: the process must call evidence.bootstrap.wire()")
        for hook in list(_withdrawal_hooks):
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


# --- age rules ----------------------------------------------------------------------------------------

# The youngest age in each band: rules compare it with the pack's ages (a band straddling one is "under").
_BAND_MIN_AGE = {"under-13": 0, "13": 13, "14-15": 14, "16-17": 16}


def band_min_age(case: Case) -> int | None:
    """The youngest age of the case's band, or None for an adult."""
    return _BAND_MIN_AGE.get(str(case.age_band))


def band_self_consents(age_band: AgeBand | str, pack: RulePack) -> bool:
    """Pure: True when a survivor of `age_band` consents for themselves under `pack` (adults always)."""
    age = _BAND_MIN_AGE.get(str(AgeBand(str(age_band))))
    return age is None or age >= pack.consent.age_of_consent


def allowed_methods(age_band: AgeBand | str, pack: RulePack) -> tuple[Method, ...]:
    """Pure: the consent methods valid for a survivor of `age_band` under `pack`.

    Old enough to consent (adults; minors at or above consent.age_of_consent): their own decision, verbal or
    written. Younger: a guardian's decision, and the minor's own assent (or refusal) as minor-assent.
    """
    if band_self_consents(age_band, pack):
        return (Method.VERBAL, Method.WRITTEN)
    return (Method.GUARDIAN, Method.MINOR_ASSENT)


def method_problem(method: Method | str, *, age_band: AgeBand | str, pack: RulePack) -> str | None:
    """Pure: None when `method` is valid for `age_band` under `pack`, else a message naming the valid ones."""
    method = Method(str(method))
    allowed = allowed_methods(age_band, pack)
    if method in allowed:
        return None
    band = AgeBand(str(age_band))
    who = ("this survivor can consent for themselves" if band_self_consents(band, pack)
           else "this survivor is under the age of consent")
    return (f"{method} is not valid for age band {band} in {pack.code}: {who} (age of consent "
            f"{pack.consent.age_of_consent}); use {' or '.join(str(m) for m in allowed)}")


def mandatory_report_applies(case: Case) -> bool:
    """True when the jurisdiction's mandatory reporting covers this case's age band."""
    age = band_min_age(case)
    return age is not None and age < get_pack(case.jurisdiction).consent.mandatory_report_under_age


def can_self_consent(case: Case) -> bool:
    """True when the survivor is old enough, in this jurisdiction, to consent without a guardian."""
    return band_self_consents(case.age_band, get_pack(case.jurisdiction))


# --- state at an instant ----------------------------------------------------------------------------

class Status(StrEnum):
    """Effective status of one scope at an instant."""

    NONE = "none"
    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ScopeState:
    """The effective decision for one scope at an instant, and the ledger entry it rests on."""

    scope: ConsentScope
    status: Status
    method: Method | None = None
    written: bool = False
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    ledger_hash: str | None = None
    ledger_seq: int | None = None

    @property
    def granted(self) -> bool:
        """True only for an unexpired, unwithdrawn grant."""
        return self.status is Status.GRANTED


def _is_written(row: ConsentDecision) -> bool:
    """Written means a signed form is on file (the survivor's own, or a guardian's)."""
    return bool(row.form_ref) and Method(row.method) in (Method.WRITTEN, Method.GUARDIAN)


def consent_state(session: Session, case_id: str, now: datetime | None = None) -> dict[ConsentScope, ScopeState]:
    """Effective state of every scope at `now`: the latest decision made at or before it, expiry applied."""
    now = now or utcnow()
    rows = session.execute(
        select(ConsentDecision).where(ConsentDecision.case_id == case_id)
        .order_by(ConsentDecision.decided_at, ConsentDecision.id)
    ).scalars().all()
    latest: dict[ConsentScope, ConsentDecision] = {}
    for row in rows:
        if as_utc(row.decided_at) <= now:
            latest[ConsentScope(row.scope)] = row
    state: dict[ConsentScope, ScopeState] = {}
    for scope in ConsentScope:
        row = latest.get(scope)
        if row is None:
            state[scope] = ScopeState(scope, Status.NONE)
            continue
        expires = as_utc(row.expires_at) if row.expires_at else None
        status = Status(str(row.decision))
        if status is Status.GRANTED and expires is not None and expires <= now:
            status = Status.EXPIRED
        state[scope] = ScopeState(scope, status, Method(row.method), _is_written(row), expires,
                                  as_utc(row.decided_at), row.ledger_hash, row.ledger_seq)
    return state


def active_overrides(
    session: Session, case_id: str, now: datetime | None = None
) -> dict[ConsentScope, ConsentOverride]:
    """The override in force for each scope at `now` (the most recent unexpired one)."""
    now = now or utcnow()
    rows = session.execute(
        select(ConsentOverride).where(ConsentOverride.case_id == case_id)
        .order_by(ConsentOverride.recorded_at, ConsentOverride.id)
    ).scalars().all()
    out: dict[ConsentScope, ConsentOverride] = {}
    for row in rows:
        if as_utc(row.recorded_at) <= now and (row.expires_at is None or as_utc(row.expires_at) > now):
            out[ConsentScope(row.scope)] = row
    return out


def list_decisions(session: Session, case_id: str) -> list[ConsentDecision]:
    """Every decision of a case, oldest first (the full history, nothing hidden)."""
    get_case(session, case_id)
    return list(session.execute(
        select(ConsentDecision).where(ConsentDecision.case_id == case_id)
        .order_by(ConsentDecision.decided_at, ConsentDecision.id)
    ).scalars().all())


def list_overrides(session: Session, case_id: str) -> list[ConsentOverride]:
    """Every override of a case, oldest first."""
    get_case(session, case_id)
    return list(session.execute(
        select(ConsentOverride).where(ConsentOverride.case_id == case_id)
        .order_by(ConsentOverride.recorded_at, ConsentOverride.id)
    ).scalars().all())
