"""Properties of custody: any sequence of operations keeps one custodian and a verifiable ledger;
simultaneous check-outs on PostgreSQL have exactly one winner."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.errors import Conflict, DomainError
from core.ids import new_id
from evidence.custody import (
    CheckInCreate,
    CheckOutCreate,
    CustodyEvent,
    SealCreate,
    TransferAccept,
    TransferCreate,
    accept_transfer,
    check_in,
    check_out,
    offer_transfer,
    seal_item,
)
from evidence.items import ItemStatus, get_custody
from tests.evidence_support import ensure_staff, new_case, new_item

STAFF = [Actor(id=f"U000000000000005{i}", role="lab") for i in range(3)]  # staff accounts: see ensure_staff
actors = st.sampled_from(STAFF)


def _replay_custodian(session: Session, item_id: str) -> str | None:
    """Who holds the item according to its event history alone."""
    holder = None
    for ev in session.execute(select(CustodyEvent).where(CustodyEvent.item_id == item_id)
                              .order_by(CustodyEvent.id)).scalars():
        if ev.kind in ("collected", "transfer-accepted", "checked-out", "released", "submitted-to-lab", "returned"):
            holder = ev.to_user
    return holder


def test_any_sequence_keeps_one_custodian_and_a_valid_ledger(engine, clock):
    """Random custody operations by random staff: the state row, the history and a model agree."""

    class Custody(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.session = Session(engine, expire_on_commit=False)
            ensure_staff(self.session, *STAFF)
            case_id = new_case(self.session, consents=())
            self.item_id = new_item(self.session, case_id, actor=STAFF[0])
            self.custodian, self.checked_in, self.pending, self.seal = STAFF[0].id, False, None, None

        def _do(self, fn) -> bool:
            try:
                fn()
            except DomainError:
                self.session.rollback()
                return False
            self.session.commit()
            return True

        @rule(actor=actors, to=actors)
        def offer(self, actor, to):
            ok = self._do(lambda: offer_transfer(self.session, actor=actor, item_id=self.item_id, data=TransferCreate(
                to_user=to.id, reason="handoff", condition="sealed")))
            assert ok == (actor.id == self.custodian and not self.checked_in and self.pending is None
                          and to.id != actor.id)
            if ok:
                self.pending = (get_custody(self.session, self.item_id).pending_transfer_id, to.id)

        @rule(actor=actors, seal_ok=st.booleans())
        def accept(self, actor, seal_ok):
            if self.pending is None:
                return
            tid, to = self.pending
            seal = self.seal if seal_ok else "WRONG-SEAL"
            ok = self._do(lambda: accept_transfer(self.session, actor=actor, transfer_id=tid,
                                                  data=TransferAccept(condition="ok", seal_number=seal)))
            assert ok == (actor.id == to and (seal_ok or self.seal is None and seal is None))
            if ok:
                self.custodian, self.pending = to, None

        @rule(actor=actors, n=st.integers(1, 3))
        def seal_it(self, actor, n):
            ok = self._do(lambda: seal_item(self.session, actor=actor, item_id=self.item_id,
                                            data=SealCreate(seal_number=f"S-{n}")))
            if ok:
                self.seal = f"S-{n}"

        @rule(actor=actors)
        def check_in_(self, actor):
            ok = self._do(lambda: check_in(self.session, actor=actor, item_id=self.item_id,
                                           data=CheckInCreate(location="store-1")))
            assert ok == (actor.id == self.custodian and not self.checked_in and self.pending is None)
            if ok:
                self.checked_in = True

        @rule(actor=actors)
        def check_out_(self, actor):
            ok = self._do(lambda: check_out(self.session, actor=actor, item_id=self.item_id,
                                            data=CheckOutCreate(reason="work")))
            assert ok == self.checked_in
            if ok:
                self.custodian, self.checked_in = actor.id, False

        @invariant()
        def one_custodian_and_valid_ledger(self):
            state = get_custody(self.session, self.item_id)
            assert state.custodian == self.custodian == _replay_custodian(self.session, self.item_id)
            assert (state.status == ItemStatus.CHECKED_IN) == self.checked_in
            assert ledger.verify_chain(self.session).ok

        def teardown(self):
            self.session.close()

    run_state_machine_as_test(Custody, settings=settings(
        max_examples=15, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_simultaneous_checkouts_have_exactly_one_winner(engine, clock):
    """Many threads check out the same item at once, round after round: one winner, the rest get Conflict."""
    with Session(engine, expire_on_commit=False) as s:
        case_id = new_case(s, consents=())
        item_id = new_item(s, case_id, actor=STAFF[0])
        check_in(s, actor=STAFF[0], item_id=item_id, data=CheckInCreate(location="store-1"))
        s.commit()
    workers = [Actor(id=f"U00000000000000R{i}", role="lab") for i in range(8)]  # the centre's store staff
    with Session(engine, expire_on_commit=False) as s:
        ensure_staff(s, *workers)  # a check-out goes only to staff with an account (its agency decides)
        s.commit()
    for _round in range(5):
        barrier = threading.Barrier(len(workers))
        results: dict[str, object] = {}

        def race(actor: Actor, barrier=barrier, results=results) -> None:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                try:
                    check_out(s, actor=actor, item_id=item_id, data=CheckOutCreate(reason="race"))
                    s.commit()
                    results[actor.id] = "won"
                except Conflict as exc:
                    s.rollback()
                    results[actor.id] = exc.detail

        threads = [threading.Thread(target=race, args=(a,)) for a in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [k for k, v in results.items() if v == "won"]
        assert len(winners) == 1 and len(results) == len(workers)
        assert all(winners[0] in v for k, v in results.items() if k != winners[0])  # losers learn the holder
        with Session(engine, expire_on_commit=False) as s:
            assert get_custody(s, item_id).custodian == winners[0]
            assert ledger.verify_chain(s).ok
            check_in(s, actor=Actor(id=winners[0], role="lab"), item_id=item_id,
                     data=CheckInCreate(location=f"store-{new_id('alert')[-4:]}"))
            s.commit()
