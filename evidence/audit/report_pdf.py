"""The chain-of-custody PDF report of an audit bundle (reportlab, imported when a report is drawn)."""

from __future__ import annotations

import io
from typing import Any

from core.ledger.bundle import is_int, ledger_status
from evidence.audit.custody_rows import custody_gaps, custody_rows


def _page_band(intact: bool | None, text: str):
    """A reportlab page callback drawing the ledger's verification state on a page (header and footer)."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm

    def draw(canvas, doc) -> None:
        width, height = doc.pagesize
        page = f"page {canvas.getPageNumber()}"
        canvas.saveState()
        if intact:
            canvas.setFillColor(colors.darkgreen)
            canvas.setFont("Helvetica", 8)
            canvas.drawString(10 * mm, 6 * mm, text)
            canvas.drawRightString(width - 10 * mm, 6 * mm, page)
        else:  # broken or not stated: a red band at the top and the bottom of every page
            warn = text if intact is False else "LEDGER VERIFICATION NOT STATED — " + text
            for y in (height - 13 * mm, 3 * mm):
                canvas.setFillColor(colors.red)
                canvas.rect(0, y, width, 10 * mm, stroke=0, fill=1)
                canvas.setFillColor(colors.white)
                canvas.setFont("Helvetica-Bold", 11)
                canvas.drawString(10 * mm, y + 5.5 * mm, warn[:120])
                canvas.setFont("Helvetica", 7.5)
                canvas.drawString(10 * mm, y + 1.8 * mm, "Do not rely on this report: run `coc audit verify` and "
                                                         "contact the auditor.")
                canvas.drawRightString(width - 10 * mm, y + 1.8 * mm, page)
        canvas.restoreState()

    return draw


def render_custody_pdf(bundle: Any) -> bytes:
    """A chain-of-custody report (PDF bytes) listing every event of the bundle with its proof status.

    Every page carries the bundle's ledger verification: a quiet footer "ledger verified at …, N entries" when
    the whole ledger verified at export, else a red band at the top and bottom ("LEDGER NOT INTACT — first bad
    entry N")."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    buf = io.BytesIO()
    bundle = bundle if isinstance(bundle, dict) else {}
    intact, ledger_text = ledger_status(bundle.get("ledger_verification"))
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            topMargin=(10 if intact else 18) * mm, bottomMargin=(12 if intact else 16) * mm,
                            title="Chain of custody report")
    sth = bundle.get("tree_head") if isinstance(bundle.get("tree_head"), dict) else {}
    scope = bundle.get("scope") if isinstance(bundle.get("scope"), dict) else {}
    subject = ", ".join(f"{k} {v}" for k, v in scope.items() if v) or "ledger"

    def p(text: str, style=small) -> Paragraph:
        esc = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(esc, style)

    state = styles["BodyText"].clone("ledger", fontSize=9, leading=11, fontName="Helvetica-Bold",
                                     textColor=colors.darkgreen if intact else colors.red)
    story = [
        Paragraph(f"Chain of custody report: {p(subject).text}", styles["Title"]),
        p(f"Ledger state at export: {ledger_text}.", state),
        p(f"Generated {bundle.get('generated_at', '')}. Ledger tree size {sth.get('tree_size')}, "
          f"root {sth.get('root_hash')}, signed {sth.get('timestamp')} ({sth.get('algorithm')}, key "
          f"fingerprint {bundle.get('public_key_fingerprint')})."),
        p("Each row is a ledger entry; its exact bytes and inclusion proof are in the JSON bundle and can be "
          "checked offline with the public key (verify_bundle)."),
        Spacer(1, 4 * mm),
    ]
    header = ["Seq", "Time (UTC)", "Event", "Item", "Recorded by", "From", "To / custodian", "Reason",
              "Seal no.", "Seal intact", "Condition", "Location", "SHA-256 of file"]
    keys = ["seq", "time", "event", "item", "actor", "from", "to", "reason", "seal", "seal_intact",
            "condition", "location", "sha256"]
    data = [[p(h) for h in header]]
    for row in custody_rows(bundle):
        cells = dict(row)
        if cells["sha256"]:
            cells["sha256"] = cells["sha256"][:32] + " " + cells["sha256"][32:]  # wrap the long hash
        data.append([p(cells[k]) for k in keys])
    widths = [10, 26, 30, 20, 20, 20, 22, 28, 15, 12, 18, 22, 34]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    statement = bundle.get("ledger_verification")
    bad_seq = statement.get("first_bad_seq") if isinstance(statement, dict) and not intact else None
    style += [("BACKGROUND", (0, i), (-1, i), colors.mistyrose)  # the first bad entry, when in this report
              for i, row in enumerate(data[1:], start=1) if is_int(bad_seq) and row[0].text == str(bad_seq)]
    table.setStyle(TableStyle(style))
    story.append(table)
    gaps = custody_gaps(bundle)
    if gaps:
        story += [Spacer(1, 4 * mm), p("Custody gaps:")] + [p(g) for g in gaps]
    band = _page_band(intact, ledger_text)
    doc.build(story, onFirstPage=band, onLaterPages=band)
    return buf.getvalue()
