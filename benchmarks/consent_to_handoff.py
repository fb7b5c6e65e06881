"""Benchmark: seconds from a release consent recorded through the API to the release handoff done by the
pathway flow, over N cases, on a stack this script starts (SQLite, a Prefect server, `python -m flows.serve`).

    PREFECT_SERVER_ANALYTICS_ENABLED=false .venv/bin/python benchmarks/consent_to_handoff.py [--cases 20]

The last line is one JSON object: {"p50_s": ..., "p95_s": ..., ...}. Goal: p95 < 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers live in the repository

from sqlmodel import Session  # noqa: E402

from api.stack.prefect_server import start_prefect_server  # noqa: E402
from core import migrate, outbox  # noqa: E402
from core.db import make_engine  # noqa: E402
from policies.handoffs import ConsentScope  # noqa: E402
from tests.api_helpers import api_harness  # noqa: E402
from tests.e2e.pathway_stack import (  # noqa: E402
    Runner,
    case_at_release_checkpoint,
    decide,
    make_staff,
    steps,
    wait_for,
    waits,
)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def main() -> None:
    """Start the stack, bring N cases to the release checkpoint, then time consent → handoff for each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coc-bench-"))
    db_url = f"sqlite:///{work / 'coc.db'}"
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    server = start_prefect_server(work / "prefect", ui=False)
    runner = Runner(server.api_url, work / "runner", db_url, work / "data")
    harness = api_harness(db_url, work / "api", prefect_api_url=server.api_url)
    factory = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    waker = outbox.PrefectWaker(server.api_url)
    try:
        staff = make_staff(engine, "bench")
        cases = [case_at_release_checkpoint(engine, staff) for _ in range(args.cases)]
        wait_for(lambda: outbox.drain(factory, waker)[1] == 0, timeout=300, interval=0.5, what=runner.log_tail)
        for case_id, _ in cases:  # every run suspended at the release before the clock starts
            key = wait_for(lambda c=case_id: next((k for k in waits(engine, c) if k.startswith("release")), None),
                           timeout=600, interval=0.2, what=runner.log_tail)
            with Session(engine) as s:
                run_id = next(w.flow_run_id for w in outbox.waits_for(s, case_id) if w.key == key)
            wait_for(lambda r=run_id: waker.run_status(r) == "waiting", timeout=300, interval=0.2)
        examiner = harness.user("examiner", assign_to=[c for c, _ in cases])
        body = decide(ConsentScope.RELEASE_LAW_ENFORCEMENT).model_dump(mode="json")
        latencies: list[float] = []
        for case_id, item_id in cases:
            t0 = time.perf_counter()
            resp = harness.client.post(f"/cases/{case_id}/consents", headers=examiner.headers, json=body)
            assert resp.status_code == 201, resp.text
            outbox.drain_soon(harness.settings)  # what the API does after commit (idempotent if it already did)
            wait_for(lambda c=case_id, i=item_id: f"release:{i}" in steps(engine, c), timeout=120, interval=0.01,
                     what=runner.log_tail)
            latencies.append(time.perf_counter() - t0)
            print(f"{case_id}: {latencies[-1]:.2f} s", file=sys.stderr)
        result = {"p50_s": round(statistics.median(latencies), 3), "p95_s": round(percentile(latencies, 0.95), 3),
                  "max_s": round(max(latencies), 3), "cases": len(latencies), "via": "api+outbox"}
        print(json.dumps(result))
    finally:
        harness.close()
        runner.stop()
        server.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
