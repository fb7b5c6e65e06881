"""The funder report as JSON-ready data, CSV and PDF (reportlab): counts and labels only.

A hidden entry is null in JSON, "suppressed" in CSV and "*" in the PDF; none of them says whether it was
hidden for being small or as a complement, and no count per reason is published (only how many are hidden): told
that exactly k of a table's hidden entries are small, an attacker can pin some of them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas

from evidence.reports.rules import FunderReport
from evidence.reports.suppression import SuppressedTable

HIDDEN_CSV = "suppressed"
HIDDEN_PDF = "*"
CSV_COLUMNS = ("section", "row", "column", "value")


def _table(t: SuppressedTable) -> dict[str, Any]:
    return {"rows": list(t.rows), "cols": list(t.cols), "cells": [list(r) for r in t.cells],
            "row_totals": list(t.row_totals), "col_totals": list(t.col_totals), "total": t.total,
            "hidden": t.hidden}


def report_dict(report: FunderReport) -> dict[str, Any]:
    """The report as JSON-ready data (no case, item or person anywhere)."""
    p, turn = report.period, report.turnaround
    why = next((n for n in report.notes if n.startswith("Suppression:")), "")
    return {
        "report": "funder", "fiscal_year": p.fiscal_year, "from": p.start, "to": p.end, "in_progress": p.in_progress,
        "jurisdiction": report.jurisdiction, "generated_at": report.generated_at, "min_cell": report.threshold,
        "suppression": {"threshold": report.threshold, "hidden": report.hidden,
                        "hidden_medians": turn.hidden_medians, "why": why},
        "tables": [{"id": s.id, "title": s.title, "rows_label": s.rows_label, "cols_label": s.cols_label,
                    "counts": s.counts, **_table(s.table)} for s in report.sections],
        "turnaround": {"title": "Days from exam to lab", "rows": list(turn.rows),
                       "kits": [r[0] for r in turn.table.cells], "total_kits": turn.table.total,
                       "median_days": list(turn.medians), "overall_median_days": turn.overall_median,
                       "hidden": turn.table.hidden, "hidden_medians": turn.hidden_medians},
        "notes": list(report.notes),
    }


def _v(value: Any) -> str:
    return HIDDEN_CSV if value is None else str(value)


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else str(value)[:10]


def rows(data: dict[str, Any]) -> list[list[str]]:
    """Long-format rows (CSV_COLUMNS): the report's facts, every entry of every table, then the notes."""
    out = [["report", "fiscal_year", "", str(data["fiscal_year"])],
           ["report", "from", "", _iso(data["from"])], ["report", "to", "", _iso(data["to"])],
           ["report", "jurisdiction", "", data["jurisdiction"] or "all"],
           ["report", "min_cell", "", str(data["min_cell"])],
           ["report", "hidden", "", str(data["suppression"]["hidden"])],
           ["report", "hidden_medians", "", str(data["suppression"]["hidden_medians"])]]
    for t in data["tables"]:
        for r, cells, total in zip(t["rows"], t["cells"], t["row_totals"], strict=True):
            out += [[t["id"], r, c, _v(v)] for c, v in zip(t["cols"], cells, strict=True)]
            out.append([t["id"], r, "total", _v(total)])
        out += [[t["id"], "total", c, _v(v)] for c, v in zip(t["cols"], t["col_totals"], strict=True)]
        out.append([t["id"], "total", "total", _v(t["total"])])
    turn = data["turnaround"]
    for r, kits, median in zip(turn["rows"], turn["kits"], turn["median_days"], strict=True):
        out += [["lab-turnaround", r, "kits", _v(kits)], ["lab-turnaround", r, "median_days", _v(median)]]
    out += [["lab-turnaround", "total", "kits", _v(turn["total_kits"])],
            ["lab-turnaround", "total", "median_days", _v(turn["overall_median_days"])]]
    out += [["note", str(i), "", n] for i, n in enumerate(data["notes"], 1)]
    return out


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def to_csv(data: dict[str, Any]) -> str:
    """The report as CSV with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows(data))
    return buf.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def to_pdf(data: dict[str, Any]) -> bytes:
    """Landscape A4: heading and suppression summary, one grid per table (hidden = *), turnaround, notes."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=landscape(A4))
    pdf.setTitle(f"Funder report FY {data['fiscal_year']}")
    width, height = landscape(A4)
    until = _day(data["to"]) if data["in_progress"] else _day(_as_dt(data["to"]) - timedelta(days=1))
    heading = (f"Funder report: federal fiscal year {data['fiscal_year']} ({_day(data['from'])} to {until}); "
               f"jurisdiction: {data['jurisdiction'] or 'all'}")
    sup = data["suppression"]
    state = {"y": 0.0, "page": 0}

    def new_page() -> None:
        if state["page"]:
            pdf.showPage()
        state["page"] += 1
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawString(30, height - 36, heading)
        pdf.setFont("Helvetica", 8)
        pdf.drawString(30, height - 50, f"Aggregate counts only, no personal data. Cells under {data['min_cell']} "
                                        f"hidden ({HIDDEN_PDF}), with complements: {sup['hidden']} entries, "
                                        f"{sup['hidden_medians']} medians. Generated "
                                        f"{_as_dt(data['generated_at']):%Y-%m-%d %H:%M} UTC.")
        pdf.drawRightString(width - 30, 20, f"page {state['page']}")
        state["y"] = height - 72

    def need(space: float) -> None:
        if state["y"] - space < 36:
            new_page()

    def grid(title: str, subtitle: str, head: list[str], body: list[list[str]], first_w: float = 110) -> None:
        need(30 + 11 * (len(body) + 1))
        y = state["y"]
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(30, y, title)
        pdf.setFont("Helvetica-Oblique", 7.5)
        pdf.drawString(30 + pdf.stringWidth(title, "Helvetica-Bold", 10) + 8, y, subtitle)
        y -= 14
        col_w = min(80.0, (width - 60 - first_w) / max(1, len(head) - 1))
        xs = [30 + first_w + col_w * (k + 1) - 6 for k in range(len(head) - 1)]
        pdf.setFont("Helvetica-Bold", 7.5)
        pdf.drawString(30, y, head[0])
        for x, h in zip(xs, head[1:], strict=True):
            pdf.drawRightString(x, y, h)
        pdf.setStrokeColor(colors.grey)
        pdf.line(30, y - 3, xs[-1] + 4 if xs else 30 + first_w, y - 3)
        y -= 12
        for k, r in enumerate(body):
            last = k == len(body) - 1 and r[0] == "total"
            pdf.setFont("Helvetica-Bold" if last else "Helvetica", 7.5)
            pdf.drawString(30, y, r[0])
            for x, cell in zip(xs, r[1:], strict=True):
                pdf.drawRightString(x, y, cell)
            y -= 11
        state["y"] = y - 10

    def cell(v: Any) -> str:
        return HIDDEN_PDF if v is None else str(v)

    new_page()
    for t in data["tables"]:
        body = [[r, *map(cell, cells), cell(tot)] for r, cells, tot in zip(t["rows"], t["cells"], t["row_totals"],
                                                                           strict=True)]
        body.append(["total", *map(cell, t["col_totals"]), cell(t["total"])])
        grid(t["title"], f"{t['rows_label']} x {t['cols_label']}: {t['counts']}",
             [t["rows_label"], *t["cols"], "total"], body)
    turn = data["turnaround"]
    body = [[r, cell(k), cell(m)] for r, k, m in zip(turn["rows"], turn["kits"], turn["median_days"], strict=True)]
    body.append(["total", cell(turn["total_kits"]), cell(turn["overall_median_days"])])
    grid("Days from exam to lab", "kits received by a lab in the period; median days from collection to receipt",
         ["jurisdiction", "kits", "median days"], body)
    need(20)
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(30, state["y"], "Notes")
    state["y"] -= 13
    for note in data["notes"]:
        for k, line in enumerate(_wrap(note, 165)):
            need(12)
            pdf.setFont("Helvetica", 7.5)
            pdf.drawString(30 if k == 0 else 38, state["y"], ("- " if k == 0 else "") + line)
            state["y"] -= 10
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _as_dt(value: Any) -> datetime:
    return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).astimezone(UTC)
