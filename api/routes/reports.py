"""Reports across cases: agency accountability (GET /reports/compliance), JSON, CSV or PDF."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api import compliance_render
from api.deps import ClockDep, CommitRoute, SessionDep, require
from core.actors import Actor
from core.clock import as_utc
from policies.deadlines.compliance import compliance_report
from policies.permissions import Permission as P

router = APIRouter(tags=["reports"], route_class=CommitRoute)


def report_dict(report) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {"agency": {"id": report.agency_id, "name": report.agency_name, "kind": report.agency_kind},
            "from": report.start, "to": report.end, "generated_at": report.generated_at,
            "handoffs": [asdict(h) for h in report.handoffs], "duties": [asdict(d) for d in report.duties],
            "overdue": [asdict(d) for d in report.overdue],
            "review_actions": [asdict(a) for a in report.review_actions],
            "overdue_review_actions": [asdict(a) for a in report.overdue_review_actions]}


@router.get("/reports/compliance",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}},
                             "description": "The receiving agency's handoffs and overdue deadlines"}})
def get_compliance(session: SessionDep, clock: ClockDep, agency: Annotated[str, Query(min_length=1, max_length=120)],
                   actor: Actor = require(P.COMPLIANCE_READ),
                   from_: Annotated[datetime | None, Query(alias="from")] = None,
                   to: Annotated[datetime | None, Query()] = None,
                   format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json") -> Any:  # noqa: A002
    """Per receiving agency (name or id) and period (default: the last 30 days): each handoff it received (item,
    kind, purpose, offered, accepted = acknowledged) and each pickup/submission/analysis deadline it owns, with
    how long overdue. No survivor data."""
    report = report_dict(compliance_report(session, agency=agency, start=as_utc(from_) if from_ else None,
                                           end=as_utc(to) if to else None, now=clock.now()))
    if format == "csv":
        return Response(compliance_render.to_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="compliance.csv"'})
    if format == "pdf":
        return Response(compliance_render.to_pdf(report), media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="compliance.pdf"'})
    return report
