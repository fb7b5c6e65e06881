"""The chain-of-custody PDF report of an audit bundle (reportlab, imported when a report is drawn).

One section per item (kind, collection, seal numbers, file SHA-256s; no exam detail) with a table a court clerk
can read: who handed the item over and who received it (username, role, agency from the bundle's signed staff
directory), when (to the second, UTC), why, condition, seal, and the consent-checkpoint decisions that allowed
the hand-over; then the case's other entries, the custody gaps (custody_rows.custody_gaps) and a last page
saying how to verify the bundle offline. Every page carries the ledger's verification state."""

from __future__ import annotations

import io
from typing import Any

from core.ledger import EventKind
from core.ledger.bundle import entry_doc, is_int, ledger_status, when
from evidence.audit.custody_rows import custody_gaps, event_name, person, staff_of, texts_of, with_texts

_HANDED = {EventKind.TRANSFER_ACCEPTED, EventKind.RELEASED, EventKind.RETURNED, EventKind.CHECKED_OUT}


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


def _esc(text: Any) -> str:
    return ("" if text is None else str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _docs(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entries")
    out = []
    texts = texts_of(bundle)
    for entry in entries if isinstance(entries, list) else []:
        doc = entry_doc(entry)
        if doc is not None:
            doc = dict(doc)
            doc["data"] = with_texts(doc["data"] if isinstance(doc.get("data"), dict) else {}, doc.get("seq"), texts)
            doc["actor"] = doc["actor"] if isinstance(doc.get("actor"), dict) else {}
            out.append(doc)
    return out


def _who(staff: dict[str, Any], staff_id: Any) -> str:
    """A person cell: username in bold, then role and agency."""
    text = person(staff, staff_id) if isinstance(staff_id, str) else ""
    if " (" in text:
        name, rest = text.split(" (", 1)
        return f"<b>{_esc(name)}</b><br/>({_esc(rest)}"
    return _esc(text)


def _handover(staff: dict[str, Any], doc: dict[str, Any]) -> tuple[str, str]:
    """(handed over by, received / held by) cells of an item entry."""
    kind, data = doc.get("kind"), doc["data"]
    if kind in _HANDED:
        return _who(staff, data.get("from_user")), _who(staff, data.get("to_user") or data.get("custodian"))
    if kind == EventKind.TRANSFER_OFFERED:
        return "", (f"offered to {_who(staff, data.get('to_user'))}; not yet accepted (still held by "
                    f"{_who(staff, data.get('from_user'))})")
    if kind in (EventKind.TRANSFER_DECLINED, EventKind.TRANSFER_CANCELLED):
        verb = "declined" if kind == EventKind.TRANSFER_DECLINED else "offer withdrawn"
        return "", f"{verb}; still held by {_who(staff, data.get('custodian'))}"
    if data.get("custodian"):
        return "", f"held by {_who(staff, data.get('custodian'))}"
    return "", ""


def _checkpoint(doc: dict[str, Any]) -> str:
    data = doc["data"]
    relied = data.get("relied_on_seq") if isinstance(data.get("relied_on_seq"), list) else []
    basis = f"; consent entries seq {', '.join(_esc(s) for s in relied)}" if relied else ""
    reason = str(data.get("reason") or "").replace(f"{data.get('handoff')} allowed: ", "")
    return (f"<b>{_esc(str(data.get('handoff') or '').replace('-', ' '))}</b>: allowed, "
            f"{_esc(reason.replace('-', ' '))} (checkpoint seq {_esc(doc.get('seq'))}{basis})")


def _why(data: dict[str, Any]) -> str:
    reason = _esc(data.get("reason") or data.get("purpose") or "")
    where = f"at {_esc(data['location'])}" if data.get("location") else ""
    return "<br/>".join(x for x in (reason, where) if x)


def _seal(data: dict[str, Any]) -> str:
    number, intact = data.get("seal_number"), data.get("seal_intact")
    state = "" if intact is None else ("intact" if intact is True else "<b>NOT intact</b>")
    return ", ".join(x for x in (_esc(number) if number else "", state) if x)


def _item_facts(docs: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """(facts, seal numbers, file SHA-256s) of one item's entries."""
    facts, seals, files = [], [], []
    for doc in docs:
        data = doc["data"]
        if doc.get("kind") == EventKind.ITEM_COLLECTED:
            facts.append(f"Kind: {_esc(data.get('item_kind'))}; quantity {_esc(data.get('quantity'))}; "
                         f"collected {_esc(when(data.get('collected_at') or doc.get('at')))}")
        if isinstance(data.get("seal_number"), str) and data["seal_number"] not in seals:
            seals.append(data["seal_number"])
        if doc.get("kind") == EventKind.FILE_STORED and data.get("sha256"):
            files.append(f"{_esc(data.get('file_id'))}: SHA-256 {_esc(data['sha256'])}")
    return facts, seals, files


def render_custody_pdf(bundle: Any) -> bytes:
    """A chain-of-custody report (PDF bytes) of the bundle, one section per item, and how to verify it.

    Every page carries the bundle's ledger verification: a quiet footer "ledger verified at …, N entries" when
    the whole ledger verified at export, else a red band at the top and bottom ("LEDGER NOT INTACT — first bad
    entry N")."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    body = styles["BodyText"].clone("body", fontSize=9, leading=11.5)
    buf = io.BytesIO()
    bundle = bundle if isinstance(bundle, dict) else {}
    intact, ledger_text = ledger_status(bundle.get("ledger_verification"))
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            topMargin=(10 if intact else 18) * mm, bottomMargin=(12 if intact else 16) * mm,
                            title="Chain of custody report")
    sth = bundle.get("tree_head") if isinstance(bundle.get("tree_head"), dict) else {}
    scope = bundle.get("scope") if isinstance(bundle.get("scope"), dict) else {}
    subject = ", ".join(f"{k.replace('_id', '')} {v}" for k, v in scope.items() if v) or "ledger"
    staff = staff_of(bundle)
    docs = _docs(bundle)

    def p(text: str, style=small) -> Paragraph:  # text already escaped
        return Paragraph(text, style)

    state = styles["BodyText"].clone("ledger", fontSize=9, leading=11, fontName="Helvetica-Bold",
                                     textColor=colors.darkgreen if intact else colors.red)
    story = [
        Paragraph(f"Chain of custody report: {_esc(subject)}", styles["Title"]),
        p(f"Ledger state at export: {_esc(ledger_text)}.", state),
        p(f"Generated {_esc(when(bundle.get('generated_at')))}. Each row below is one entry of the centre's "
          f"tamper-evident ledger (tree of {_esc(sth.get('tree_size'))} entries); the last page says how to check "
          "this report against the signed JSON bundle.", body),
        Spacer(1, 3 * mm),
    ]
    items: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        if isinstance(d.get("item"), str) and d["item"]:
            items.setdefault(d["item"], []).append(d)
    header = ["Seq", "When", "Event", "Handed over by", "Received by / held by", "Recorded by", "Why / where",
              "Condition", "Seal", "Consent checkpoint"]
    widths = [10, 22, 24, 37, 40, 35, 26, 20, 20, 43]
    statement = bundle.get("ledger_verification")
    bad_seq = statement.get("first_bad_seq") if isinstance(statement, dict) and not intact else None
    for item_id, item_docs in items.items():
        facts, seals, files = _item_facts(item_docs)
        story.append(Paragraph(f"Item {_esc(item_id)}", styles["Heading2"]))
        for line in facts + [f"Seal numbers: {', '.join(_esc(s) for s in seals) or 'none recorded'}"] + \
                [f"File {f}" for f in files]:
            story.append(p(line, body))
        story.append(Spacer(1, 2 * mm))
        data, pending, marks = [[p(f"<b>{h}</b>") for h in header]], [], []  # header words never split
        for d in item_docs:
            if d.get("kind") == EventKind.CHECKPOINT_ALLOWED:
                pending.append(_checkpoint(d))  # shown with the hand-over it allowed (the next row)
                continue
            dd = d["data"]
            handed, received = _handover(staff, d)
            data.append([p(_esc(d.get("seq"))), p(_esc(when(d.get("at")))),
                         p(_esc(event_name(d.get("kind"), dd))), p(handed), p(received),
                         p(_who(staff, d["actor"].get("id"))),
                         p(_why(dd)), p(_esc(dd.get("condition") or "")), p(_seal(dd)), p("<br/>".join(pending))])
            if is_int(bad_seq) and d.get("seq") == bad_seq:
                marks.append(len(data) - 1)
            pending = []
        if pending:
            data.append([p("")] * 9 + [p("<br/>".join(pending))])
        table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]
                                  + [("BACKGROUND", (0, i), (-1, i), colors.mistyrose) for i in marks]))
        story += [table, Spacer(1, 4 * mm)]
    others = [d for d in docs if not (isinstance(d.get("item"), str) and d["item"])]
    if others:
        story.append(Paragraph("Other entries of the case", styles["Heading2"]))
        rows = [[p("<b>Seq</b>"), p("<b>When</b>"), p("<b>Event</b>"), p("<b>Recorded by</b>")]]
        rows += [[p(_esc(d.get("seq"))), p(_esc(when(d.get("at")))), p(_esc(event_name(d.get("kind"), d["data"]))),
                  p(_who(staff, d["actor"].get("id")))] for d in others]
        table = Table(rows, colWidths=[12 * mm, 35 * mm, 80 * mm, 60 * mm], repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)]))
        story += [table, Spacer(1, 4 * mm)]
    story += _text_checks(bundle, body, styles)
    gaps = custody_gaps(bundle)
    story.append(KeepTogether([Paragraph("Custody gaps", styles["Heading2"])] + (
        [p(_esc(g), body) for g in gaps] if gaps else [
            p("None found: every event was recorded by the person holding the item, and every hand-over was "
              "accepted by its receiver.", body)])))
    story += [PageBreak()] + _verification_page(bundle, sth, body, styles)
    band = _page_band(intact, ledger_text)
    doc.build(story, onFirstPage=band, onLaterPages=band)
    return buf.getvalue()


def text_check(record: dict[str, Any]) -> str:
    """What the report says of one shown free text against its ledger entry."""
    seq = record.get("seq")
    if record.get("matches") is True:
        return f"text matches ledger entry {seq}"
    if record.get("matches") is False:
        return f"MISMATCH: this text does NOT match ledger entry {seq}; do not rely on it"
    return (f"erased (lawful erasure): ledger entry {seq} keeps only the commitment" if record.get("text") ==
            "[erased]" else f"not checked against ledger entry {seq}")


def _text_checks(bundle: dict[str, Any], body, styles) -> list[Any]:
    """The section proving each shown free text against the commitment its ledger entry holds."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    texts = sorted(texts_of(bundle).values(), key=lambda t: (t["seq"], t["field"]))
    if not texts:
        return []
    rows = [[Paragraph(f"<b>{h}</b>", body) for h in ("Seq", "Field", "Text shown", "Check")]]
    rows += [[Paragraph(_esc(t["seq"]), body), Paragraph(_esc(t["field"].replace("_", " ")), body),
              Paragraph(_esc(t["text"]), body), Paragraph(_esc(text_check(t)), body)] for t in texts]
    table = Table(rows, colWidths=[14 * mm, 30 * mm, 90 * mm, 120 * mm], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)]))
    intro = ("Free text staff typed is not in the ledger: each entry holds a keyed commitment (HMAC-SHA256 under "
             "the case key) and the text is kept encrypted under the case key. Each text below was decrypted at "
             "export and its commitment recomputed against the entry.")
    return [Paragraph("Free text and its ledger entries", styles["Heading2"]), Paragraph(intro, body), table,
            Spacer(1, 4 * mm)]


def _verification_page(bundle: dict[str, Any], sth: dict[str, Any], body, styles) -> list[Any]:
    """The last page: how anyone can check this report offline against the JSON bundle."""
    from reportlab.platypus import Paragraph

    head = bundle.get("scope_head") if isinstance(bundle.get("scope_head"), dict) else {}
    st = head.get("statement") if isinstance(head.get("statement"), dict) else {}
    fp = _esc(bundle.get("public_key_fingerprint"))
    lines = [
        "This report is drawn from a signed JSON bundle (the file exported with it, e.g. bundle.json). Anyone can "
        "check that bundle without access to the centre's systems, with the centre's public key "
        "(<font face='Courier'>coc audit public-key --out public.pem</font>):",
        "<font face='Courier'>coc audit verify-bundle bundle.json --key public.pem</font>",
        f"The public key's fingerprint (SHA-256 of the raw Ed25519 key) must be: <font face='Courier'>{fp}"
        "</font>. Compare it with the fingerprint the centre publishes.",
        "The check recomputes every entry's hash from its stored bytes, its RFC 9162 inclusion proof up to the "
        f"signed tree head (tree size {_esc(sth.get('tree_size'))}, root <font face='Courier'>"
        f"{_esc(sth.get('root_hash'))}</font>, signed {_esc(when(sth.get('timestamp')))}), and the signed scope "
        f"head, which lists all {_esc(st.get('count'))} entries of this scope and the staff directory: an entry "
        "removed, added, reordered or changed, or a changed name, makes the check fail.",
        "It then shows the same people, events and custody gaps as this report. A report whose bundle does not "
        "verify, or whose key fingerprint differs, must not be relied on.",
    ]
    return [Paragraph("How to verify this report", styles["Heading1"])] + [Paragraph(t, body) for t in lines]
