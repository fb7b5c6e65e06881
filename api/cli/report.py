"""`coc report …`: reports across cases (agency accountability, funder reports)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.common import JsonOpt, api_errors, client, console, emit, print_json

report_app = typer.Typer(help="Reports across cases: agency accountability, funder reports.", no_args_is_help=True)


@report_app.command("compliance")
@api_errors
def compliance(
    agency: str = typer.Option(..., "--agency", help="The receiving agency's name (as in `coc admin agency list`)."),
    start: str = typer.Option(None, "--from", help="Start of the period (ISO date/time; default: 30 days ago)."),
    end: str = typer.Option(None, "--to", help="End of the period (ISO date/time; default: now)."),
    csv_out: Path = typer.Option(None, "--csv", help="Write the report as CSV to this file."),
    pdf_out: Path = typer.Option(None, "--pdf", help="Write the report as PDF to this file."),
    as_json: bool = JsonOpt,
) -> None:
    """What an agency received (handoffs, acknowledged = accepted) and which deadlines it owns are overdue."""
    with client() as api:
        if csv_out is not None:
            csv_out.write_text(api.compliance_report(agency, start=start, end=end, fmt="csv"))
            typer.echo(f"wrote {csv_out}")
            return
        if pdf_out is not None:
            pdf_out.write_bytes(api.compliance_report(agency, start=start, end=end, fmt="pdf"))
            typer.echo(f"wrote {pdf_out}")
            return
        report = api.compliance_report(agency, start=start, end=end)
    if as_json:
        print_json(report)
        return
    ag = report["agency"]
    console().print(f"{ag['name']} ({ag['kind']}): {report['from']} to {report['to']}; "
                    f"{len(report['handoffs'])} handoffs received, {len(report['overdue'])} overdue",
                    markup=False, highlight=False)
    emit([{k: h[k] for k in ("item_id", "item_kind", "purpose", "offered_at", "accepted_at", "due_at",
                             "overdue_by")} for h in report["handoffs"]], False, title="Handoffs received")
    emit([{k: d[k] for k in ("clock", "item_id", "item_kind", "starts_at", "due_at", "met_at", "status",
                             "overdue_by")} for d in report["duties"]], False, title="Deadlines owned")


def _shown(value) -> str | int | float:
    return "*" if value is None else value


@report_app.command("funder")
@api_errors
def funder(
    fy: int = typer.Option(None, "--fy", help="Federal fiscal year (2026 = 1 Oct 2025 to 30 Sep 2026)."),
    jurisdiction: str = typer.Option(None, "--jurisdiction", help="Only this jurisdiction (a rule pack's code)."),
    start: str = typer.Option(None, "--from", help="Start of a range inside one fiscal year (ISO date/time)."),
    end: str = typer.Option(None, "--to", help="End of the range (ISO date/time; default: the fiscal year's end)."),
    fmt: str = typer.Option("json", "--format", help="json, csv or pdf (pdf needs -o)."),
    out: Path = typer.Option(None, "-o", "--output", help="Write the report to this file."),
    as_json: bool = JsonOpt,
) -> None:
    """Aggregate counts for funders (no personal data): new survivors, services, exams, kits; small cells hidden."""
    if fmt not in ("json", "csv", "pdf"):
        raise typer.BadParameter("--format is json, csv or pdf", param_hint="--format")
    if fmt == "pdf" and out is None:
        raise typer.BadParameter("a PDF goes to a file: add -o FILE", param_hint="-o")
    with client() as api:
        report = api.funder_report(fy, start=start, end=end, jurisdiction=jurisdiction, fmt=fmt)
    if out is not None:
        if fmt == "pdf":
            out.write_bytes(report)
        else:
            out.write_text(report if fmt == "csv" else json.dumps(report, indent=2, default=str))
        if as_json:
            print_json({"wrote": str(out), "format": fmt})
        else:
            typer.echo(f"wrote {out}")
        return
    if fmt == "csv":
        typer.echo(report, nl=False)
        return
    if as_json:
        print_json(report)
        return
    sup = report["suppression"]
    console().print(f"Funder report FY {report['fiscal_year']} ({report['from']} to {report['to']}), jurisdiction "
                    f"{report['jurisdiction'] or 'all'}: cells under {report['min_cell']} hidden (*): "
                    f"{sup['hidden']} entries with their complements",
                    markup=False, highlight=False)
    for t in report["tables"]:
        data = [{t["rows_label"]: r, **{c: _shown(v) for c, v in zip(t["cols"], cells, strict=True)},
                 "total": _shown(tot)} for r, cells, tot in zip(t["rows"], t["cells"], t["row_totals"], strict=True)]
        data.append({t["rows_label"]: "total", **{c: _shown(v) for c, v in zip(t["cols"], t["col_totals"],
                                                                               strict=True)},
                     "total": _shown(t["total"])})
        emit(data, False, title=t["title"])
    turn = report["turnaround"]
    emit([{"jurisdiction": r, "kits": _shown(k), "median days": _shown(m)}
          for r, k, m in zip(turn["rows"], turn["kits"], turn["median_days"], strict=True)]
         + [{"jurisdiction": "total", "kits": _shown(turn["total_kits"]),
             "median days": _shown(turn["overall_median_days"])}], False, title=turn["title"])
    for note in report["notes"]:
        console().print(f"- {note}", markup=False, highlight=False)
