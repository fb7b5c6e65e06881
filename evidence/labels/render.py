"""Paint a `LabelLayout` as PNG (at the printer's resolution, for 1:1 printing) or as a one-page PDF.

Both renderers paint the same rectangles from layout.py: the codes are computed and placed once.
"""

from __future__ import annotations

import io
from pathlib import Path

from evidence.labels.layout import LabelLayout

# A monospace TrueType font for the PNG's item id when the system has one (Debian: fonts-dejavu-core).
_MONO_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
               "/usr/share/fonts/dejavu/DejaVuSansMono.ttf")
_SANS_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf")


def _pil_font(size: int, mono: bool):
    from PIL import ImageFont

    for path in _MONO_FONTS if mono else _SANS_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def render_png(lay: LabelLayout) -> bytes:
    """A 1-bit PNG, one pixel per printer dot, with the dpi recorded so it prints at its true size."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (lay.width, lay.height), 255)
    draw = ImageDraw.Draw(img)
    for r in lay.rects:
        draw.rectangle((r.x, r.y, r.x + r.w - 1, r.y + r.h - 1), fill=0)
    for t in lay.text:
        draw.text((t.x, t.y), t.text, fill=0, font=_pil_font(t.size, t.mono))
    buf = io.BytesIO()
    img.point(lambda v: 255 if v >= 128 else 0).convert("1").save(buf, format="PNG", dpi=(lay.dpi, lay.dpi))
    return buf.getvalue()


def render_pdf(lay: LabelLayout, title: str) -> bytes:
    """A one-page PDF exactly the label's size; rectangles are vector fills at the same positions as the PNG."""
    from reportlab.pdfgen import canvas

    pt = 72 / lay.dpi  # points per printer dot
    page_h = lay.height * pt
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(lay.width * pt, page_h))
    c.setTitle(title)  # the item id only: no case or survivor data on the label or in its metadata
    c.setAuthor("")
    c.setSubject("")
    c.setFillColorRGB(0, 0, 0)
    for r in lay.rects:  # PDF y runs upwards
        c.rect(r.x * pt, page_h - (r.y + r.h) * pt, r.w * pt, r.h * pt, stroke=0, fill=1)
    for t in lay.text:
        c.setFont("Courier-Bold" if t.mono else "Helvetica", t.size * pt)
        c.drawString(t.x * pt, page_h - (t.y + t.size * 0.8) * pt, t.text)
    c.showPage()
    c.save()
    return buf.getvalue()
