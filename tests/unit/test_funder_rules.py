"""Funder report rules (evidence.reports.rules): federal fiscal years, the period's checks, medians hidden under
the threshold, and the aggregation over plain facts (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationFailed
from core.settings import Settings
from evidence.reports.render import report_dict, to_csv
from evidence.reports.rules import (
    KIT_AT_LAB,
    CaseFact,
    Facts,
    KitEvent,
    ServiceFact,
    build_report,
    fiscal_year_bounds,
    fiscal_year_of,
    median_days,
    months_of,
    report_period,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_federal_fiscal_year_runs_october_to_september():
    assert fiscal_year_bounds(2026) == (datetime(2025, 10, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))
    assert fiscal_year_of(datetime(2025, 9, 30, 23, 59, tzinfo=UTC)) == 2025
    assert fiscal_year_of(datetime(2025, 10, 1, tzinfo=UTC)) == 2026
    assert months_of(*fiscal_year_bounds(2026))[:3] == ["2025-10", "2025-11", "2025-12"]
    assert len(months_of(*fiscal_year_bounds(2026))) == 12


def test_a_fiscal_year_in_progress_ends_now_and_says_so():
    p = report_period(fy=2026, start=None, end=None, now=NOW)
    assert (p.fiscal_year, p.start, p.end, p.in_progress) == (2026, datetime(2025, 10, 1, tzinfo=UTC), NOW, True)
    done = report_period(fy=2025, start=None, end=None, now=NOW)
    assert done.end == datetime(2025, 10, 1, tzinfo=UTC) and not done.in_progress


def test_a_range_inside_one_year_and_naive_times_read_as_utc():
    p = report_period(fy=None, start=datetime(2025, 11, 1), end=datetime(2025, 12, 1), now=NOW)
    assert (p.fiscal_year, p.start.tzinfo, p.end) == (2026, UTC, datetime(2025, 12, 1, tzinfo=UTC))


@pytest.mark.parametrize(("kw", "says"), [
    ({"fy": 2027}, "fiscal year 2027 is not reportable"),
    ({"fy": 1999}, "from 2000 to 2026"),
    ({}, "give a fiscal year"),
    ({"start": datetime(2025, 11, 1, tzinfo=UTC), "end": datetime(2025, 10, 1, tzinfo=UTC)}, "the period is empty"),
    ({"start": datetime(2025, 9, 1, tzinfo=UTC), "end": datetime(2025, 11, 1, tzinfo=UTC)}, "crosses 2025-10-01"),
    ({"start": datetime(2026, 4, 1, tzinfo=UTC)}, "starts in the future"),
])
def test_bad_periods_are_refused_with_a_reason(kw, says):
    with pytest.raises(ValidationFailed, match=says):
        report_period(**{"fy": None, "start": None, "end": None, **kw}, now=NOW)


def test_a_median_over_fewer_than_the_threshold_is_hidden():
    spans = [timedelta(days=d) for d in (1, 2, 3, 10)]
    assert median_days(spans, 5) is None
    assert median_days([*spans, timedelta(days=30)], 5) == 3.0
    assert median_days([], 1) is None


def _case(i, jur="default", band="adult", day=10):
    return CaseFact(case_key=f"C{i}", jurisdiction=jur, age_band=band, opened_at=datetime(2025, 11, day, tzinfo=UTC))


def test_aggregation_counts_once_per_case_service_and_month_and_hides_small_cells():
    p = report_period(fy=2026, start=None, end=None, now=NOW)
    cases = [_case(i) for i in range(7)] + [_case(99, band="16-17")]
    services = [ServiceFact("C1", "default", "counselling", datetime(2025, 11, 2, tzinfo=UTC)),
                ServiceFact("C1", "default", "counselling", datetime(2025, 11, 20, tzinfo=UTC)),  # same month
                *(ServiceFact(f"C{i}", "default", "shelter", datetime(2025, 12, 1, tzinfo=UTC)) for i in range(6))]
    kits = [KitEvent(f"K{i}", "default", "adult", KIT_AT_LAB, datetime(2025, 12, 1, tzinfo=UTC) + timedelta(days=i),
                     datetime(2025, 11, 20, tzinfo=UTC)) for i in range(5)]
    # a kit first received by a lab BEFORE the period does not count again on a later receipt
    kits += [KitEvent("K9", "default", "adult", KIT_AT_LAB, datetime(2025, 9, 1, tzinfo=UTC),
                      datetime(2025, 8, 1, tzinfo=UTC)),
             KitEvent("K9", "default", "adult", KIT_AT_LAB, datetime(2025, 12, 1, tzinfo=UTC),
                      datetime(2025, 8, 1, tzinfo=UTC))]
    report = build_report(Facts(cases=cases, services=services, kit_events=kits), period=p,
                          jurisdictions=["default", "us-tx"], age_bands=["16-17", "adult"],
                          services=["counselling", "shelter"], threshold=5, jurisdiction=None, generated_at=NOW)
    new = report.sections[0].table
    assert new.cells == ((None, None), (0, 0)) and new.row_totals == (8, 0) and new.total == 8
    svc = report.sections[1].table
    assert svc.rows[:3] == ("2025-10", "2025-11", "2025-12")
    # counselling once in November (hidden with its totals); the shelter 6 of December goes with them as a
    # complement, else the hidden counselling column total would be 7 - 6
    assert svc.cells[1] == (None, 0) and svc.cells[2] == (0, None) and svc.total == 7
    turn = report.turnaround
    assert turn.table.cells == ((5,), (0,)) and turn.medians == (13.0, None) and turn.overall_median == 13.0
    data = report_dict(report)
    assert "C1" not in str(data) and "K9" not in str(data) and "C1" not in to_csv(data)
    assert data["suppression"]["hidden"] == report.hidden_small + report.hidden_complementary >= 2
    assert data["suppression"]["why"].startswith("Suppression: counts from 1 to 4 are hidden")


def test_the_threshold_setting_reads_coc_funder_min_cell(monkeypatch):
    monkeypatch.setenv("COC_FUNDER_MIN_CELL", "11")
    assert Settings().funder_min_cell == 11
    monkeypatch.setenv("COC_FUNDER_MIN_CELL", "1")
    with pytest.raises(ValueError, match="funder_min_cell"):
        Settings()
