"""Pure consent rules (no Session): methods per age band and pack, self-consent, mandatory reporting, and the
replay of decisions and overrides into the state of each scope at an instant.

The replay works on plain values: anything with the attributes of `DecisionRecord` / `OverrideRecord` (the
table rows have them), so it is unit-tested without a database (tests/unit/test_consent_rules.py) and the
services only load rows and call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from core.cases import AgeBand, Case
from core.clock import as_utc
from core.ids import is_reference_code
from policies.consent.models import Decision, Method, OverrideBasis, Status
from policies.handoffs import ConsentScope
from policies.jurisdictions import RulePack, get_pack

# Which scopes each basis may override (fail closed: anything not listed cannot be overridden).
OVERRIDABLE: dict[OverrideBasis, frozenset[ConsentScope]] = {
    OverrideBasis.MANDATORY_REPORT_MINOR: frozenset({ConsentScope.REPORT_POLICE}),
    OverrideBasis.COURT_ORDER: frozenset({
        ConsentScope.RELEASE_LAW_ENFORCEMENT, ConsentScope.LAB_TESTING, ConsentScope.REPORT_POLICE,
    }),
}

# Scopes whose grant must carry an expiry (VAWA/FVPSA: information-sharing releases are time-limited).
EXPIRY_REQUIRED = frozenset({ConsentScope.SHARE_ADVOCATE})



def check_ref(value: str | None, what: str) -> str | None:
    """`value` when it is a short reference code (or None), else ValueError naming `what`."""
    # References to paper forms / court orders: short codes only (core.ids.REFERENCE_CODE), so no name slips in.
    if value is not None and not is_reference_code(value):
        raise ValueError(f"{what} must be a short reference code (letters, digits, . _ : / -), not free text")
    return value


# --- age rules ----------------------------------------------------------------------------------------

# The youngest age in each band: rules compare it with the pack's ages (a band straddling one is "under").
_BAND_MIN_AGE = {"under-13": 0, "13": 13, "14-15": 14, "16-17": 16}


def band_min_age(case: Case) -> int | None:
    """The youngest age of the case's band, or None for an adult."""
    return _BAND_MIN_AGE.get(str(case.age_band))


def band_self_consents(age_band: AgeBand | str, pack: RulePack) -> bool:
    """True when a survivor of `age_band` consents for themselves under `pack` (adults always)."""
    age = _BAND_MIN_AGE.get(str(AgeBand(str(age_band))))
    return age is None or age >= pack.consent.age_of_consent


def band_mandatory_report(age_band: AgeBand | str, pack: RulePack) -> bool:
    """True when `pack`'s mandatory reporting covers a survivor of `age_band` (never an adult)."""
    age = _BAND_MIN_AGE.get(str(AgeBand(str(age_band))))
    return age is not None and age < pack.consent.mandatory_report_under_age


def allowed_methods(age_band: AgeBand | str, pack: RulePack) -> tuple[Method, ...]:
    """The consent methods valid for a survivor of `age_band` under `pack`.

    Old enough to consent (adults; minors at or above consent.age_of_consent): their own decision, verbal or
    written. Younger: a guardian's decision, and the minor's own assent (or refusal) as minor-assent.
    """
    if band_self_consents(age_band, pack):
        return (Method.VERBAL, Method.WRITTEN)
    return (Method.GUARDIAN, Method.MINOR_ASSENT)


def method_problem(method: Method | str, *, age_band: AgeBand | str, pack: RulePack) -> str | None:
    """None when `method` is valid for `age_band` under `pack`, else a message naming the valid ones."""
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
    return band_mandatory_report(case.age_band, get_pack(case.jurisdiction))


def can_self_consent(case: Case) -> bool:
    """True when the survivor is old enough, in this jurisdiction, to consent without a guardian."""
    return band_self_consents(case.age_band, get_pack(case.jurisdiction))


# --- the replay: state at an instant ----------------------------------------------------------------

class DecisionLike(Protocol):
    """What the replay reads of a decision (a ConsentDecision row, or a DecisionRecord)."""

    scope: ConsentScope | str
    decision: Decision | str
    method: Method | str
    form_ref: str | None
    expires_at: datetime | None
    decided_at: datetime
    ledger_hash: str
    ledger_seq: int


class OverrideLike(Protocol):
    """What the replay reads of an override (a ConsentOverride row, or an OverrideRecord)."""

    scope: ConsentScope | str
    basis: OverrideBasis | str
    expires_at: datetime | None
    recorded_at: datetime


@dataclass(frozen=True)
class DecisionRecord:
    """A consent decision as plain values (the replay's input outside the database)."""

    scope: ConsentScope
    decision: Decision
    method: Method
    decided_at: datetime
    form_ref: str | None = None
    expires_at: datetime | None = None
    ledger_hash: str = ""
    ledger_seq: int = 0


@dataclass(frozen=True)
class OverrideRecord:
    """A statutory override as plain values."""

    scope: ConsentScope
    basis: OverrideBasis
    recorded_at: datetime
    legal_basis: str = ""
    reference: str | None = None
    expires_at: datetime | None = None
    ledger_hash: str = ""
    ledger_seq: int = 0


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


def is_written(record: DecisionLike) -> bool:
    """Written means a signed form is on file (the survivor's own, or a guardian's)."""
    return bool(record.form_ref) and Method(record.method) in (Method.WRITTEN, Method.GUARDIAN)


def replay_decisions(records: Iterable[DecisionLike], now: datetime) -> dict[ConsentScope, ScopeState]:
    """Effective state of every scope at `now`: the latest decision made at or before it, expiry applied.

    Records are ordered by their instant; records of the same instant keep their given order (the services
    give them in the order they were recorded), so the last one given wins.
    """
    latest: dict[ConsentScope, DecisionLike] = {}
    for record in sorted(records, key=lambda r: as_utc(r.decided_at)):
        if as_utc(record.decided_at) <= now:
            latest[ConsentScope(record.scope)] = record
    state: dict[ConsentScope, ScopeState] = {}
    for scope in ConsentScope:
        record = latest.get(scope)
        if record is None:
            state[scope] = ScopeState(scope, Status.NONE)
            continue
        expires = as_utc(record.expires_at) if record.expires_at else None
        status = Status(str(record.decision))
        if status is Status.GRANTED and expires is not None and expires <= now:
            status = Status.EXPIRED
        state[scope] = ScopeState(scope, status, Method(record.method), is_written(record), expires,
                                  as_utc(record.decided_at), record.ledger_hash, record.ledger_seq)
    return state


def in_recorded_order(records: Iterable[DecisionLike]) -> list[DecisionRecord]:
    """Decisions in the order the ledger recorded them (sequence), each instant no earlier than the one recorded
    before it. A clock that stepped back must not put a withdrawal recorded after a grant before that grant (the
    replay orders by instant): the later-recorded decision takes effect from its predecessor's instant at the
    earliest. With a clock that never steps back this changes nothing."""
    out: list[DecisionRecord] = []
    floor: datetime | None = None
    for r in sorted(records, key=lambda r: r.ledger_seq):
        at = as_utc(r.decided_at)
        floor = at if floor is None or at > floor else floor
        out.append(DecisionRecord(scope=ConsentScope(r.scope), decision=Decision(r.decision), method=Method(r.method),
                                  decided_at=floor, form_ref=r.form_ref, expires_at=r.expires_at,
                                  ledger_hash=r.ledger_hash, ledger_seq=r.ledger_seq))
    return out


OverrideT = TypeVar("OverrideT", bound=OverrideLike)


def overrides_in_force(records: Iterable[OverrideT], now: datetime) -> dict[ConsentScope, OverrideT]:
    """The override in force for each scope at `now`: the most recent one recorded at or before it and not
    expired (an override without an expiry stays in force)."""
    out: dict[ConsentScope, OverrideT] = {}
    for record in sorted(records, key=lambda r: as_utc(r.recorded_at)):
        if as_utc(record.recorded_at) <= now and (record.expires_at is None or as_utc(record.expires_at) > now):
            out[ConsentScope(record.scope)] = record
    return out
