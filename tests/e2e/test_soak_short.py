"""The soak's short form in the suite (issue #17, "Load"): `benchmarks/soak.py --short` as a subprocess (it starts its
own `coc up`), then its last line: no 5xx, the ledger verifies, every acknowledged write is in the ledger exactly
once. Latencies are reported, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.stack.children import inherited_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--short"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env={**_env(), "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result))
    assert result["errors_5xx"] == 0, (result, proc.stderr[-3000:])
    assert result["ledger_verified"] is True, result
    assert result["lost_or_duplicated"] == 0, result
    # The check had something to check: every role's writes were acknowledged and searched for.
    kinds = result["acknowledged_by_kind"]
    for kind in ("case:case:opened", "consent:decision:recorded", "custody:item:collected",
                 "custody:transfer:offered", "custody:transfer:accepted", "advocacy:contact:made"):
        assert kinds.get(kind, 0) > 0, kinds
    assert result["requests"] > result["baseline_requests"] > 0
    assert result["api_processes"] == 1 and result["clients"] == 6


def _env() -> dict[str, str]:
    return inherited_env()
