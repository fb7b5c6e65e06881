"""The reconciler's pure rules (core/reconcile.py): when a pathway run is dead, and what to do about a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.reconcile import (
    CaseFacts,
    Liveness,
    RunInfo,
    Thresholds,
    after_dead_key,
    decide,
    first_run_key,
    liveness,
    row_key,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TH = Thresholds(scheduled_s=300, pending_s=120, running_s=300, row_s=60, max_restarts=3)
CASE = "C0000000000000001"
STATES = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED"]


def run(state: str, age_s: float = 1.0, rid: str = "r1") -> RunInfo:
    return RunInfo(id=rid, state=state, since=NOW - timedelta(seconds=age_s), created=NOW - timedelta(seconds=age_s))


def open_case(**kw) -> CaseFacts:
    return CaseFacts(case_id=CASE, **kw)


# -- liveness ---------------------------------------------------------------------------------------------------

def test_suspended_is_waiting_however_long():
    assert liveness(run("PAUSED", age_s=10 ** 7), NOW, TH) is Liveness.WAITING


def test_crashed_failed_cancelled_are_dead_at_once():
    for state in ("CRASHED", "FAILED", "CANCELLED"):
        assert liveness(run(state, age_s=0), NOW, TH) is Liveness.DEAD


def test_pending_scheduled_running_die_after_their_threshold():
    assert liveness(run("PENDING", 119), NOW, TH) is Liveness.ACTIVE
    assert liveness(run("PENDING", 121), NOW, TH) is Liveness.DEAD
    assert liveness(run("SCHEDULED", 299), NOW, TH) is Liveness.ACTIVE
    assert liveness(run("SCHEDULED", 301), NOW, TH) is Liveness.DEAD
    assert liveness(run("RUNNING", 301), NOW, TH) is Liveness.DEAD
    assert liveness(RunInfo(id="r", state="PENDING"), NOW, TH) is Liveness.ACTIVE  # no timestamp: just made


@given(st.sampled_from(STATES), st.floats(min_value=0, max_value=10 ** 6))
def test_liveness_is_monotonic_in_age(state, age):
    """Once dead, a run stays dead as it ages; final states never come back to life."""
    if liveness(run(state, age), NOW, TH) is Liveness.DEAD:
        assert liveness(run(state, age + 1000), NOW, TH) is Liveness.DEAD
    if state in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
        assert liveness(run(state, age), NOW, TH) in (Liveness.COMPLETED, Liveness.DEAD)


# -- decide -----------------------------------------------------------------------------------------------------

def test_a_crashed_run_of_an_unfinished_case_is_replaced_with_a_key_naming_it():
    action = decide(open_case(), [run("CRASHED", rid="dead-1")], NOW, TH)
    assert action.kind == "start" and action.retire is None
    assert action.idempotency_key == after_dead_key(CASE, "dead-1") == f"coc-pathway-{CASE}-after-dead-1"


def test_a_run_left_pending_too_long_is_retired_and_replaced():
    action = decide(open_case(), [run("PENDING", age_s=500, rid="stuck")], NOW, TH)
    assert (action.kind, action.retire, action.idempotency_key) == ("start", "stuck", after_dead_key(CASE, "stuck"))


def test_a_moving_or_suspended_run_is_left_alone():
    assert decide(open_case(), [run("RUNNING", 5)], NOW, TH).kind == "nothing"
    assert decide(open_case(), [run("PENDING", 5)], NOW, TH).kind == "nothing"
    assert decide(open_case(waits=(("r1", "release-consent-1"),)), [run("PAUSED", 10 ** 6)], NOW, TH).kind == "nothing"


def test_a_suspended_run_with_a_stale_undelivered_wake_is_resumed_at_its_key():
    facts = open_case(first_pending_row=7, oldest_pending_age_s=61, waits=(("r1", "release-consent-2"),))
    action = decide(facts, [run("PAUSED")], NOW, TH)
    assert (action.kind, action.run_id, action.key) == ("resume", "r1", "release-consent-2")
    fresh = open_case(first_pending_row=7, oldest_pending_age_s=1, waits=(("r1", "release-consent-2"),))
    assert decide(fresh, [run("PAUSED")], NOW, TH).kind == "nothing"  # the outbox's own drain is on it


def test_no_run_at_all():
    assert decide(open_case(), [], NOW, TH).idempotency_key == first_run_key(CASE)
    rows = open_case(pathway_complete=True, first_pending_row=9, oldest_pending_age_s=100)
    assert decide(rows, [], NOW, TH).idempotency_key == row_key(CASE, 9)  # the key the outbox would use
    assert decide(open_case(pathway_complete=True), [], NOW, TH).kind == "nothing"
    assert decide(open_case(closed=True), [], NOW, TH).kind == "nothing"


def test_a_completed_pathway_is_left_alone_unless_rows_wait():
    done = open_case(pathway_complete=True)
    assert decide(done, [run("COMPLETED")], NOW, TH).kind == "nothing"
    late = open_case(pathway_complete=True, first_pending_row=3, oldest_pending_age_s=120)
    assert decide(late, [run("COMPLETED")], NOW, TH).idempotency_key == row_key(CASE, 3)


def test_gives_up_after_max_restarts_dead_runs_in_a_row():
    dead = [run("FAILED", rid=f"d{i}") for i in range(TH.max_restarts + 1)]
    assert decide(open_case(), dead[:TH.max_restarts], NOW, TH).kind == "start"
    assert decide(open_case(), dead, NOW, TH).kind == "nothing"
    # a run that completed in between resets the count
    assert decide(open_case(), [*dead[:2], run("COMPLETED", rid="ok"), *dead[2:]], NOW, TH).kind == "start"


def test_a_closed_case_with_nothing_pending_gets_no_fresh_run():
    assert decide(open_case(closed=True), [run("CRASHED")], NOW, TH).kind == "nothing"


facts_strategy = st.builds(
    CaseFacts, case_id=st.just(CASE), closed=st.booleans(), pathway_complete=st.booleans(),
    first_pending_row=st.one_of(st.none(), st.integers(1, 1000)),
    oldest_pending_age_s=st.one_of(st.none(), st.floats(0, 10 ** 5)),
    waits=st.lists(st.tuples(st.sampled_from(["r0", "r1", "r2"]), st.sampled_from(["a-1", "b-2"])),
                   max_size=2).map(tuple))
runs_strategy = st.lists(st.builds(run, st.sampled_from(STATES), st.floats(0, 10 ** 5),
                                   st.sampled_from(["r0", "r1", "r2"])), max_size=4)


@given(facts_strategy, runs_strategy)
def test_decide_is_deterministic_and_never_starts_beside_a_live_run(facts, runs):
    """The same facts give the same action (two reconcilers agree, so their keys match); a live (moving or
    suspended) newest run is never given a sibling; a start always carries a key naming the case."""
    a, b = decide(facts, runs, NOW, TH), decide(facts, runs, NOW, TH)
    assert a == b
    if runs and liveness(runs[0], NOW, TH) in (Liveness.ACTIVE, Liveness.WAITING):
        assert a.kind != "start"
    if a.kind == "start":
        assert a.idempotency_key and a.idempotency_key.startswith(f"coc-pathway-{CASE}-")
        if runs and liveness(runs[0], NOW, TH) is Liveness.DEAD:
            assert a.idempotency_key == after_dead_key(CASE, runs[0].id)
            assert (a.retire is None) == runs[0].final
    if a.kind == "resume":
        assert runs and runs[0].state == "PAUSED" and (a.run_id, a.key) in facts.waits
