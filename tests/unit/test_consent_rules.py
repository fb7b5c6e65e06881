"""Pure consent rules without a database (policies.consent.rules): the replay of decisions and overrides into
each scope's state at an instant, and which methods / self-consent / mandatory reporting apply per age band."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cases import AgeBand, Case
from policies.consent import (
    ConsentDecisionCreate,
    ConsentOverrideCreate,
    Decision,
    DecisionRecord,
    Method,
    OverrideBasis,
    OverrideRecord,
    Status,
    allowed_methods,
    band_mandatory_report,
    band_self_consents,
    can_self_consent,
    in_recorded_order,
    is_written,
    mandatory_report_applies,
    overrides_in_force,
    replay_decisions,
)
from policies.handoffs import ConsentScope as S
from policies.jurisdictions import installed_packs

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
PACKS = sorted(installed_packs())


def _d(scope, decision, at, *, method=Method.VERBAL, form_ref=None, expires_at=None, h="h") -> DecisionRecord:
    return DecisionRecord(scope=scope, decision=decision, method=method, decided_at=at, form_ref=form_ref,
                          expires_at=expires_at, ledger_hash=h, ledger_seq=len(h))


# --- replay of decisions -------------------------------------------------------------------------------

def test_no_decision_means_none_for_every_scope():
    state = replay_decisions([], T0)
    assert set(state) == set(S)
    assert all(s.status is Status.NONE and not s.granted and s.ledger_hash is None for s in state.values())


def test_a_later_decision_supersedes_an_earlier_one_only_from_its_instant():
    grant = _d(S.PHOTO_RECORD, Decision.GRANTED, T0, h="grant")
    withdraw = _d(S.PHOTO_RECORD, Decision.WITHDRAWN, T0 + 10 * MIN, h="withdraw")
    records = [grant, withdraw]
    assert replay_decisions(records, T0 - MIN)[S.PHOTO_RECORD].status is Status.NONE  # before anything
    at_grant = replay_decisions(records, T0)[S.PHOTO_RECORD]
    assert at_grant.granted and at_grant.ledger_hash == "grant" and at_grant.decided_at == T0
    just_before = replay_decisions(records, T0 + 10 * MIN - timedelta(microseconds=1))[S.PHOTO_RECORD]
    assert just_before.granted and just_before.ledger_hash == "grant"  # the withdrawal is not retroactive
    after = replay_decisions(records, T0 + 10 * MIN)[S.PHOTO_RECORD]
    assert after.status is Status.WITHDRAWN and not after.granted and after.ledger_hash == "withdraw"
    regrant = _d(S.PHOTO_RECORD, Decision.GRANTED, T0 + 20 * MIN, h="regrant")
    assert replay_decisions(records + [regrant], T0 + 30 * MIN)[S.PHOTO_RECORD].ledger_hash == "regrant"
    assert replay_decisions(records + [regrant], T0 + 15 * MIN)[S.PHOTO_RECORD].status is Status.WITHDRAWN
    # other scopes are untouched
    assert replay_decisions(records, T0 + 30 * MIN)[S.PHOTO_TEACHING].status is Status.NONE


def test_expiry_turns_a_grant_into_expired_at_its_instant_and_a_new_grant_restores_it():
    grant = _d(S.SHARE_ADVOCATE, Decision.GRANTED, T0, method=Method.WRITTEN, form_ref="F-1",
               expires_at=T0 + 60 * MIN, h="g")
    assert replay_decisions([grant], T0 + 59 * MIN)[S.SHARE_ADVOCATE].granted
    expired = replay_decisions([grant], T0 + 60 * MIN)[S.SHARE_ADVOCATE]
    assert expired.status is Status.EXPIRED and not expired.granted and expired.expires_at == T0 + 60 * MIN
    assert expired.written and expired.ledger_hash == "g"  # still rests on the grant's entry
    renewed = _d(S.SHARE_ADVOCATE, Decision.GRANTED, T0 + 90 * MIN, method=Method.WRITTEN, form_ref="F-2", h="r")
    state = replay_decisions([grant, renewed], T0 + 120 * MIN)[S.SHARE_ADVOCATE]
    assert state.granted and state.expires_at is None and state.ledger_hash == "r"


@pytest.mark.parametrize("decision", [Decision.DECLINED, Decision.WITHDRAWN])
def test_refusal_or_withdrawal_is_never_granted(decision):
    state = replay_decisions([_d(S.LAB_TESTING, decision, T0, h="x")], T0 + MIN)[S.LAB_TESTING]
    assert state.status is Status(decision.value) and not state.granted and state.ledger_hash == "x"


def test_same_instant_decisions_keep_their_recorded_order():
    first = _d(S.MEDICAL_CARE, Decision.GRANTED, T0, h="first")
    second = _d(S.MEDICAL_CARE, Decision.DECLINED, T0, h="second")
    assert replay_decisions([first, second], T0)[S.MEDICAL_CARE].ledger_hash == "second"
    assert replay_decisions([second, first], T0)[S.MEDICAL_CARE].ledger_hash == "first"


def test_instants_in_other_offsets_compare_as_utc():
    plus2 = timezone(timedelta(hours=2))
    grant = _d(S.MEDICAL_CARE, Decision.GRANTED, (T0 + 5 * MIN).astimezone(plus2))
    assert replay_decisions([grant], T0).get(S.MEDICAL_CARE).status is Status.NONE
    assert replay_decisions([grant], T0 + 5 * MIN)[S.MEDICAL_CARE].granted


def test_written_means_a_signed_form_from_the_survivor_or_a_guardian():
    assert is_written(_d(S.MEDICAL_CARE, Decision.GRANTED, T0, method=Method.WRITTEN, form_ref="F"))
    assert is_written(_d(S.MEDICAL_CARE, Decision.GRANTED, T0, method=Method.GUARDIAN, form_ref="F"))
    assert not is_written(_d(S.MEDICAL_CARE, Decision.GRANTED, T0, method=Method.GUARDIAN))
    assert not is_written(_d(S.MEDICAL_CARE, Decision.GRANTED, T0, method=Method.VERBAL, form_ref="F"))
    assert not is_written(_d(S.MEDICAL_CARE, Decision.GRANTED, T0, method=Method.MINOR_ASSENT, form_ref="F"))


decisions = st.lists(st.tuples(
    st.sampled_from([S.MEDICAL_CARE, S.PHOTO_RECORD, S.SHARE_ADVOCATE]),
    st.sampled_from(list(Decision)), st.integers(0, 50), st.one_of(st.none(), st.integers(1, 60)),
    st.sampled_from(list(Method)), st.booleans(),
), max_size=12)


@settings(max_examples=300, deadline=None)
@given(decisions, st.integers(-5, 120), st.randoms(use_true_random=False))
def test_replay_matches_a_plain_model_whatever_the_order_given(raw, at_minute, rnd):
    """The state at `now` is the last decision made at or before `now`, expiry applied, whatever order the
    records are given in (records of the same instant: the later given wins)."""
    records = [_d(scope, dec, T0 + m * MIN, method=meth, form_ref="F" if ref else None,
                  expires_at=T0 + (m + e) * MIN if (e and dec is Decision.GRANTED) else None, h=f"h{i}")
               for i, (scope, dec, m, e, meth, ref) in enumerate(raw)]
    now = T0 + at_minute * MIN
    given_order = list(records)
    rnd.shuffle(given_order)
    state = replay_decisions(given_order, now)
    for scope in S:
        made = [(r.decided_at, i, r) for i, r in enumerate(given_order) if r.scope is scope and r.decided_at <= now]
        if not made:
            assert state[scope].status is Status.NONE
            continue
        last = max(made, key=lambda x: (x[0], x[1]))[2]
        expected = Status(last.decision.value)
        if expected is Status.GRANTED and last.expires_at is not None and last.expires_at <= now:
            expected = Status.EXPIRED
        got = state[scope]
        assert (got.status, got.ledger_hash, got.method, got.written) == (
            expected, last.ledger_hash, last.method, is_written(last))
        assert got.granted is (expected is Status.GRANTED)


# --- overrides in force --------------------------------------------------------------------------------

def _o(scope, basis, at, *, expires_at=None, h="o") -> OverrideRecord:
    return OverrideRecord(scope=scope, basis=basis, recorded_at=at, legal_basis="Statute 1", reference="CO-1",
                          expires_at=expires_at, ledger_hash=h, ledger_seq=1)


def test_an_override_without_expiry_stays_in_force_from_its_instant():
    ov = _o(S.REPORT_POLICE, OverrideBasis.MANDATORY_REPORT_MINOR, T0)
    assert overrides_in_force([ov], T0 - MIN) == {}
    assert overrides_in_force([ov], T0) == {S.REPORT_POLICE: ov}
    assert overrides_in_force([ov], T0 + timedelta(days=3650)) == {S.REPORT_POLICE: ov}


def test_an_override_with_expiry_lapses_at_its_instant():
    ov = _o(S.RELEASE_LAW_ENFORCEMENT, OverrideBasis.COURT_ORDER, T0, expires_at=T0 + 60 * MIN)
    assert overrides_in_force([ov], T0 + 59 * MIN) == {S.RELEASE_LAW_ENFORCEMENT: ov}
    assert overrides_in_force([ov], T0 + 60 * MIN) == {}


def test_the_latest_unexpired_override_wins_and_an_expired_later_one_hides_nothing():
    old = _o(S.LAB_TESTING, OverrideBasis.COURT_ORDER, T0, h="old")
    newer = _o(S.LAB_TESTING, OverrideBasis.COURT_ORDER, T0 + 10 * MIN, expires_at=T0 + 20 * MIN, h="new")
    assert overrides_in_force([newer, old], T0 + 15 * MIN)[S.LAB_TESTING].ledger_hash == "new"
    assert overrides_in_force([newer, old], T0 + 25 * MIN)[S.LAB_TESTING].ledger_hash == "old"
    assert overrides_in_force([newer, old], T0 + 5 * MIN)[S.LAB_TESTING].ledger_hash == "old"


# --- methods, self-consent and mandatory reporting per age band -----------------------------------------

YOUNGEST = {"under-13": 0, "13": 13, "14-15": 14, "16-17": 16}


@pytest.mark.parametrize("code", PACKS)
@pytest.mark.parametrize("band", list(AgeBand))
def test_age_rules_follow_the_pack(code, band):
    pack = installed_packs()[code]
    case = Case(id="C-unit", jurisdiction=code, age_band=band)  # a plain object: no database
    youngest = YOUNGEST.get(band.value)
    self_consents = youngest is None or youngest >= pack.consent.age_of_consent
    reported = youngest is not None and youngest < pack.consent.mandatory_report_under_age
    assert band_self_consents(band, pack) is can_self_consent(case) is self_consents
    assert band_mandatory_report(band, pack) is mandatory_report_applies(case) is reported
    assert set(allowed_methods(band, pack)) == (
        {Method.VERBAL, Method.WRITTEN} if self_consents else {Method.GUARDIAN, Method.MINOR_ASSENT})
    if band is AgeBand.ADULT:
        assert self_consents and not reported


# --- request shapes --------------------------------------------------------------------------------------

def test_request_shapes_apply_the_rules():
    with pytest.raises(ValueError, match="form_ref"):
        ConsentDecisionCreate(scope=S.MEDICAL_CARE, decision=Decision.GRANTED, method=Method.WRITTEN)
    with pytest.raises(ValueError, match="expiry"):
        ConsentDecisionCreate(scope=S.SHARE_ADVOCATE, decision=Decision.GRANTED, method=Method.VERBAL)
    with pytest.raises(ValueError, match="only a grant"):
        ConsentDecisionCreate(scope=S.MEDICAL_CARE, decision=Decision.DECLINED, method=Method.VERBAL,
                              expires_at=T0)
    with pytest.raises(ValueError, match="short reference code"):
        ConsentDecisionCreate(scope=S.MEDICAL_CARE, decision=Decision.GRANTED, method=Method.WRITTEN,
                              form_ref="Jane Doe's form")
    with pytest.raises(ValueError, match="cannot apply"):
        ConsentOverrideCreate(scope=S.PHOTO_RECORD, basis=OverrideBasis.COURT_ORDER, legal_basis="x",
                              reference="CO-1")
    with pytest.raises(ValueError, match="order's reference"):
        ConsentOverrideCreate(scope=S.LAB_TESTING, basis=OverrideBasis.COURT_ORDER, legal_basis="x")
    ok = ConsentOverrideCreate(scope=S.REPORT_POLICE, basis=OverrideBasis.MANDATORY_REPORT_MINOR,
                               legal_basis="  Tex. Fam. Code 261.101 ")
    assert ok.legal_basis == "Tex. Fam. Code 261.101"


def test_a_decision_recorded_later_is_never_replayed_before_an_earlier_one_whatever_the_clock_said():
    """The machine's clock stepped back between a grant and its withdrawal: replayed in ledger order, the
    withdrawal supersedes the grant from the grant's instant (by instants alone the grant would win again)."""
    grant = DecisionRecord(S.PHOTO_RECORD, Decision.GRANTED, Method.VERBAL, T0, ledger_hash="g", ledger_seq=7)
    withdraw = DecisionRecord(S.PHOTO_RECORD, Decision.WITHDRAWN, Method.VERBAL, T0 - 60 * MIN, ledger_hash="w",
                              ledger_seq=8)
    assert replay_decisions([grant, withdraw], T0 + MIN)[S.PHOTO_RECORD].granted  # the bug this guards against
    ordered = in_recorded_order([withdraw, grant])
    assert [(r.ledger_hash, r.decided_at) for r in ordered] == [("g", T0), ("w", T0)]
    state = replay_decisions(ordered, T0 + MIN)[S.PHOTO_RECORD]
    assert state.status is Status.WITHDRAWN and state.ledger_hash == "w"
    # A clock that only moves forward: nothing changes.
    later = DecisionRecord(S.PHOTO_RECORD, Decision.WITHDRAWN, Method.VERBAL, T0 + MIN, ledger_hash="l", ledger_seq=9)
    assert [r.decided_at for r in in_recorded_order([later, grant])] == [T0, T0 + MIN]
