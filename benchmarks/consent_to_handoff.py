"""Benchmark: seconds from a release consent recorded through the API to the release handoff done by the
pathway flow, over N cases, on a stack this script starts (SQLite, a Prefect server, `python -m flows.serve`).

    PREFECT_SERVER_ANALYTICS_ENABLED=false .venv/bin/python benchmarks/consent_to_handoff.py [--cases 20]

The last line is one JSON object: {"p50_s": ..., "p95_s": ..., ...}. Goal: p95 < 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

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


def breakdown(api_url: str, engine, cases: list[tuple[str, str]], started: dict[str, datetime]) -> dict:
    """Median seconds per phase, from Prefect's state history and the ledger: where the latency goes."""
    from prefect.client.orchestration import SyncPrefectClient
    from sqlalchemy import select

    from core.clock import as_utc
    from core.ledger import EventKind, LedgerEntry

    phases: dict[str, list[float]] = {"consent_to_resumed": [], "resumed_to_pending": [], "pending_to_running": [],
                                      "running_to_handoff": []}
    with SyncPrefectClient(api_url) as client, Session(engine) as s:
        for case_id, item_id in cases:
            run_id = s.scalars(select(outbox.PathwayWait.flow_run_id).where(outbox.PathwayWait.case_id == case_id)
                               ).first()
            runs = [r for r in client.read_flow_runs() if r.name == case_id]
            if run_id is None and runs:
                run_id = str(runs[0].id)
            if run_id is None:
                continue
            t0 = started[case_id]
            states = [st for st in client.read_flow_run_states(UUID(run_id)) if as_utc(st.timestamp) >= t0]
            first = {}
            for st in sorted(states, key=lambda x: x.timestamp):
                first.setdefault(st.type.value, as_utc(st.timestamp))
            offered = s.scalars(select(LedgerEntry.recorded_at).where(
                LedgerEntry.item_id == item_id, LedgerEntry.kind == str(EventKind.TRANSFER_OFFERED))).first()
            if not {"SCHEDULED", "PENDING", "RUNNING"} <= first.keys() or offered is None:
                continue
            phases["consent_to_resumed"].append((first["SCHEDULED"] - t0).total_seconds())
            phases["resumed_to_pending"].append((first["PENDING"] - first["SCHEDULED"]).total_seconds())
            phases["pending_to_running"].append((first["RUNNING"] - first["PENDING"]).total_seconds())
            phases["running_to_handoff"].append((as_utc(offered) - first["RUNNING"]).total_seconds())
    return {k: round(statistics.median(v), 3) for k, v in phases.items() if v}


def main() -> None:
    """Start the stack, bring N cases to the release checkpoint, then time consent → handoff for each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coc-consent-bench-"))
    db_url = f"sqlite:///{work / 'coc.db'}"
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    server = start_prefect_server(work / "prefect", ui=False)
    runner = Runner(server.api_url, work / "runner", db_url, work / "data")
    harness = api_harness(db_url, work / "api", prefect_api_url=server.api_url)
    factory = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    waker = outbox.PrefectWaker(server.api_url)
    result: dict = {}
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
        started: dict[str, datetime] = {}
        load_start = os.getloadavg()[0]  # the figures mean little without the machine's load next to them
        for case_id, item_id in cases:
            started[case_id] = datetime.now(UTC)
            t0 = time.perf_counter()
            resp = harness.client.post(f"/cases/{case_id}/consents", headers=examiner.headers, json=body)
            assert resp.status_code == 201, resp.text
            outbox.drain_soon(harness.settings)  # what the API does after commit (idempotent if it already did)
            wait_for(lambda c=case_id, i=item_id: f"release:{i}" in steps(engine, c), timeout=120, interval=0.01,
                     what=runner.log_tail)
            latencies.append(time.perf_counter() - t0)
            print(f"{case_id}: {latencies[-1]:.2f} s", file=sys.stderr)
        phases = breakdown(server.api_url, engine, cases, started)
        result = {"p50_s": round(statistics.median(latencies), 3), "p95_s": round(percentile(latencies, 0.95), 3),
                  "max_s": round(max(latencies), 3), "cases": len(latencies), "via": "api+outbox",
                  "median_phases_s": phases, "cpus": os.cpu_count(),
                  "loadavg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)]}
    finally:
        harness.close()
        runner.stop()
        server.stop()
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    # Last, after the runner has stopped: its flow runs' log lines must not come after the figures.
    print(json.dumps(result))


if __name__ == "__main__":
    main()
