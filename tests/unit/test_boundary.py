"""The pure boundary and role-agency rules (policies.boundary, policies.agencies), exhaustively."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.agencies import ROLE_AGENCY_KINDS, AgencyKind, check_role_fits, needs_named_agency, role_fits
from policies.boundary import CustodyFacts, Entry, Move, Side, decide_move, side
from policies.checkpoint import REQUIREMENTS
from policies.handoffs import ConsentScope, Handoff
from policies.permissions import Role

K = AgencyKind
HOLDERS = [None, *AgencyKind]
ALL_FACTS = [CustodyFacts(released=r, lab_submitted=lab, holder=h)
             for r, lab, h in itertools.product([False, True], [False, True], HOLDERS)]
facts_st = st.builds(CustodyFacts, released=st.booleans(), lab_submitted=st.booleans(),
                     holder=st.sampled_from(HOLDERS))


@pytest.mark.parametrize("facts", ALL_FACTS, ids=str)
@pytest.mark.parametrize("move", list(Move))
def test_moves_to_the_centre_need_no_consent_and_are_never_refused(facts, move):
    c = decide_move(facts, K.CENTRE, move)
    assert (c.handoff, c.crosses, c.entry, c.refused) == (None, False, None, None)


@pytest.mark.parametrize("facts", ALL_FACTS, ids=str)
@pytest.mark.parametrize("move", list(Move))
def test_an_advocacy_organisation_never_receives_evidence(facts, move):
    c = decide_move(facts, K.ADVOCACY_ORG, move)
    assert c.refused and "never" in c.refused and c.entry is None


@pytest.mark.parametrize("facts", ALL_FACTS, ids=str)
@pytest.mark.parametrize("receiver,handoff", [(K.POLICE, Handoff.RELEASE_LAW_ENFORCEMENT),
                                              (K.PROSECUTION, Handoff.RELEASE_LAW_ENFORCEMENT),
                                              (K.CRIME_LAB, Handoff.LAB_TESTING)])
@pytest.mark.parametrize("move", list(Move))
def test_every_move_into_an_outside_agency_needs_its_consent(facts, receiver, handoff, move):
    """Whatever the verb and the facts, the receiver's agency kind names the consent the checkpoint must allow
    (also when the rule refuses: the refusal names what would have been needed)."""
    assert decide_move(facts, receiver, move).handoff is handoff


@pytest.mark.parametrize("facts", ALL_FACTS, ids=str)
@pytest.mark.parametrize("receiver", [K.POLICE, K.PROSECUTION, K.CRIME_LAB])
def test_a_transfer_to_an_outside_agency_is_never_refused_by_the_rule_only_by_consent(facts, receiver):
    c = decide_move(facts, receiver, Move.TRANSFER)
    assert c.refused is None
    assert c.crosses == (side(facts.holder) is Side.CENTRE)
    # Entering a new side is recorded as that side's handoff; moving within the side is not.
    expected = None if side(facts.holder) is side(receiver) else (
        Entry.RELEASE if receiver in (K.POLICE, K.PROSECUTION) else Entry.LAB)
    assert c.entry is expected


@pytest.mark.parametrize("facts", ALL_FACTS, ids=str)
@pytest.mark.parametrize("receiver", [K.POLICE, K.PROSECUTION, K.CRIME_LAB])
def test_outside_staff_take_from_storage_only_what_their_side_already_holds_with_consent(facts, receiver):
    c = decide_move(facts, receiver, Move.TAKE)
    handed = facts.released if receiver in (K.POLICE, K.PROSECUTION) else facts.lab_submitted
    allowed = handed and side(facts.holder) is side(receiver)
    assert (c.refused is None) == allowed
    assert c.entry is None  # a take is never a release or a submission by itself


def test_the_reported_hole_is_closed():
    """An unreleased kit in the centre's vault: a crime-lab user can neither take it nor receive it without the
    testing consent (release + testing), whatever the transfer's declared purpose."""
    vault = CustodyFacts(released=False, lab_submitted=False, holder=K.CENTRE)
    assert decide_move(vault, K.CRIME_LAB, Move.TAKE).refused
    offer = decide_move(vault, K.CRIME_LAB, Move.TRANSFER)
    assert (offer.handoff, offer.crosses, offer.entry) == (Handoff.LAB_TESTING, True, Entry.LAB)
    assert set(REQUIREMENTS[Handoff.LAB_TESTING].scopes) >= {ConsentScope.RELEASE_LAW_ENFORCEMENT,
                                                              ConsentScope.LAB_TESTING}
    assert REQUIREMENTS[Handoff.LAB_TESTING].reported_case_only  # restricted kits never go to a lab
    assert REQUIREMENTS[Handoff.RELEASE_LAW_ENFORCEMENT].reported_case_only


def test_an_unknown_holder_counts_as_the_centre():
    assert side(None) is Side.CENTRE
    assert decide_move(CustodyFacts(True, True, None), K.POLICE, Move.TAKE).refused


@given(facts_st, st.sampled_from(list(AgencyKind)), st.sampled_from(list(Move)))
def test_consent_is_needed_exactly_when_the_receiver_is_outside_the_centre(facts, receiver, move):
    c = decide_move(facts, receiver, move)
    assert (c.handoff is not None) == (receiver in (K.POLICE, K.PROSECUTION, K.CRIME_LAB))
    assert not (c.crosses and receiver is K.CENTRE)
    if c.entry is not None:
        assert move is Move.TRANSFER and c.refused is None


# --- which roles fit which agencies ------------------------------------------------------------------

FITS = {
    (Role.EXAMINER, K.CENTRE), (Role.ADVOCATE, K.CENTRE), (Role.ADVOCATE, K.ADVOCACY_ORG),
    (Role.LAB, K.CENTRE), (Role.LAB, K.CRIME_LAB), (Role.LAW_ENFORCEMENT, K.POLICE),
    (Role.LAW_ENFORCEMENT, K.PROSECUTION), (Role.AUDITOR, K.CENTRE), (Role.COORDINATOR, K.CENTRE),
}


@pytest.mark.parametrize("role,kind", list(itertools.product(Role, AgencyKind)))
def test_role_fits_exactly_the_listed_agency_kinds(role, kind):
    assert role_fits(role, kind) == ((role, kind) in FITS)
    if (role, kind) in FITS:
        check_role_fits(role, kind, "Some agency")
    else:
        from core.errors import ValidationFailed

        with pytest.raises(ValidationFailed, match=f"cannot belong to agency 'Some agency' \\(kind {kind}\\)"):
            check_role_fits(role, kind, "Some agency")


def test_every_role_has_an_agency_and_only_law_enforcement_must_name_it():
    assert set(ROLE_AGENCY_KINDS) == set(Role)
    assert [r for r in Role if needs_named_agency(r)] == [Role.LAW_ENFORCEMENT]


@given(st.text(max_size=20), st.text(max_size=20))
def test_unknown_roles_or_kinds_never_fit(role, kind):
    if role in set(Role) and kind in set(AgencyKind):
        return
    assert not role_fits(role, kind)


def test_an_unknown_role_is_refused_with_a_readable_message():
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="kind none"):
        check_role_fits("janitor", "centre", "Centre")
