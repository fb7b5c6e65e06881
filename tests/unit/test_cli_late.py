"""`coc evidence add --late-justification`, `coc care record --late-justification`, a late clock in `coc case clocks`
and the minor-assent consent that used to answer 500 — against the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import live_api  # noqa: F401 - the fixture


def _ago(**kw) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat()


def test_late_sample_and_treatment_from_the_cli(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--assault-at", _ago(hours=40), "--json").output)
    for scope in ("forensic-exam", "evidence-toxicology", "medical-care"):
        r = cli("consent", "record", case["id"], scope, "--method", "written", "--form-ref", "F-1")
        assert r.exit_code == 0, r.output
    refused = cli("evidence", "add", case["id"], "--kind", "toxicology-blood", "--description", "blood sample")
    assert refused.exit_code == 1 and "collected 16 h" in refused.output and "24 h window" in refused.output
    added = cli("evidence", "add", case["id"], "--kind", "toxicology-blood", "--description", "blood sample",
                "--late-justification", "arrived at 38 h", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["late_justification"] == "arrived at 38 h"
    pep = cli("care", "record", case["id"], "hepatitis-b", "--late-justification", "first dose on arrival",
              "--json")
    assert pep.exit_code == 0, pep.output
    assert json.loads(pep.output)["late_justification"] == "first dose on arrival"

    clocks = {c["name"]: c for c in json.loads(cli("case", "clocks", case["id"], "--json").output)}
    assert clocks["toxicology-blood"]["status"] == "late"
    assert clocks["toxicology-blood"]["detail"].startswith("collected 16 h")
    assert clocks["hepatitis-b"]["status"] == "late" and clocks["hepatitis-b"]["detail"].startswith("given 16 h")
    table = cli("case", "clocks", case["id"])
    assert table.exit_code == 0 and "late" in table.output and "detail" in table.output


def test_minor_assent_from_the_cli(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    minor = json.loads(cli("case", "open", "--age-band", "13", "--json").output)
    adult = json.loads(cli("case", "open", "--age-band", "adult", "--json").output)
    ok = cli("consent", "record", minor["id"], "medical-care", "--method", "minor-assent")
    assert ok.exit_code == 0, ok.output
    bad = cli("consent", "record", adult["id"], "medical-care", "--method", "minor-assent")
    assert bad.exit_code == 1 and "use verbal or written" in " ".join(bad.output.split())
