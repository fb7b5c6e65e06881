"""The survivor's pathway on a real Prefect server, served by `python -m flows.serve` in a subprocess,
on SQLite and PostgreSQL: suspend at the release checkpoint, wake through the outbox, hand off exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core import outbox
from core.db import make_engine
from core.errors import ConsentRequired
from core.ledger import EventKind, verify_chain
from evidence import custody
from evidence.custody import Transfer
from policies.authz import User
from policies.consent import Decision
from policies.handoffs import ConsentScope, Handoff
from tests.api_helpers import api_harness
from tests.e2e.pathway_stack import (
    Runner,
    Staff,
    at_retention,
    case_at_release_checkpoint,
    decide,
    drain,
    ledger_kinds,
    make_staff,
    record,
    steps,
    wait_for,
    waits,
)

pytestmark = pytest.mark.e2e

RELEASE = ConsentScope.RELEASE_LAW_ENFORCEMENT


@dataclass
class Stack:
    """A database, the Prefect server's URL, a served flow runner and the staff of one test."""

    db_url: str
    api_url: str
    engine: Engine
    runner: Runner
    staff: Staff
    data_dir: Path
    waker: outbox.PrefectWaker

    def deliver(self) -> None:
        """Drain the outbox until nothing is left (what the API does after each commit, retried)."""
        wait_for(lambda: drain(self.engine, self.api_url)[1] == 0, timeout=120, interval=0.1,
                 what=lambda: f"the outbox to drain\n{self.runner.log_tail()}")

    def suspended_at_release(self, case_id: str) -> str:
        """Wait until the case's run is suspended at the release checkpoint; return the run id."""
        key = wait_for(lambda: next((k for k in waits(self.engine, case_id) if k.startswith("release-consent")),
                                    None), timeout=180,
                       what=lambda: f"a wait at the release\n{self.runner.log_tail()}")
        with Session(self.engine) as s:
            run_id = next(w.flow_run_id for w in outbox.waits_for(s, case_id) if w.key == key)
        wait_for(lambda: self.waker.run_status(run_id) == "waiting", timeout=120,
                 what=lambda: f"run {run_id} to be suspended\n{self.runner.log_tail()}")
        return run_id

    def finished(self, case_id: str) -> list[str]:
        """Wait until the pathway is past its handoffs (suspended at its retention stage, which lasts the kit's
        retention period: flows.retention_stage) and return the case's steps."""
        wait_for(lambda: at_retention(self.engine, case_id), timeout=180,
                 what=lambda: f"the pathway to finish\n{self.runner.log_tail()}")
        return steps(self.engine, case_id)


@pytest.fixture
def stack(db_url, prefect_api, tmp_path) -> Iterator[Stack]:
    """A flow runner serving every deployment against this test's fresh database."""
    engine = make_engine(db_url)
    runner = Runner(prefect_api, tmp_path / "runner", db_url, tmp_path / "data")
    try:
        yield Stack(db_url, prefect_api, engine, runner, make_staff(engine, tmp_path.name[-12:]), tmp_path / "data",
                    outbox.PrefectWaker(prefect_api))
    finally:
        runner.stop()
        engine.dispose()


def _index(entries: list[tuple[str, dict]], kind: EventKind, **match: object) -> list[int]:
    return [i for i, (k, d) in enumerate(entries) if k == kind and all(d.get(f) == v for f, v in match.items())]


def test_release_consent_through_the_api_resumes_the_run_and_hands_off_once(stack, tmp_path):
    """(a) suspend at the release; the consent recorded through the API wakes the run; one handoff, in order."""
    case_id, item_id = case_at_release_checkpoint(stack.engine, stack.staff)
    stack.deliver()
    run_id = stack.suspended_at_release(case_id)

    h = api_harness(stack.db_url, tmp_path / "api", prefect_api_url=stack.api_url, outbox_drain_after_commit=True)
    try:
        examiner = h.user("examiner", assign_to=case_id)
        resp = h.client.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                             json=decide(RELEASE).model_dump(mode="json"))
        assert resp.status_code == 201, resp.text  # the API's after-commit drain wakes the suspended run

        done = stack.finished(case_id)
        assert done.count(f"release:{item_id}") == 1
        wait_for(lambda: stack.waker.run_status(run_id) == "waiting", timeout=60,
                 what="the resumed run to suspend at its retention stage")

        # The officer completes the handoff through the API; the checkpoint decides again at that instant.
        with Session(stack.engine) as s:
            officer = s.get(User, stack.staff.officer.id)
            transfer_id = s.execute(select(Transfer.id).where(Transfer.item_id == item_id)).scalar_one()
        resp = h.client.post(f"/transfers/{transfer_id}/accept", json={"condition": "sealed, intact"},
                             headers={"Authorization": f"Bearer {h.token_for(officer)}"})
        assert resp.status_code == 200, resp.text
    finally:
        h.close()

    entries = ledger_kinds(stack.engine, case_id)
    consent = _index(entries, EventKind.CONSENT_RECORDED, scope=str(RELEASE), decision="granted")
    allowed = _index(entries, EventKind.CHECKPOINT_ALLOWED, handoff=str(Handoff.RELEASE_LAW_ENFORCEMENT))
    offered = _index(entries, EventKind.TRANSFER_OFFERED, purpose="release")
    released = _index(entries, EventKind.RELEASED)
    assert len(consent) == len(offered) == len(released) == 1 and len(allowed) == 2, entries
    assert consent[0] < allowed[0] < offered[0] < allowed[1] < released[0]
    with Session(stack.engine) as s:
        assert verify_chain(s).ok
        # only the retention stage's timed wait is left (read in this session: SQLite has one writer at a time)
        assert all(w.key.startswith("retention-") for w in outbox.waits_for(s, case_id))


# End to end through Prefect once, on one database (the e2e pathway files alternate); the steps' database work
# runs on both in tests/integration/. The release handoff itself runs on both.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_declined_release_ends_the_branch_and_a_release_attempt_is_refused(stack, tmp_path):
    """(b) a declined release ends that branch; a release attempt is refused (403) and the refusal is recorded;
    a later grant (a restricted report converted months on) starts a new run that hands off once."""
    case_id, item_id = case_at_release_checkpoint(stack.engine, stack.staff)
    stack.deliver()
    first_run = stack.suspended_at_release(case_id)

    record(stack.engine, stack.staff.examiner, case_id, RELEASE, Decision.DECLINED)
    stack.deliver()
    done = stack.finished(case_id)
    assert not [s for s in done if s.startswith("release:")]
    wait_for(lambda: stack.waker.run_status(first_run) == "waiting", timeout=60,
             what="the first run to suspend at its retention stage")

    with Session(stack.engine, expire_on_commit=False) as s, pytest.raises(ConsentRequired):
        custody.offer_release(s, actor=stack.staff.examiner, item_id=item_id,
                             data=custody.TransferCreate(to_user=stack.staff.officer.id, reason="request",
                                                         condition="sealed"))
    h = api_harness(stack.db_url, tmp_path / "api", prefect_api_url=stack.api_url)
    try:
        examiner = h.user("examiner", assign_to=case_id)
        resp = h.client.post(f"/items/{item_id}/release", headers=examiner.headers,
                             json={"to_user": stack.staff.officer.id, "reason": "request", "condition": "sealed"})
        if resp.status_code != 404 or "problem" not in resp.headers.get("content-type", ""):
            assert resp.status_code == 403, resp.text  # the route exists: refused by the checkpoint
    finally:
        h.close()
    entries = ledger_kinds(stack.engine, case_id)
    denied = _index(entries, EventKind.CHECKPOINT_DENIED, handoff=str(Handoff.RELEASE_LAW_ENFORCEMENT))
    assert denied, entries
    assert not _index(entries, EventKind.TRANSFER_OFFERED, purpose="release")

    # Months later the survivor consents: the ended case moves again (a new run), and hands off once.
    record(stack.engine, stack.staff.examiner, case_id, RELEASE)
    stack.deliver()
    wait_for(lambda: f"release:{item_id}" in steps(stack.engine, case_id), timeout=180,
             what=lambda: f"the release after the late consent\n{stack.runner.log_tail()}")
    entries = ledger_kinds(stack.engine, case_id)
    assert len(_index(entries, EventKind.TRANSFER_OFFERED, purpose="release")) == 1


# End to end through Prefect once, on one database (the e2e pathway files alternate); the steps' database work
# runs on both in tests/integration/. The release handoff itself runs on both.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_resumed_run_rerunning_from_the_top_duplicates_nothing(stack):
    """(d) wake the run with an unrelated decision: it re-runs from the top and suspends again, adding nothing."""
    case_id, item_id = case_at_release_checkpoint(stack.engine, stack.staff)
    stack.deliver()
    run_id = stack.suspended_at_release(case_id)
    before = ledger_kinds(stack.engine, case_id)

    record(stack.engine, stack.staff.examiner, case_id, ConsentScope.REPORT_POLICE)  # not what the run waits for
    stack.deliver()
    wait_for(lambda: any(k.startswith("release-consent") and not k.endswith("-1")
                         for k in waits(stack.engine, case_id)), timeout=180,
             what=lambda: f"the run to re-run and wait again\n{stack.runner.log_tail()}")
    assert stack.suspended_at_release(case_id) == run_id  # the same run, suspended again under a fresh key
    after = ledger_kinds(stack.engine, case_id)
    assert after[:len(before)] == before
    assert [k for k, _ in after[len(before):]] == [EventKind.CONSENT_RECORDED]  # only the new decision

    record(stack.engine, stack.staff.examiner, case_id, RELEASE)
    stack.deliver()
    done = stack.finished(case_id)
    assert len(done) == len(set(done)), done
    entries = ledger_kinds(stack.engine, case_id)
    per_step = Counter(d["step"] for k, d in entries if k == EventKind.PATHWAY_STEP)
    assert per_step and max(per_step.values()) == 1, per_step
    assert len(_index(entries, EventKind.TRANSFER_OFFERED, purpose="release")) == 1
    assert len(_index(entries, EventKind.CHECKPOINT_ALLOWED, handoff=str(Handoff.FORENSIC_EXAM))) == 1
