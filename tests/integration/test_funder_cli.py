"""`coc report funder` against the real app served on loopback (SQLite and PostgreSQL): JSON, CSV and PDF to a
file, the human tables with hidden cells as *, and a bad fiscal year printed as the API's reason."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from core.clock import ManualClock, set_clock
from tests.api_helpers import api_harness
from tests.funder_support import CANARY, make_year
from tests.unit.test_cli_live import serve

# The CLI speaks HTTP; the server's database is covered on both in the API tests: the embedded one here.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    clock = ManualClock(datetime(2024, 9, 30, tzinfo=UTC))
    previous = set_clock(clock)
    h = api_harness(db_url, tmp_path / "data")
    try:
        make_year(h.engine, clock, n_cases=30)
        clock.set(datetime(2026, 1, 20, tzinfo=UTC))
        staff = h.user("coordinator")
        with serve(h) as url:
            monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
            monkeypatch.setenv("COC_API_URL", url)
            monkeypatch.delenv("COC_TOKEN", raising=False)
            runner = CliRunner()

            def run(*args: str):
                return runner.invoke(app, list(args), catch_exceptions=False)

            assert run("login", "--username", staff.user.username, "--password", staff.password).exit_code == 0
            yield run
    finally:
        h.close()
        set_clock(previous)


def test_coc_report_funder_json_csv_pdf_and_tables(cli, tmp_path):
    result = cli("report", "funder", "--fy", "2025", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["fiscal_year"] == 2025 and body["suppression"]["hidden"] > 0

    csv_file = tmp_path / "fy2025.csv"
    result = cli("report", "funder", "--fy", "2025", "--format", "csv", "-o", str(csv_file), "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"wrote": str(csv_file), "format": "csv"}
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert {"section": "report", "row": "fiscal_year", "column": "", "value": "2025"} in rows
    assert any(r["value"] == "suppressed" for r in rows) and CANARY not in csv_file.read_text()

    pdf_file = tmp_path / "fy2025.pdf"
    result = cli("report", "funder", "--fy", "2025", "--jurisdiction", "us-tx", "--format", "pdf", "-o", str(pdf_file))
    assert result.exit_code == 0 and f"wrote {pdf_file}" in result.output
    text = subprocess.run(["pdftotext", str(pdf_file), "-"], capture_output=True, check=True).stdout.decode()
    assert "federal fiscal year 2025" in text and "jurisdiction: us-tx" in text and CANARY not in text

    result = cli("report", "funder", "--fy", "2025")
    assert result.exit_code == 0, result.output
    assert "New survivors" in result.output and "Kits tested" in result.output and "*" in result.output


def test_coc_report_funder_bad_year_and_pdf_to_the_terminal(cli):
    result = cli("report", "funder", "--fy", "2031")
    assert result.exit_code == 1 and "fiscal year 2031 is not reportable" in result.output
    result = cli("report", "funder", "--fy", "2025", "--format", "pdf")
    assert result.exit_code == 2 and "-o FILE" in result.output
