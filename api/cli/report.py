"""`coc report …`: reports across cases (agency accountability)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import JsonOpt, api_errors, client, console, emit, print_json

report_app = typer.Typer(help="Reports across cases: agency accountability.", no_args_is_help=True)


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
