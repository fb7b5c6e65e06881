"""The printed card handed to a survivor: the status page's address and a QR code to it, the lookup code, the
temporary password and the centre's contact, in English and Spanish. Nothing on it names the survivor (no name,
no case, no kit description); the QR code carries the page's address only, never the credential.
"""

from __future__ import annotations

import io

import segno
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from core.errors import ValidationFailed
from core.ids import is_valid_id

QR_MODULE_MM = 1.0  # 1 mm modules: a phone camera reads it at arm's length; 4-module quiet zone around it
CONTACT_LINES = 3  # the centre's contact, wrapped at the card's width (a longer one is the centre's to shorten)


def _fitting_size(text: str, font: str, size: float, width: float, smallest: float = 6.0) -> float:
    """`size`, or smaller (not below `smallest`) until `text` fits in `width` points on one line."""
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _qr(c: canvas.Canvas, data: str, x: float, top: float) -> float:
    """Draw a QR code of `data` with its top-left corner at (x, top); return its side in points."""
    matrix = segno.make(data, error="m").matrix
    side = len(matrix) * QR_MODULE_MM * mm
    cell = QR_MODULE_MM * mm
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(x + col * cell, top - (r + 1) * cell, cell, cell, stroke=0, fill=1)
    return side


def card_pdf(*, code: str, password: str, page_url: str, contact: str) -> bytes:
    """A one-page A6 PDF card. `code` must be a lookup code (K…): the card never carries anything else."""
    if not is_valid_id(code, "lookup"):
        raise ValidationFailed("a survivor card carries a lookup code (K followed by 16 characters)")
    buf = io.BytesIO()
    width, height = A6
    c = canvas.Canvas(buf, pagesize=A6)
    c.setTitle("Kit status card")
    margin = 9 * mm
    y = height - margin - 5 * mm
    c.setFont("Helvetica-Bold", 13)
    c.drawString(margin, y, "Your kit status card")
    y -= 5 * mm
    c.setFont("Helvetica", 9)
    c.drawString(margin, y, "Tarjeta del estado de su kit")
    y -= 9 * mm
    c.setFont("Helvetica", 9)
    c.drawString(margin, y, "See where your kit is, online: / Vea dónde está su kit:")
    y -= 5 * mm
    c.setFont("Helvetica-Bold", _fitting_size(page_url, "Helvetica-Bold", 9, width - 2 * margin))
    c.drawString(margin, y, page_url)
    y -= 3 * mm
    quiet = 4 * QR_MODULE_MM * mm
    side = _qr(c, page_url, margin + quiet, y - quiet)
    y -= side + 2 * quiet + 4 * mm
    c.setFont("Helvetica", 9)
    for label, value in (("Code / Código", code), ("Temporary password / Contraseña temporal", password)):
        c.setFont("Helvetica", 9)
        c.drawString(margin, y, label)
        y -= 6 * mm
        c.setFont("Courier-Bold", 15)
        c.drawString(margin, y, value)
        y -= 7 * mm
    c.setFont("Helvetica", 8.5)
    c.drawString(margin, y, "Questions? / ¿Preguntas?")
    y -= 4.5 * mm
    c.setFont("Helvetica-Bold", 8.5)
    for line in simpleSplit(contact, "Helvetica-Bold", 8.5, width - 2 * margin)[:CONTACT_LINES]:
        c.drawString(margin, y, line)
        y -= 4 * mm
    y -= 3 * mm
    c.setFont("Helvetica", 7.5)
    for line in ("Keep this card private: anyone with it can see your kit's status.",
                 "Guarde esta tarjeta en privado: con ella se ve el estado de su kit.",
                 "Lost it? The centre can give you a new one. / ¿La perdió? El centro le da otra."):
        c.drawString(margin, y, line)
        y -= 4 * mm
    c.showPage()
    c.save()
    return buf.getvalue()
