"""The agency compliance report as CSV and as a simple PDF (reportlab): ids, kinds, purposes and times only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas

CSV_COLUMNS = ("section", "item_id", "item_kind", "what", "started_or_offered_at", "due_at", "done_or_accepted_at",
               "status", "overdue_by")


def _t(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else ("" if value is None else str(value))


def _human(text: str) -> str:
    """An ISO time as a reader reads it ("2026-11-02 09:15 UTC"); anything else as it is."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text


def rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per handoff received and per deadline owned (CSV_COLUMNS order)."""
    out = []
    for h in report["handoffs"]:
        out.append(["handoff", h["item_id"], _t(h["item_kind"]), h["purpose"], _t(h["offered_at"]), _t(h["due_at"]),
                    _t(h["accepted_at"]), h["outcome"], _t(h["overdue_by"])])
    for d in report["duties"]:
        out.append(["deadline", d["item_id"], _t(d["item_kind"]), d["clock"], _t(d["starts_at"]), _t(d["due_at"]),
                    _t(d["met_at"]), d["status"], _t(d["overdue_by"])])
    for a in report.get("review_actions", []):  # case-review action items the agency owns (the review's id)
        out.append(["review-action", a["review_id"], "", f"action {a['action_id']}", "", _t(a["due_at"]),
                    _t(a["done_at"]), a["status"], _t(a["overdue_by"])])
    return out


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows(report))
    return buf.getvalue()


def to_pdf(report: dict[str, Any]) -> bytes:
    """A plain landscape A4 table of the same rows, with the agency and period in the heading of every page."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=landscape(A4))
    pdf.setTitle("Agency compliance report")
    width, height = landscape(A4)
    xs = [30, 90, 215, 295, 395, 530, 645, 760]
    heads = ("section", "item", "kind", "what", "started / offered", "due", "done / accepted", "status / overdue")

    def heading() -> float:
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawString(30, height - 36, f"Agency compliance: {report['agency']['name']} ({report['agency']['kind']})")
        pdf.setFont("Helvetica", 8)
        pdf.drawString(30, height - 50, f"period {_human(_t(report['from']))} to {_human(_t(report['to']))}; "
                                        f"judged at {_human(_t(report['generated_at']))}; "
                                        f"overdue: {len(report['overdue'])}")
        pdf.setFont("Helvetica-Bold", 7)
        for x, h in zip(xs, heads, strict=True):
            pdf.drawString(x, height - 68, h)
        pdf.setFont("Helvetica", 7)
        return height - 80

    y = heading()
    for r in rows(report):
        if y < 30:
            pdf.showPage()
            y = heading()
        cells = [r[0], r[1], r[2], r[3], _human(r[4]), _human(r[5]), _human(r[6]),
                 r[7] + (f" / {r[8]}" if r[8] else "")]
        for x, cell in zip(xs, cells, strict=True):
            pdf.drawString(x, y, cell)
        y -= 11
    if not report["handoffs"] and not report["duties"]:
        pdf.drawString(30, y, "nothing received and no deadline owned in this period")
    pdf.showPage()
    pdf.save()
    return buf.getvalue()
