"""The checkpoint's requirement table, evaluated without a database (policies.checkpoint.rules.evaluate).

The expectation comes from the domain rules restated here (which scopes each handoff needs, which must be
written or time-limited, which statutory overrides may stand in, which handoffs need a reported case), not
from the REQUIREMENTS table itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cases import AgeBand, Case, Reporting
from policies.checkpoint import REQUIREMENTS, CaseFacts, Requirement, evaluate
from policies.consent import Method, OverrideBasis, OverrideRecord, ScopeState, Status
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H
from policies.jurisdictions import installed_packs

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COURT, MANDATORY = OverrideBasis.COURT_ORDER, OverrideBasis.MANDATORY_REPORT_MINOR

# The domain rules, restated.
NEEDS = {
    H.MEDICAL_CARE: [S.MEDICAL_CARE], H.FORENSIC_EXAM: [S.FORENSIC_EXAM],
    H.COLLECT_SWABS: [S.FORENSIC_EXAM, S.EVIDENCE_SWABS], H.COLLECT_CLOTHING: [S.FORENSIC_EXAM, S.EVIDENCE_CLOTHING],
    H.COLLECT_TOXICOLOGY: [S.FORENSIC_EXAM, S.EVIDENCE_TOXICOLOGY],
    H.PHOTO_TAKE: [S.PHOTO_RECORD], H.PHOTO_VIEW: [S.PHOTO_RECORD],
    H.PHOTO_SHARE_TEACHING: [S.PHOTO_RECORD, S.PHOTO_TEACHING],
    H.PHOTO_SHARE_PUBLICATION: [S.PHOTO_RECORD, S.PHOTO_PUBLICATION],
    H.ADVOCATE_SHARE: [S.SHARE_ADVOCATE], H.RELEASE_LAW_ENFORCEMENT: [S.RELEASE_LAW_ENFORCEMENT],
    H.LAB_TESTING: [S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING], H.DISCLOSE_IDENTITY_POLICE: [S.REPORT_POLICE],
    H.STATUS_LOOKUP_ENROL: [S.STATUS_LOOKUP],
}
ALWAYS_WRITTEN = {(H.ADVOCATE_SHARE, S.SHARE_ADVOCATE)}  # VAWA/FVPSA sharing release: signed and time-limited
TIME_LIMITED = {(H.ADVOCATE_SHARE, S.SHARE_ADVOCATE)}
WRITTEN_IF_PACK = {(H.RELEASE_LAW_ENFORCEMENT, S.RELEASE_LAW_ENFORCEMENT), (H.LAB_TESTING, S.RELEASE_LAW_ENFORCEMENT)}
REPORTED_ONLY = {H.RELEASE_LAW_ENFORCEMENT, H.LAB_TESTING}
OVERRIDES = {H.RELEASE_LAW_ENFORCEMENT: {COURT}, H.LAB_TESTING: {COURT}, H.DISCLOSE_IDENTITY_POLICE: {COURT, MANDATORY}}


def _facts(*, reporting=Reporting.UNRESTRICTED, self_consents=True, mandatory_report=False,
           release_requires_written=True) -> CaseFacts:
    return CaseFacts(jurisdiction="default", reporting=reporting, self_consents=self_consents,
                     mandatory_report=mandatory_report, release_requires_written=release_requires_written)


def _grant(scope, *, method=Method.WRITTEN, written=True, expires=True, h=None) -> ScopeState:
    return ScopeState(scope, Status.GRANTED, method, written, T0 + timedelta(days=30) if expires else None, T0,
                      h or f"hash-{scope}", 7)


def _override(scope, basis, h=None) -> OverrideRecord:
    return OverrideRecord(scope=scope, basis=basis, recorded_at=T0, legal_basis="Statute 1", reference="CO-1",
                          ledger_hash=h or f"ov-{scope}", ledger_seq=9)


def test_the_table_covers_every_handoff_and_the_restatement_covers_the_table():
    assert set(REQUIREMENTS) == set(H) == set(NEEDS)
    for handoff, req in REQUIREMENTS.items():
        assert list(req.scopes) == NEEDS[handoff]


scope_states = st.fixed_dictionaries({
    "status": st.sampled_from(list(Status)), "method": st.sampled_from(list(Method)),
    "written": st.booleans(), "expires": st.booleans(),
    "override": st.sampled_from([None, COURT, MANDATORY]),
})


@pytest.mark.parametrize("handoff", list(REQUIREMENTS))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), reporting=st.sampled_from(list(Reporting)), self_consents=st.booleans(),
       mandatory_report=st.booleans(), release_written=st.booleans(),
       kit_reported=st.sampled_from([None, True, False]))
def test_allowed_exactly_when_every_scope_is_granted_or_overridden(handoff, data, reporting, self_consents,
                                                                    mandatory_report, release_written, kit_reported):
    facts = _facts(reporting=reporting, self_consents=self_consents, mandatory_report=mandatory_report,
                   release_requires_written=release_written)
    state, overrides, expected_relied, ok = {}, {}, [], True
    for scope in NEEDS[handoff]:
        d = data.draw(scope_states, label=str(scope))
        state[scope] = ScopeState(scope, d["status"], d["method"], d["written"],
                                  T0 + timedelta(days=1) if d["expires"] else None, T0, f"c-{scope}", 1)
        if d["override"] is not None:
            overrides[scope] = _override(scope, d["override"])
        written_needed = (handoff, scope) in ALWAYS_WRITTEN or ((handoff, scope) in WRITTEN_IF_PACK and release_written)
        granted_ok = (d["status"] is Status.GRANTED and (d["written"] or not written_needed)
                      and (d["expires"] or (handoff, scope) not in TIME_LIMITED)
                      and (self_consents or d["method"] is Method.GUARDIAN))
        override_ok = (d["override"] in OVERRIDES.get(handoff, set())
                       and (d["override"] is not MANDATORY or mandatory_report))
        if granted_ok:
            expected_relied.append((f"c-{scope}", 1))
        elif override_ok:
            expected_relied.append((f"ov-{scope}", 9))
        else:
            ok = False
    if handoff in REPORTED_ONLY and (reporting is not Reporting.UNRESTRICTED or kit_reported is False):
        ok = False
    result = evaluate(handoff, state=state, overrides=overrides, facts=facts, kit_reported=kit_reported)
    assert result.allowed is ok, result.reason
    assert result.reason.startswith(f"{handoff} {'allowed' if ok else 'refused'}")
    assert result.relied == (tuple(expected_relied) if ok else ())


@pytest.mark.parametrize("handoff", sorted(REPORTED_ONLY))
@pytest.mark.parametrize("reporting", [Reporting.UNDECIDED, Reporting.RESTRICTED, Reporting.ANONYMOUS])
def test_not_reported_cases_are_refused_whatever_is_on_file(handoff, reporting):
    state = {s: _grant(s) for s in NEEDS[handoff]}
    overrides = {s: _override(s, COURT) for s in NEEDS[handoff]}
    refused = evaluate(handoff, state=state, overrides=overrides, facts=_facts(reporting=reporting))
    assert not refused.allowed and "not reported" in refused.reason and refused.relied == ()
    assert evaluate(handoff, state=state, overrides={}, facts=_facts()).allowed
    kit_not_reported = evaluate(handoff, state=state, overrides={}, facts=_facts(), kit_reported=False)
    assert not kit_not_reported.allowed and "not reported" in kit_not_reported.reason


def test_unknown_handoff_is_denied_by_default():
    everything = {s: _grant(s) for s in S}
    result = evaluate("teleport-kit", state=everything, overrides={}, facts=_facts())
    assert not result.allowed and result.reason == "unknown handoff 'teleport-kit': denied by default"
    assert result.relied == ()


def test_a_handoff_without_a_rule_or_without_scopes_is_denied(monkeypatch):
    everything = {s: _grant(s) for s in S}
    monkeypatch.delitem(REQUIREMENTS, H.PHOTO_VIEW)
    missing = evaluate(H.PHOTO_VIEW, state=everything, overrides={}, facts=_facts())
    assert not missing.allowed and "no consent rule is defined" in missing.reason
    monkeypatch.setitem(REQUIREMENTS, H.PHOTO_VIEW, Requirement(()))
    assert not evaluate(H.PHOTO_VIEW, state=everything, overrides={}, facts=_facts()).allowed


def test_a_scope_missing_from_the_state_counts_as_no_consent():
    result = evaluate(H.MEDICAL_CARE, state={}, overrides={}, facts=_facts())
    assert not result.allowed and "no consent to medical-care is on record" in result.reason


def test_reasons_name_what_is_missing_and_the_override_relied_on():
    verbal = _grant(S.SHARE_ADVOCATE, method=Method.VERBAL, written=False)
    assert "must be written" in evaluate(H.ADVOCATE_SHARE, state={S.SHARE_ADVOCATE: verbal}, overrides={},
                                         facts=_facts()).reason
    open_ended = _grant(S.SHARE_ADVOCATE, expires=False)
    assert "time-limited" in evaluate(H.ADVOCATE_SHARE, state={S.SHARE_ADVOCATE: open_ended}, overrides={},
                                      facts=_facts()).reason
    minor_own = _grant(S.MEDICAL_CARE, method=Method.WRITTEN)
    assert "must come from a guardian" in evaluate(H.MEDICAL_CARE, state={S.MEDICAL_CARE: minor_own},
                                                   overrides={}, facts=_facts(self_consents=False)).reason
    expired = ScopeState(S.STATUS_LOOKUP, Status.EXPIRED, Method.VERBAL, False, T0, T0, "e", 1)
    assert "expired" in evaluate(H.STATUS_LOOKUP_ENROL, state={S.STATUS_LOOKUP: expired}, overrides={},
                                 facts=_facts()).reason
    by_law = evaluate(H.DISCLOSE_IDENTITY_POLICE, state={}, overrides={S.REPORT_POLICE: _override(
        S.REPORT_POLICE, MANDATORY, h="mr")}, facts=_facts(mandatory_report=True))
    assert by_law.allowed and by_law.relied == (("mr", 9),)
    # the reason cites the override's ledger entry, never its legal basis (staff's text, kept out of the ledger)
    assert "statutory override: report-to-police by mandatory-report-minor (override entry 9)" in by_law.reason
    assert "Statute 1" not in by_law.reason
    # the same override on an adult's case (mandatory reporting does not apply) stands in for nothing
    assert not evaluate(H.DISCLOSE_IDENTITY_POLICE, state={}, overrides={S.REPORT_POLICE: _override(
        S.REPORT_POLICE, MANDATORY)}, facts=_facts(mandatory_report=False)).allowed


@pytest.mark.parametrize("code", sorted(installed_packs()))
@pytest.mark.parametrize("band", list(AgeBand))
def test_case_facts_come_from_the_case_and_its_pack(code, band):
    pack = installed_packs()[code]
    case = Case(id="C-unit", jurisdiction=code, age_band=band, reporting=Reporting.RESTRICTED)
    facts = CaseFacts.of(case, pack)
    youngest = {"under-13": 0, "13": 13, "14-15": 14, "16-17": 16}.get(band.value)
    assert facts.self_consents is (youngest is None or youngest >= pack.consent.age_of_consent)
    assert facts.mandatory_report is (youngest is not None and youngest < pack.consent.mandatory_report_under_age)
    assert facts.release_requires_written is pack.consent.release_requires_written
    assert (facts.jurisdiction, facts.reporting) == (code, Reporting.RESTRICTED)
