"""The pure custody state machine (evidence.custody.rules), without a database: each transition from each state
and by whom (table-driven), then a hypothesis state machine checking the invariants over random sequences."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from evidence.custody import rules
from evidence.custody.rules import Accepted, CustodyState, ItemStatus, Offer, Purpose

ITEM = "E0000000000000001"
A, B = "U0000000000000A01", "U0000000000000B01"
HELD = CustodyState(item_id=ITEM, status=ItemStatus.HELD, custodian=A, location="exam-room", seal_number="S-1")


def _offer(purpose=Purpose.CUSTODY, to=B, status="offered", id_="T1") -> Offer:
    return Offer(id=id_, status=status, purpose=purpose, from_user=A, to_user=to)


# --- table-driven: who may do what from which state -----------------------------------------------------

STATES = {
    "held": HELD,
    "checked-in": replace(HELD, status=ItemStatus.CHECKED_IN, location="store-1"),
    "destroyed": replace(HELD, status=ItemStatus.DESTROYED),
    "pending": replace(HELD, pending_transfer_id="T1"),
    "quarantined": replace(HELD, quarantined_by=7),
}

# (operation, state, actor) -> expected error class and a piece of its message, or None when allowed
CASES = [
    ("seal", "held", A, None, None),
    ("seal", "held", B, PermissionDenied, "only the item's custodian"),
    ("seal", "checked-in", A, Conflict, "check it out before"),
    ("seal", "destroyed", A, Conflict, "was destroyed"),
    ("seal", "pending", A, Conflict, "awaiting acceptance"),
    ("seal", "quarantined", A, Conflict, "quarantined"),
    ("offer", "held", A, None, None),
    ("offer", "held", B, PermissionDenied, "only the item's custodian"),
    ("offer", "checked-in", A, Conflict, "check it out before it can be transferred"),
    ("offer", "pending", A, Conflict, "awaiting acceptance"),
    ("offer", "quarantined", A, Conflict, "quarantined by integrity incident 7"),
    ("offer", "destroyed", A, Conflict, "cannot be transferred"),
    ("check_in", "held", A, None, None),
    ("check_in", "checked-in", A, Conflict, "already checked in at store-1"),
    ("check_in", "pending", A, Conflict, "awaiting acceptance"),
    ("check_in", "held", B, PermissionDenied, "only the item's custodian"),
    ("check_out", "checked-in", B, None, None),
    ("check_out", "held", A, Conflict, "is not checked in: it is held by"),
    ("check_out", "destroyed", A, Conflict, "cannot be checked out"),
    ("check_out", "quarantined", A, Conflict, "quarantined"),
    ("analyse", "held", A, Conflict, "not submitted to a lab"),
    ("analyse", "quarantined", A, Conflict, "quarantined"),
    ("destroy", "held", A, None, None),
    ("destroy", "checked-in", A, None, None),  # the custodian may destroy straight from storage
    ("destroy", "checked-in", B, Conflict, "check it out before it can be destroyed"),
    ("destroy", "pending", A, Conflict, "awaiting acceptance"),
    ("destroy", "destroyed", A, Conflict, "was destroyed"),
    ("destroy", "quarantined", A, Conflict, "quarantined"),
]


def _run(op: str, state: CustodyState, actor: str) -> CustodyState:
    if op == "seal":
        return rules.seal(state, actor_id=actor, seal_number="S-2")
    if op == "offer":
        rules.check_offer(state, actor_id=actor, on_behalf=False, purpose=Purpose.CUSTODY, to_user="U0000000000000C01",
                          seal_number=None)
        return rules.offered(state, "T9")
    if op == "check_in":
        return rules.check_in(state, actor_id=actor, location="store-2", seal_number=None)
    if op == "check_out":
        return rules.check_out(state, actor_id=actor, seal_number=None)
    if op == "analyse":
        return rules.analyse(state, actor_id=actor)
    return rules.destroy(state, actor_id=actor)


@pytest.mark.parametrize(("op", "state", "actor", "error", "message"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{'custodian' if c[2] == A else 'other'}" for c in CASES])
def test_transition_table(op, state, actor, error, message) -> None:
    if error is None:
        _run(op, STATES[state], actor)
        return
    with pytest.raises(error, match=message):
        _run(op, STATES[state], actor)


def test_next_states() -> None:
    assert rules.seal(HELD, actor_id=A, seal_number="S-2").seal_number == "S-2"
    stored = rules.check_in(HELD, actor_id=A, location="store-1", seal_number="S-1")
    assert (stored.status, stored.location, stored.custodian) == (ItemStatus.CHECKED_IN, "store-1", A)
    assert rules.check_out(stored, actor_id=B, seal_number=None).custodian == B
    assert rules.check_out(stored, actor_id=B, seal_number=None).status is ItemStatus.HELD
    assert rules.check_out(replace(stored, released=True), actor_id=B, seal_number=None).status is ItemStatus.RELEASED
    at_lab = replace(stored, lab_submitted=True)
    assert rules.check_out(at_lab, actor_id=B, seal_number=None).status is ItemStatus.AT_LAB
    assert rules.check_out(replace(at_lab, analysed=True), actor_id=B, seal_number=None).status is ItemStatus.HELD
    assert rules.destroy(stored, actor_id=A).status is ItemStatus.DESTROYED


@pytest.mark.parametrize(("purpose", "kind", "status", "released", "lab"), [
    (Purpose.CUSTODY, Accepted.TRANSFER_ACCEPTED, ItemStatus.HELD, False, False),
    (Purpose.RELEASE, Accepted.RELEASED, ItemStatus.RELEASED, True, False),
    (Purpose.LAB, Accepted.SUBMITTED_TO_LAB, ItemStatus.AT_LAB, False, True),
])
def test_accept_moves_custody_and_sets_the_flag_of_its_purpose(purpose, kind, status, released, lab) -> None:
    pending = rules.offered(HELD, "T1")
    new, got = rules.accept(pending, _offer(purpose), actor_id=B, seal_number="S-1", accepted_as=purpose)
    assert (got, new.status, new.custodian, new.pending_transfer_id) == (kind, status, B, None)
    assert (new.released, new.lab_submitted) == (released, lab)


def test_a_return_clears_released_and_needs_an_item_that_left() -> None:
    with pytest.raises(Conflict, match="only an item released"):
        rules.check_offer(HELD, actor_id=A, on_behalf=False, purpose=Purpose.RETURN, to_user=B, seal_number=None)
    out = replace(HELD, released=True, status=ItemStatus.RELEASED)
    new, kind = rules.accept(rules.offered(out, "T1"), _offer(Purpose.RETURN), actor_id=B, seal_number=None,
                             accepted_as=Purpose.RETURN)
    assert (kind, new.released, new.status) == (Accepted.RETURNED, False, ItemStatus.HELD)


def test_offer_guards() -> None:
    with pytest.raises(ValidationFailed, match="its own custodian"):
        rules.check_offer(HELD, actor_id=A, on_behalf=False, purpose=Purpose.CUSTODY, to_user=A, seal_number=None)
    with pytest.raises(ValidationFailed, match="does not match the recorded seal"):
        rules.check_offer(HELD, actor_id=A, on_behalf=False, purpose=Purpose.CUSTODY, to_user=B, seal_number="S-9")
    with pytest.raises(ValidationFailed, match="no recorded seal"):
        rules.check_offer(replace(HELD, seal_number=None), actor_id=A, on_behalf=False, purpose=Purpose.CUSTODY,
                          to_user=B, seal_number="S-1")
    with pytest.raises(PermissionDenied, match="system process may only offer"):
        rules.offer_on_behalf(is_system=True, purpose=Purpose.CUSTODY)
    assert rules.offer_on_behalf(is_system=True, purpose=Purpose.RELEASE) is True
    assert rules.check_offer(HELD, actor_id="flow", on_behalf=True, purpose=Purpose.RELEASE, to_user=B,
                             seal_number=None) == A  # the custodian is recorded as the one offering


def test_accept_and_close_guards() -> None:
    pending = rules.offered(HELD, "T1")
    with pytest.raises(PermissionDenied, match="only they can accept"):
        rules.accept(pending, _offer(), actor_id="U0000000000000C01", seal_number=None, accepted_as=Purpose.CUSTODY)
    with pytest.raises(Conflict, match="no longer open"):
        rules.accept(pending, _offer(status="cancelled"), actor_id=B, seal_number=None, accepted_as=Purpose.CUSTODY)
    with pytest.raises(Conflict, match="no longer open"):
        rules.accept(pending, _offer(id_="T2"), actor_id=B, seal_number=None, accepted_as=Purpose.CUSTODY)
    with pytest.raises(Conflict, match="quarantined"):
        rules.accept(replace(pending, quarantined_by=3), _offer(), actor_id=B, seal_number=None,
                     accepted_as=Purpose.CUSTODY)
    with pytest.raises(PermissionDenied, match="only they can decline"):
        rules.close(pending, _offer(), actor_id=A, declined=True)
    with pytest.raises(PermissionDenied, match="only the offering custodian"):
        rules.close(pending, _offer(), actor_id=B, declined=False)
    assert rules.close(pending, _offer(), actor_id=B, declined=True).pending_transfer_id is None
    assert rules.close(pending, _offer(), actor_id=A, declined=False) == HELD


# --- the state machine: invariants over any sequence ------------------------------------------------------

STAFF = (A, B, "U0000000000000C01")
PURPOSES = tuple(Purpose)


class Custody(RuleBasedStateMachine):
    """Random operations by random staff; refused ones must leave the state exactly as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.state = HELD
        self.offer: Offer | None = None
        self.n = 0

    def _try(self, fn, *, moves: bool = True):
        before = self.state
        try:
            out = fn()
        except DomainError:
            return None
        if moves:
            assert before.quarantined_by is None, "a quarantined item moved"
            assert not before.pending_transfer_id or self.offer is not None
        assert before.status is not ItemStatus.DESTROYED, "destroyed is terminal"
        return out

    def _check_flags(self, before: CustodyState, after: CustodyState, allowed: bool) -> None:
        if not allowed:
            assert (after.released, after.lab_submitted) == (before.released, before.lab_submitted)

    @rule(actor=st.sampled_from(STAFF), purpose=st.sampled_from(PURPOSES), to=st.sampled_from(STAFF))
    def offer(self, actor, purpose, to) -> None:
        before = self.state
        self.n += 1
        tid = f"T{self.n}"

        def go():
            rules.check_offer(before, actor_id=actor, on_behalf=False, purpose=purpose, to_user=to, seal_number=None)
            return rules.offered(before, tid)

        out = self._try(go)
        if out is not None:
            assert before.pending_transfer_id is None and before.status is not ItemStatus.CHECKED_IN
            self.state, self.offer = out, Offer(id=tid, status="offered", purpose=purpose, from_user=actor,
                                                to_user=to)
            self._check_flags(before, out, allowed=False)

    @precondition(lambda self: self.offer is not None)
    @rule(actor=st.sampled_from(STAFF), crosses=st.booleans())
    def accept(self, actor, crosses) -> None:
        before, offer = self.state, self.offer
        assert offer is not None
        as_ = {Purpose.CUSTODY: Purpose.LAB}.get(offer.purpose, offer.purpose) if crosses else offer.purpose
        out = self._try(lambda: rules.accept(before, offer, actor_id=actor, seal_number=None, accepted_as=as_))
        if out is not None:
            new, _kind = out
            assert new.custodian == offer.to_user == actor and new.pending_transfer_id is None
            self._check_flags(before, new, allowed=True)
            if as_ is Purpose.RETURN:
                assert not new.released and new.lab_submitted == before.lab_submitted
            self.state, self.offer = new, None

    @precondition(lambda self: self.offer is not None)
    @rule(actor=st.sampled_from(STAFF), declined=st.booleans())
    def close(self, actor, declined) -> None:
        before, offer = self.state, self.offer
        assert offer is not None
        out = self._try(lambda: rules.close(before, offer, actor_id=actor, declined=declined), moves=False)
        if out is not None:
            assert out == replace(before, pending_transfer_id=None)
            self.state, self.offer = out, None

    @rule(actor=st.sampled_from(STAFF))
    def check_in(self, actor) -> None:
        before = self.state
        out = self._try(lambda: rules.check_in(before, actor_id=actor, location="store-1", seal_number=None),
                        moves=False)
        if out is not None:
            assert before.pending_transfer_id is None and out.custodian == before.custodian
            self._check_flags(before, out, allowed=False)
            self.state = out

    @rule(actor=st.sampled_from(STAFF))
    def check_out(self, actor) -> None:
        before = self.state
        out = self._try(lambda: rules.check_out(before, actor_id=actor, seal_number=None))
        if out is not None:
            assert before.status is ItemStatus.CHECKED_IN and out.custodian == actor
            assert before.pending_transfer_id is None
            self._check_flags(before, out, allowed=False)
            self.state = out

    @rule(actor=st.sampled_from(STAFF), seal=st.sampled_from(("S-1", "S-2")))
    def seal(self, actor, seal) -> None:
        before = self.state
        out = self._try(lambda: rules.seal(before, actor_id=actor, seal_number=seal), moves=False)
        if out is not None:
            assert before.pending_transfer_id is None and before.status is not ItemStatus.CHECKED_IN
            assert out == replace(before, seal_number=seal)
            self.state = out

    @rule(actor=st.sampled_from(STAFF))
    def analyse(self, actor) -> None:
        before = self.state
        out = self._try(lambda: rules.analyse(before, actor_id=actor), moves=False)
        if out is not None:
            assert before.lab_submitted and before.quarantined_by is None
            self._check_flags(before, out, allowed=False)
            self.state = out

    @rule(actor=st.sampled_from(STAFF))
    def destroy(self, actor) -> None:
        before = self.state
        out = self._try(lambda: rules.destroy(before, actor_id=actor))
        if out is not None:
            assert before.pending_transfer_id is None and before.custodian == actor
            self.state = out

    @rule(incident=st.one_of(st.none(), st.integers(1, 5)))
    def quarantine(self, incident) -> None:
        self.state = replace(self.state, quarantined_by=incident)  # opened or resolved elsewhere

    @invariant()
    def exactly_one_custodian(self) -> None:
        assert self.state.custodian in STAFF

    @invariant()
    def pending_offer_is_the_open_one(self) -> None:
        assert self.state.pending_transfer_id == (self.offer.id if self.offer else None)

    @invariant()
    def destroyed_is_terminal(self) -> None:
        if self.state.status is ItemStatus.DESTROYED:
            for op in ("seal", "offer", "check_in", "check_out", "analyse", "destroy"):
                for actor in STAFF:
                    with pytest.raises(DomainError):
                        _run(op, self.state, actor)

    @invariant()
    def a_quarantined_item_never_moves(self) -> None:
        if self.state.quarantined_by is not None:
            for actor in STAFF:
                with pytest.raises(Conflict):
                    rules.check_out(self.state, actor_id=actor, seal_number=None)
                with pytest.raises(Conflict):
                    rules.destroy(self.state, actor_id=actor)
                with pytest.raises(DomainError):
                    rules.check_offer(self.state, actor_id=actor, on_behalf=False, purpose=Purpose.CUSTODY,
                                      to_user="U0000000000000C01", seal_number=None)


Custody.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestCustodyStateMachine = Custody.TestCase
