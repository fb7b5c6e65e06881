"""The case review's pure rules (policies.review.rules): which sections each agency kind sees, given what the
consent checkpoint allows; who sits for which agency. The expectations restate the domain rule (domain.md,
"Partner agencies": each agency sees only what the survivor agreed to share with it), not the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import chain, combinations, product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cases import Reporting
from core.errors import ValidationFailed
from policies.agencies import AgencyKind as K
from policies.checkpoint import CaseFacts
from policies.consent import Method, ScopeState, Status
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H
from policies.permissions import Role
from policies.review.rules import (
    REVIEW_HANDOFFS,
    Section,
    allowed_handoffs,
    check_participant,
    is_overdue,
    seat_for,
    visible_sections,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CASE_DATA = {Section.EXAM, Section.ITEMS, Section.RELEASED_ITEMS, Section.LAB_ITEMS, Section.ADVOCACY}
ALL_SUBSETS = [frozenset(c) for c in chain.from_iterable(combinations(sorted(REVIEW_HANDOFFS), n)
                                                          for n in range(len(REVIEW_HANDOFFS) + 1))]


def expected(kind: K, allowed: frozenset[H]) -> set[Section]:
    """The domain rule, restated."""
    if kind is K.CENTRE:
        return {Section.EXAM, Section.ITEMS, Section.DECISIONS}
    if kind is K.ADVOCACY_ORG:
        return {Section.ADVOCACY, Section.DECISIONS} if H.ADVOCATE_SHARE in allowed else set()
    if kind in (K.POLICE, K.PROSECUTION):
        return {Section.RELEASED_ITEMS, Section.DECISIONS} if H.RELEASE_LAW_ENFORCEMENT in allowed else set()
    return {Section.LAB_ITEMS, Section.DECISIONS} if H.LAB_TESTING in allowed else set()


@pytest.mark.parametrize("kind", list(K))
@pytest.mark.parametrize("allowed", ALL_SUBSETS, ids=lambda a: "+".join(sorted(a)) or "none")
def test_every_agency_kind_over_every_checkpoint_outcome(kind, allowed) -> None:
    got = visible_sections(kind, allowed)
    assert got == expected(kind, allowed)
    assert kind is K.CENTRE or Section.EXAM not in got  # the exam never leaves the centre through a review
    if kind is not K.ADVOCACY_ORG:
        assert Section.ADVOCACY not in got


@given(kind=st.sampled_from(list(K)), allowed=st.frozensets(st.sampled_from(list(H))))
def test_sections_follow_only_the_seats_own_handoff(kind, allowed) -> None:
    """Other handoffs (even every one of them) never widen a seat's view; decisions come only with case data."""
    got = visible_sections(kind, allowed)
    assert got == expected(kind, allowed & REVIEW_HANDOFFS)
    assert (Section.DECISIONS in got) == bool(got & CASE_DATA)


def _grant(scope, *, written=True, expires=True) -> ScopeState:
    return ScopeState(scope, Status.GRANTED, Method.WRITTEN if written else Method.VERBAL, written,
                      T0 + timedelta(days=30) if expires else None, T0, f"hash-{scope}", 7)


STATE_NAMES = ["none", "granted", "verbal", "no-expiry", "withdrawn", "expired"]
_SCOPE_STATES = st.sampled_from(STATE_NAMES)


def _state(scope, how: str) -> ScopeState | None:
    return {"none": None, "granted": _grant(scope), "verbal": _grant(scope, written=False),
            "no-expiry": _grant(scope, expires=False), "withdrawn": ScopeState(scope, Status.WITHDRAWN),
            "expired": ScopeState(scope, Status.EXPIRED)}[how]


@settings(max_examples=400)
@given(kind=st.sampled_from(list(K)), reporting=st.sampled_from(list(Reporting)),
       share=_SCOPE_STATES, release=_SCOPE_STATES, lab=_SCOPE_STATES)
def test_from_the_consent_state_to_the_sections(kind, reporting, share, release, lab) -> None:
    """Over the consent state and the reporting choice, through the checkpoint's own rule."""
    _check(kind, reporting, share, release, lab)


def test_every_consent_state_combination() -> None:
    """The same, exhaustively: every agency kind × reporting choice × state of the three scopes."""
    for combo in product(list(K), list(Reporting), *[STATE_NAMES] * 3):
        _check(*combo)


def _check(kind, reporting, share, release, lab) -> None:
    state = {s: v for s, v in ((S.SHARE_ADVOCATE, _state(S.SHARE_ADVOCATE, share)),
                               (S.RELEASE_LAW_ENFORCEMENT, _state(S.RELEASE_LAW_ENFORCEMENT, release)),
                               (S.LAB_TESTING, _state(S.LAB_TESTING, lab))) if v is not None}
    facts = CaseFacts(jurisdiction="default", reporting=reporting, self_consents=True, mandatory_report=False,
                      release_requires_written=True)
    got = visible_sections(kind, allowed_handoffs(state=state, overrides={}, facts=facts))
    if kind in (K.POLICE, K.PROSECUTION, K.CRIME_LAB) and reporting is not Reporting.UNRESTRICTED:
        assert got == set()  # nothing of a restricted report, whatever forms are on file
    if kind is K.ADVOCACY_ORG:
        # only under a written, time-limited sharing release in force
        assert bool(got) == (share == "granted")
        assert Section.EXAM not in got
    release_ok = release in ("granted", "no-expiry")  # written (the pack says so); no expiry date needed
    if kind in (K.POLICE, K.PROSECUTION):
        assert bool(got) == (release_ok and reporting is Reporting.UNRESTRICTED)
    if kind is K.CRIME_LAB:
        assert bool(got) == (release_ok and lab in ("granted", "verbal", "no-expiry")
                             and reporting is Reporting.UNRESTRICTED)
    if kind is K.CENTRE:
        assert Section.EXAM in got


def test_unknown_seat_sees_nothing() -> None:
    assert visible_sections("no-such-kind", frozenset(REVIEW_HANDOFFS)) == set()


@pytest.mark.parametrize(("kind", "role", "seat"), [
    (K.CENTRE, Role.EXAMINER, K.CENTRE), (K.CENTRE, Role.ADVOCATE, K.ADVOCACY_ORG),
    (K.ADVOCACY_ORG, Role.ADVOCATE, K.ADVOCACY_ORG), (K.POLICE, Role.LAW_ENFORCEMENT, K.POLICE),
    (K.PROSECUTION, Role.LAW_ENFORCEMENT, K.PROSECUTION), (K.CRIME_LAB, Role.LAB, K.CRIME_LAB),
    (K.CENTRE, Role.LAB, None), (K.CENTRE, Role.AUDITOR, None), (K.CENTRE, Role.COORDINATOR, None),
    (K.POLICE, "nobody", None),
])
def test_seats(kind, role, seat) -> None:
    assert seat_for(kind, role) == seat


def test_participant_checks_name_the_staff_member() -> None:
    with pytest.raises(ValidationFailed, match="'pat' is deactivated"):
        check_participant(username="pat", role="law_enforcement", agency_kind="police", active=False)
    with pytest.raises(ValidationFailed, match="'aud' .* cannot take part"):
        check_participant(username="aud", role="auditor", agency_kind="centre", active=True)
    assert check_participant(username="o", role="law_enforcement", agency_kind="police", active=True) is K.POLICE


def test_overdue_only_when_open_past_due() -> None:
    assert is_overdue("open", T0, T0 + timedelta(seconds=1))
    assert not is_overdue("open", T0, T0)
    assert not is_overdue("done", T0, T0 + timedelta(days=9))
