"""Printable item labels: the item id only, as Code 128 barcode and QR code, in PNG or PDF."""

from __future__ import annotations

import io

from core.errors import ValidationFailed
from core.ids import is_valid_id


def _check(item_id: str) -> str:
    if not is_valid_id(item_id, "item"):
        raise ValidationFailed("a label carries an evidence item id (E...) and nothing else")
    return item_id


def barcode_image(item_id: str):
    """A Code 128 barcode of the item id as a PIL image."""
    from barcode import Code128
    from barcode.writer import ImageWriter

    return Code128(_check(item_id), writer=ImageWriter()).render(
        {"module_height": 12.0, "font_size": 10, "text_distance": 4.0, "quiet_zone": 4.0})


def qr_image(item_id: str, scale: int = 6):
    """A QR code of the item id as a PIL image."""
    import segno
    from PIL import Image

    buf = io.BytesIO()
    segno.make(_check(item_id), error="m").save(buf, kind="png", scale=scale, border=2)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def label_png(item_id: str) -> bytes:
    """A PNG label: barcode on the left, QR code on the right, id printed under the barcode."""
    from PIL import Image

    bar, qr = barcode_image(item_id).convert("RGB"), qr_image(item_id)
    height = max(bar.height, qr.height)
    out = Image.new("RGB", (bar.width + qr.width + 10, height), "white")
    out.paste(bar, (0, (height - bar.height) // 2))
    out.paste(qr, (bar.width + 10, (height - qr.height) // 2))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def label_pdf(item_id: str) -> bytes:
    """A one-page PDF label (62 × 29 mm, a common label-printer size) with barcode, QR code and id."""
    from reportlab.graphics.barcode import qr as rl_qr
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    item_id = _check(item_id)
    width, height = 62 * mm, 29 * mm
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setTitle(item_id)  # the id only: no case or survivor data on the label or in its metadata
    c.setAuthor("")
    c.setSubject("")
    bar = Code128(item_id, barHeight=12 * mm, barWidth=0.26 * mm, humanReadable=False)
    bar.drawOn(c, 2 * mm, 10 * mm)
    c.setFont("Courier-Bold", 8)
    c.drawString(3 * mm, 5 * mm, item_id)
    widget = rl_qr.QrCodeWidget(item_id)
    x0, y0, x1, y1 = widget.getBounds()
    size = 24 * mm
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(widget)
    d.drawOn(c, width - size - 1 * mm, (height - size) / 2)
    c.showPage()
    c.save()
    return buf.getvalue()
