"""benchmarks/schemathesis_deep.py (issue #18's deep run): the pytest command it runs and the JSON it ends with."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("schemathesis_deep", ROOT / "benchmarks" / "schemathesis_deep.py")
deep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deep)

ROWS = [
    {"test": "stateless", "db": "sqlite", "seconds": 10.0, "failures": [],
     "operations": {"GET /me": {"examples": 300, "statuses": {"200": 300}},
                    "GET /auth/jwks.json": {"examples": 6, "statuses": {"200": 6}}}},
    {"test": "stateful", "db": "sqlite", "seconds": 5.0, "failures": ["POST /cases: 500"],
     "operations": {"POST /cases": {"examples": 40, "statuses": {"201": 30, "500": 10}}}},
]


def test_the_deep_run_has_no_timeout_runs_niced_and_selects_the_databases_asked_for():
    cmd = deep._pytest_command(deep._args(["--db", "both", "--seed", "7"]))
    assert cmd[:3] == ["nice", "-n", "10"] and "--timeout=0" in cmd and "--hypothesis-seed=7" in cmd
    assert cmd[cmd.index("-k") + 1] == "(real_objects or statefully) and (sqlite or postgresql)"
    assert "--hypothesis-seed=7" not in deep._pytest_command(deep._args([]))


def test_the_summary_counts_every_example_and_names_every_failure():
    summary = deep._summary(deep._args(["--examples", "300"]), ROWS, 15.0, 1)
    assert summary["examples_per_operation"] == 300 and summary["operations"] == 2
    assert summary["total_examples"] == 346 and summary["stateless_min_examples_of_an_operation"] == 6
    assert summary["statuses"] == {"2xx": 336, "5xx": 10}
    assert summary["failures"] == ["stateful sqlite: POST /cases: 500"]


def test_pytest_failing_without_a_recorded_failure_is_a_failure():
    clean = [dict(ROWS[0])]
    assert deep._summary(deep._args([]), clean, 1.0, 0)["failures"] == []
    assert deep._summary(deep._args([]), clean, 1.0, 2)["failures"], "an interrupted or broken run is not clean"
