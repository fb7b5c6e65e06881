"""The deep schemathesis run of issue #18: every operation with N generated examples (default 300), the stateless
test and the stateful (OpenAPI links) test of tests/integration/test_api_schemathesis.py, on a real world (a case,
its item with a file on SeaweedFS, a transfer, an incident, a healthy second item the custody operations are aimed
at, a review, advocacy records; one user per role).

Run: .venv/bin/python benchmarks/schemathesis_deep.py [--examples 300] [--scenarios N] [--db sqlite|postgresql|both]
                                                      [--seed N] [--keep-going]
It runs pytest on that file under `nice -n 10` with no per-test timeout (--timeout=0), the test's counts set from
the environment (COC_SCHEMATHESIS_EXAMPLES, COC_SCHEMATHESIS_SCENARIOS: the stateful run's scenarios, N unless
given, of up to 12 linked calls each), and each test writing its figures to COC_SCHEMATHESIS_REPORT. Without
--seed the draw is the suite's derandomized one (the same every run); --seed N draws afresh (hypothesis' seed).
Prints per operation: examples and response statuses (so one can see how deep the requests reached: 2xx means
past validation, permissions and the domain rules), then every failure, and as its LAST line one JSON object:
  {"examples_per_operation": N, "operations": …, "total_examples": …, "failures": […], "seconds": …, …}
Exit status 0 when no failure was found.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_FILE = "tests/integration/test_api_schemathesis.py"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=300, help="generated examples per operation (default 300)")
    p.add_argument("--scenarios", type=int, default=None, help="stateful scenarios (default: --examples)")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--seed", type=int, default=None, help="a fresh hypothesis draw (default: derandomized)")
    p.add_argument("--test", choices=["stateless", "stateful", "both"], default="both")
    return p.parse_args(argv)


def _pytest_command(args: argparse.Namespace) -> list[str]:
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    tests = {"stateless": "real_objects", "stateful": "statefully"}
    names = [tests[args.test]] if args.test != "both" else list(tests.values())
    selection = f"({' or '.join(names)}) and ({' or '.join(dbs)})"
    cmd = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
           "-q", "-s", "--timeout=0", "-W", "ignore::UserWarning", TEST_FILE, "-k", selection]
    if args.seed is not None:
        cmd.append(f"--hypothesis-seed={args.seed}")
    return cmd


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        ops = row["operations"]
        print(f"\n== {row['test']} on {row['db']}: {len(ops)} operations, "
              f"{sum(o['examples'] for o in ops.values())} examples, {len(row['failures'])} failures, "
              f"{row['seconds']:.0f} s")
        for op, figures in ops.items():
            statuses = " ".join(f"{code}:{n}" for code, n in figures["statuses"].items())
            took = f"{figures['seconds']:6.1f} s" if figures.get("seconds") else " " * 8
            print(f"  {figures['examples']:6d} {took}  {op:<62s} {statuses}")
        for failure in row["failures"]:
            print(f"\n  FAILURE ({row['test']}, {row['db']}): {failure}")


def _summary(args: argparse.Namespace, rows: list[dict], seconds: float, pytest_rc: int) -> dict:
    stateless = [r for r in rows if r["test"] == "stateless"]
    stateful = [r for r in rows if r["test"] == "stateful"]
    statuses: Counter = Counter()
    for row in rows:
        for figures in row["operations"].values():
            for code, n in figures["statuses"].items():
                statuses[code[0] + "xx"] += n
    per_op = [o["examples"] for r in stateless for o in r["operations"].values()]
    failures = [f"{r['test']} {r['db']}: {f[:400]}" for r in rows for f in r["failures"]]
    if pytest_rc not in (0, 1) or (pytest_rc == 1 and not failures):
        failures.append(f"pytest exited {pytest_rc} without a recorded failure (see its output above)")
    return {
        "examples_per_operation": args.examples,
        "operations": max((len(r["operations"]) for r in stateless), default=0),
        "total_examples": sum(o["examples"] for r in rows for o in r["operations"].values()),
        "stateless_examples": sum(per_op),
        "stateless_min_examples_of_an_operation": min(per_op, default=0),
        "stateful_scenarios": args.scenarios or args.examples,
        "stateful_calls": sum(o["examples"] for r in stateful for o in r["operations"].values()),
        "databases": sorted({r["db"] for r in rows}),
        "statuses": dict(sorted(statuses.items())),
        "seed": args.seed,
        "failures": failures,
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    with tempfile.TemporaryDirectory(prefix="coc-st-deep-") as tmp:
        report = Path(tmp) / "report.jsonl"
        env = dict(os.environ, COC_SCHEMATHESIS_EXAMPLES=str(args.examples),
                   COC_SCHEMATHESIS_SCENARIOS=str(args.scenarios or args.examples),
                   COC_SCHEMATHESIS_REPORT=str(report))
        cmd = _pytest_command(args)
        print("$", " ".join(cmd), flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        seconds = time.monotonic() - started
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    _print_rows(rows)
    summary = _summary(args, rows, seconds, rc)
    print(json.dumps(summary), flush=True)
    return 0 if not summary["failures"] and rows else 1


if __name__ == "__main__":
    sys.exit(main())
