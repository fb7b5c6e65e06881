"""The Prefect server and the flow runner of a `coc up` SIGKILLed while pathways are suspended at the release
checkpoint; consent decisions recorded through the API while Prefect is down (the outbox holds the wakes);
`coc up` restarts both; then the runner is killed again while a resumed run runs. Every pathway reaches the state
the database says: a granted release is offered exactly once, a declined one never, no step runs twice, nothing
is left undelivered, and the ledger verifies."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import select
from sqlmodel import Session

from api.client import CocClient
from core import outbox
from core.actors import Actor, system_actor
from core.db import make_engine
from core.ledger import EventKind
from policies.authz import User, assign
from policies.handoffs import ConsentScope
from tests.e2e.pathway_stack import (
    Staff,
    at_retention,
    case_at_release_checkpoint,
    drain,
    ledger_kinds,
    make_staff,
    steps,
    wait_for,
)
from tests.e2e.test_reconcile import FAST, _suspended_at_release, _tolerant
from tests.faults.checks import assert_consistent
from tests.fixtures.stack import CocUp

pytestmark = pytest.mark.e2e

RELEASE = str(ConsentScope.RELEASE_LAW_ENFORCEMENT)


def _children(data) -> dict[str, int]:
    return json.loads((data / "stack.json").read_text())["children"]


def _undelivered(engine, case_ids: list[str]) -> set[str]:
    with Session(engine) as s:
        return set(s.scalars(select(outbox.OutboxMessage.case_id).where(outbox.OutboxMessage.delivered_at.is_(None))
                             .where(outbox.OutboxMessage.case_id.in_(case_ids))))


def _release(client: CocClient, case_id: str, decision: str) -> None:
    client.record_consent(case_id, scope=RELEASE, decision=decision, method="written", form_ref=f"F-{decision}")


def test_prefect_and_the_runner_killed_while_pathways_wait_and_while_they_run(tmp_path):
    data = tmp_path / "data"
    up = CocUp(data, **FAST).start()
    engine = None
    try:
        info = up.wait_ready()
        engine = make_engine(f"sqlite:///{data / 'coc.db'}")
        log = lambda: (data / "logs" / "flows.log").read_text(errors="replace")[-4000:]  # noqa: E731
        username, password = f"examiner-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + "Aa1!"
        with CocClient(info.api_url) as admin:
            admin.login(info.admin_user, info.admin_password)
            admin.create_user(username=username, password=password, role="examiner")
        with Session(engine) as s:
            examiner_id = s.scalars(select(User.id).where(User.username == username)).one()
        staff = Staff(Actor(examiner_id, "examiner"), make_staff(engine, "pf").officer)
        cases = [case_at_release_checkpoint(engine, staff) for _ in range(4)]
        ids = [c for c, _ in cases]
        with Session(engine) as s:
            for case_id in ids:
                assign(s, actor=system_actor("test"), case_id=case_id, user_id=examiner_id)
            s.commit()
        wait_for(_tolerant(lambda: drain(engine, info.prefect_api_url)[1] == 0), timeout=120, what=log)
        _suspended_at_release(engine, outbox.PrefectWaker(info.prefect_api_url), ids, log)

        # Fault 1: Prefect and the runner die while every run waits; decisions are taken meanwhile.
        before = _children(data)
        os.killpg(before["prefect"], signal.SIGKILL)
        os.killpg(before["flows"], signal.SIGKILL)
        with CocClient(info.api_url) as examiner:
            examiner.login(username, password)
            _release(examiner, ids[0], "granted")
            _release(examiner, ids[1], "granted")
            _release(examiner, ids[2], "declined")
        assert _undelivered(engine, ids[:3]) == set(ids[:3]), "the wakes were lost instead of held"
        wait_for(lambda: all(_children(data).get(p, before[p]) != before[p] for p in ("prefect", "flows")), timeout=240,
                 what=lambda: f"coc up to restart Prefect and the runner\n{up.output()[-3000:]}")
        wait_for(_tolerant(lambda: all(at_retention(engine, c) for c in ids[:3])), timeout=240,
                 interval=0.5, what=lambda: f"the pathways to finish: {[steps(engine, c) for c in ids]}\n{log()}")

        # Fault 2: the runner dies while a resumed run is running.
        with CocClient(info.api_url) as examiner:
            examiner.login(username, password)
            _release(examiner, ids[3], "granted")
        time.sleep(0.3)  # the fault: let the resumed run get going (a point in time, not a wait for a state)
        os.killpg(_children(data)["flows"], signal.SIGKILL)
        wait_for(_tolerant(lambda: at_retention(engine, ids[3])), timeout=240, interval=0.5,
                 what=lambda: f"the last pathway to finish: {steps(engine, ids[3])}\n{log()}")

        for (case_id, item_id), offered in zip(cases, (1, 1, 0, 1), strict=True):
            done = steps(engine, case_id)
            assert done.count(f"release:{item_id}") == offered, done
            entries = ledger_kinds(engine, case_id)
            offers = [d for k, d in entries if k == EventKind.TRANSFER_OFFERED and d.get("purpose") == "release"]
            assert len(offers) == offered, (case_id, offers)
            per_step = Counter(d["step"] for k, d in entries if k == EventKind.PATHWAY_STEP)
            assert max(per_step.values()) == 1, (case_id, per_step)
        wait_for(_tolerant(lambda: not _undelivered(engine, ids)), timeout=90, what="the outbox to settle")
        assert up.process.poll() is None, "coc up stopped instead of restarting its parts"
        assert_consistent(engine)
    finally:
        up.terminate()
        if engine is not None:
            engine.dispose()
