"""Funder reports on SQLite and PostgreSQL: a year of synthetic cases made through the real services (ManualClock),
reported through GET /reports/funder as JSON, CSV and PDF with small cells suppressed; canary identity strings
never appear; every visible cell is 0 or at least the threshold; bad periods are clear 4xx."""

from __future__ import annotations

import csv
import io
import statistics
import subprocess
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from core.clock import ManualClock, set_clock
from evidence.reports import funder_report, report_dict
from evidence.reports.suppression import suppress
from policies.advocacy import Service
from policies.jurisdictions import installed_packs
from tests.api_helpers import api_harness
from tests.evidence_support import STAFF
from tests.funder_support import CANARY, CANARY_EXAM, CANARY_NOTE, CANARY_ORG, Truth, make_year

BANDS = ["under-13", "13", "14-15", "16-17", "adult"]
# One row per installed jurisdiction pack (evidence.reports.queries), cases or not: packs added later (us-id,
# gb-sct) are rows of zeros here, since the year of cases is made in default, us-mi, us-tx and us-wa.
JURS = sorted(installed_packs())
assert {"default", "us-mi", "us-tx", "us-wa"} <= set(JURS)
REPORT_AT = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)  # after every synthetic event (the last: mid-January)
# One column per advocacy service, in the enum's order (crisis-line came with the advocacy work).
SERVICE_COLS = [s.value for s in Service]
assert SERVICE_COLS[:6] == ["counselling", "shelter", "legal-aid", "medical-follow-up", "accompaniment", "other"]



@pytest.fixture
def year_clock():
    clock = ManualClock(datetime(2024, 9, 30, tzinfo=UTC))
    previous = set_clock(clock)
    yield clock
    set_clock(previous)


@pytest.fixture
def year(db_url, tmp_path, year_clock):
    """The harness on a database holding a synthetic FY 2025 and the truth of it; the clock at REPORT_AT."""
    h = api_harness(db_url, tmp_path)
    truth = make_year(h.engine, year_clock)
    year_clock.set(REPORT_AT)
    yield h, truth
    h.close()


def _check_table(t: dict, truth: dict, rows: list[str], cols: list[str], threshold: int = 5) -> None:
    """Visible cells are the truth and 0 or >= threshold; the hidden ones are exactly what suppress() hides."""
    assert t["rows"] == rows and t["cols"] == cols
    body = [[truth.get((r, c), 0) for c in cols] for r in rows]
    expected = suppress(rows, cols, body, threshold)
    assert [tuple(r) for r in t["cells"]] == list(expected.cells)
    assert tuple(t["row_totals"]) == expected.row_totals and tuple(t["col_totals"]) == expected.col_totals
    for r, cells in zip(rows, t["cells"], strict=True):
        for c, v in zip(cols, cells, strict=True):
            true = truth.get((r, c), 0)
            assert v is None or (v == true and (v == 0 or v >= threshold))
            if 0 < true < threshold:
                assert v is None
    assert t["total"] in (None, sum(truth.values()))


def test_a_year_of_cases_reported_with_small_cells_suppressed(year):
    h, truth = year
    coordinator = h.user("coordinator")
    resp = h.client.get("/reports/funder", params={"fy": 2025}, headers=coordinator.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["fiscal_year"], body["from"][:10], body["to"][:10], body["in_progress"]) == \
        (2025, "2024-10-01", "2025-10-01", False)
    assert sum(truth.new.values()) > 60 and body["min_cell"] == 5
    tables = {t["id"]: t for t in body["tables"]}
    _check_table(tables["new-survivors"], truth.new, JURS, BANDS)
    months = [f"2024-{m}" for m in ("10", "11", "12")] + [f"2025-{m:02d}" for m in range(1, 10)]
    _check_table(tables["services"], truth.services, months, SERVICE_COLS)
    _check_table(tables["exams"], truth.exams, JURS, BANDS)
    _check_table(tables["kits-released"], truth.released, JURS, BANDS)
    _check_table(tables["kits-tested"], truth.tested, JURS, BANDS)
    # minors are few: their cells are hidden; something was hidden as a complement too
    # how many are hidden, never how many of them are small (that would pin some: tests/unit/test_funder_attacks)
    assert body["suppression"]["hidden"] == sum(t["hidden"] for t in tables.values()) + body["turnaround"]["hidden"]
    assert body["suppression"]["hidden"] > 0 and "hidden_small" not in resp.text
    assert tables["new-survivors"]["cells"][0][0] in (None, 0)
    # medians: shown over at least 5 kits and equal to the truth, hidden below
    turn = body["turnaround"]
    for jur, n, median in zip(turn["rows"], turn["kits"], turn["median_days"], strict=True):
        days = truth.lab_days.get(jur, [])
        assert n is None or n == len(days)
        assert median == (round(statistics.median(days), 1) if len(days) >= 5 else None)
    every = [d for days in truth.lab_days.values() for d in days]
    assert turn["overall_median_days"] == round(statistics.median(every), 1) and len(every) >= 5
    assert any("cannot tell whether two cases belong to the same person" in n for n in body["notes"])
    assert any("complementary suppression" in n for n in body["notes"])

    # A range with too little data is a report, not an error, and says why its cells are hidden.
    resp = h.client.get("/reports/funder", params={"from": "2025-03-01T00:00:00Z", "to": "2025-03-08T00:00:00Z"},
                        headers=h.user("coordinator").headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    new = {t["id"]: t for t in body["tables"]}["new-survivors"]
    assert new["total"] is None and all(v in (None, 0) for r in new["cells"] for v in r)
    assert body["notes"][0].startswith("Too little data in this period")
    assert body["suppression"]["hidden"] > 0


def _all_renderings(h, headers, **params) -> tuple[str, str, str]:
    js = h.client.get("/reports/funder", params={**params, "format": "json"}, headers=headers)
    cs = h.client.get("/reports/funder", params={**params, "format": "csv"}, headers=headers)
    pd = h.client.get("/reports/funder", params={**params, "format": "pdf"}, headers=headers)
    assert (js.status_code, cs.status_code, pd.status_code) == (200, 200, 200), (js.text, cs.text)
    assert cs.headers["content-type"].startswith("text/csv") and pd.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pd.content, capture_output=True,
                          check=True).stdout.decode()
    return js.text, cs.content.decode(), text


def test_no_rendering_holds_identity_ids_or_a_small_visible_cell(year):
    h, truth = year
    auditor = h.user("auditor")
    for params in ({"fy": 2025}, {"fy": 2025, "jurisdiction": "us-mi"}, {"fy": 2026}):
        js, cs, pdf_text = _all_renderings(h, auditor.headers, **params)
        for rendering in (js, cs, pdf_text):
            for secret in (CANARY, CANARY_NOTE, CANARY_ORG, CANARY_EXAM, "CANARY", "example.org"):
                assert secret not in rendering
            for opaque in (*truth.case_ids, *truth.item_ids, *(a.id for a in STAFF)):
                assert opaque not in rendering
        # every visible count in the CSV is 0 or at least 5
        for row in csv.DictReader(io.StringIO(cs)):
            if row["section"] in ("report", "note") or row["column"] == "median_days":
                continue
            assert row["value"] == "suppressed" or int(row["value"]) == 0 or int(row["value"]) >= 5, row
    # the PDF's text: the heading, every table, the hidden mark and why
    _, cs, text = _all_renderings(h, auditor.headers, fy=2025)
    for words in ("New survivors", "Advocacy services provided", "Forensic examinations",
                  "Kits released to law enforcement", "Kits tested", "Days from exam to lab", "counselling",
                  "adult", "us-tx", "Cells under 5 hidden (*)", "complementary suppression", "Notes"):
        assert words in text, words
    assert " * " in text or text.count("*") > 3
    assert "new-survivors,total,total," in cs
    assert "Funder report: federal fiscal year 2025 (2024-10-01 to 2025-09-30)" in text


def test_the_threshold_is_a_setting(db_url, tmp_path, year_clock):
    h = api_harness(db_url, tmp_path, funder_min_cell=11)
    try:
        truth: Truth = make_year(h.engine, year_clock, n_cases=30)
        year_clock.set(REPORT_AT)
        body = h.client.get("/reports/funder", params={"fy": 2025}, headers=h.user("auditor").headers).json()
        assert body["min_cell"] == 11 and any("counts from 1 to 10 are hidden" in n for n in body["notes"])
        new = {t["id"]: t for t in body["tables"]}["new-survivors"]
        _check_table(new, truth.new, JURS, BANDS, threshold=11)
        with Session(h.engine) as s:
            assert report_dict(funder_report(s, fy=2025, threshold=3))["min_cell"] == 3
    finally:
        h.close()


@pytest.mark.parametrize(("params", "says"), [
    ({"fy": 2027}, "fiscal year 2027 is not reportable"),
    ({"fy": 1999}, "fiscal year 1999 is not reportable"),
    ({"fy": "abc"}, "fy"),
    ({}, "give a fiscal year"),
    ({"from": "2025-03-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}, "the period is empty"),
    ({"from": "2025-09-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}, "inside one federal fiscal year"),
    ({"from": "2026-09-01T00:00:00Z"}, "starts in the future"),
    ({"fy": 2025, "format": "xlsx"}, "format"),
])
def test_invalid_years_and_ranges_are_422_with_a_reason(db_url, tmp_path, year_clock, params, says):
    h = api_harness(db_url, tmp_path)
    try:
        year_clock.set(REPORT_AT)
        resp = h.client.get("/reports/funder", params=params, headers=h.user("coordinator").headers)
        assert resp.status_code == 422, resp.text
        assert says in resp.text
    finally:
        h.close()


def test_unknown_jurisdiction_is_404_and_other_roles_are_refused(db_url, tmp_path, year_clock):
    h = api_harness(db_url, tmp_path)
    try:
        year_clock.set(REPORT_AT)
        resp = h.client.get("/reports/funder", params={"fy": 2025, "jurisdiction": "atlantis"},
                            headers=h.user("coordinator").headers)
        assert resp.status_code == 404 and "unknown jurisdiction 'atlantis'" in resp.text
        for role in ("examiner", "advocate", "law_enforcement", "lab"):
            assert h.client.get("/reports/funder", params={"fy": 2025},
                                headers=h.user(role).headers).status_code == 403
        empty = h.client.get("/reports/funder", params={"fy": 2025}, headers=h.user("auditor").headers).json()
        assert empty["notes"][0] == "No activity recorded in this period: every count is zero."
    finally:
        h.close()
