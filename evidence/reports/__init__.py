"""Funder reports: aggregate counts with small-cell suppression, no personal data.

  suppression.py  PURE: small-cell and complementary suppression of a count table with its totals
  rules.py        PURE: federal fiscal years, the period, aggregation of plain facts into suppressed tables
  queries.py      the reads (cases, advocacy services, exams, kits' custody events) and `funder_report`
  render.py       JSON-ready data, CSV and PDF
"""

from evidence.reports.queries import funder_report
from evidence.reports.render import report_dict, to_csv, to_pdf
from evidence.reports.rules import FunderReport, fiscal_year_bounds, fiscal_year_of, report_period
from evidence.reports.suppression import SuppressedTable, suppress

__all__ = ["FunderReport", "SuppressedTable", "fiscal_year_bounds", "fiscal_year_of", "funder_report",
           "report_dict", "report_period", "suppress", "to_csv", "to_pdf"]
