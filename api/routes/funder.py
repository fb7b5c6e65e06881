"""Funder reports (GET /reports/funder): aggregate counts of a federal fiscal year, small cells suppressed,
as JSON, CSV or PDF. No case, item, person or free text in any of them (evidence.reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, require
from core.actors import Actor
from evidence.reports import funder_report, report_dict, to_csv, to_pdf
from policies.permissions import Permission as P

router = APIRouter(tags=["reports"], route_class=CommitRoute)


@router.get("/reports/funder",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}},
                             "description": "Aggregate counts of the period with small cells suppressed"}})
def get_funder_report(session: SessionDep, clock: ClockDep, settings: SettingsDep,
                      actor: Actor = require(P.FUNDER_REPORT_READ),
                      fy: Annotated[int | None, Query(ge=1, le=9999, description="federal fiscal year, e.g. 2026 "
                                                      "(1 Oct 2025 - 30 Sep 2026)")] = None,
                      from_: Annotated[datetime | None, Query(alias="from")] = None,
                      to: Annotated[datetime | None, Query()] = None,
                      jurisdiction: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
                      format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json") -> Any:  # noqa: A002
    """New survivors, advocacy services per month and type, exams, kits released and tested, and the median days
    from exam to lab, by jurisdiction and age band, for a federal fiscal year (`fy`) or a range inside one
    (`from`, `to`). Counts under COC_FUNDER_MIN_CELL are hidden, with complementary suppression; the report says
    how many were hidden and why. An invalid year or range is a 422."""
    data = report_dict(funder_report(session, fy=fy, start=from_, end=to, jurisdiction=jurisdiction,
                                     threshold=settings.funder_min_cell, now=clock.now()))
    name = f"funder-fy{data['fiscal_year']}{'-' + jurisdiction if jurisdiction else ''}"
    if format == "csv":
        return Response(to_csv(data), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "pdf":
        return Response(to_pdf(data), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    return data
