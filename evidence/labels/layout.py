"""Label geometry (pure: no drawing library, no database): the printer sizes, the code modules and where they go.

Both renderers (PNG and PDF, in render.py) paint the same `LabelLayout`: a list of black rectangles in printer
dots plus text lines. The codes are computed here ONCE:

- a standard QR code (never Micro QR: many phone and handheld scanners do not read it), error correction M,
  holding the item id only — the id is opaque, nothing on a label identifies the survivor;
- a Code 128 of the item id whose module width is chosen from the label width so that bars plus a quiet zone
  of at least 10 modules each side fit; a size that cannot hold it is refused (LabelDoesNotFit).

Layout: the Code 128 across the top; under it the QR code on the left and the text (item id in monospace, kind,
collection date) on its right — or, on tall labels (62 × 100 mm), the QR code centred and the text below it.
Boxes include each code's quiet zone and never overlap (checked in `layout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

QR_QUIET = 4  # modules, the QR standard's quiet zone
BAR_QUIET = 10  # modules each side of the Code 128 (the standard's minimum)
MIN_BAR_MODULE_MM = 0.16  # narrower bars are not reliably read by handheld scanners
MIN_QR_MODULE_MM = 0.3


class LabelSize(StrEnum):
    """The label sizes of the common printers (the value is what `size=` and `--size` take)."""

    QL_62MM = "62mm"  # Brother QL, 62 mm continuous tape cut at 29 mm (DK-22205 / DK-11209 size), 300 dpi
    QL_62X100MM = "62x100mm"  # Brother QL, 62 × 100 mm (DK-11202 shipping label), 300 dpi
    IN_2X1 = "2x1in"  # Zebra / DYMO 2 × 1 in, printed at 300 dpi (ZD421-300, DYMO LabelWriter); 203 dpi is too coarse


@dataclass(frozen=True)
class PrinterSize:
    """A label's physical size, the printer resolution, and the unprintable margin on each side."""

    width_mm: float
    height_mm: float
    dpi: int
    margin_mm: float

    def dots(self, mm: float) -> int:
        """Millimetres to printer dots (rounded)."""
        return round(mm * self.dpi / 25.4)

    def mm(self, dots: int) -> float:
        """Printer dots to millimetres."""
        return dots * 25.4 / self.dpi


SIZES: dict[LabelSize, PrinterSize] = {
    LabelSize.QL_62MM: PrinterSize(62.0, 29.0, 300, 1.5),
    LabelSize.QL_62X100MM: PrinterSize(62.0, 100.0, 300, 1.5),
    LabelSize.IN_2X1: PrinterSize(50.8, 25.4, 300, 1.5),
}


class LabelDoesNotFit(ValueError):
    """The label size cannot hold the codes at a scannable module size (a configuration error, not user input)."""


@dataclass(frozen=True)
class Box:
    """A rectangle in printer dots, origin top-left, y downwards."""

    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)

    def inside(self, other: Box) -> bool:
        return (other.x <= self.x and other.y <= self.y
                and self.x + self.w <= other.x + other.w and self.y + self.h <= other.y + other.h)


@dataclass(frozen=True)
class TextLine:
    """One line of human-readable text: top-left corner and font size in dots."""

    x: int
    y: int
    size: int
    text: str
    mono: bool


@dataclass(frozen=True)
class LabelLayout:
    """Everything a renderer paints: page size in dots, black rectangles, text; the boxes for checks."""

    width: int
    height: int
    dpi: int
    rects: tuple[Box, ...]
    text: tuple[TextLine, ...]
    barcode_box: Box  # bars + quiet zones
    qr_box: Box  # modules + quiet zone
    text_box: Box
    bar_module: int  # dots per Code 128 module
    qr_module: int  # dots per QR module


def code128_modules(data: str) -> str:
    """The Code 128 of `data` as a string of '1' (bar) and '0' (space) modules, quiet zones excluded."""
    from barcode import Code128

    (modules,) = Code128(data).build()
    return modules


def qr_modules(data: str) -> list[list[bool]]:
    """A standard QR code (not Micro QR), error correction M, as rows of dark/light modules without quiet zone."""
    import segno

    qr = segno.make(data, micro=False, error="m", boost_error=False)
    assert not qr.is_micro
    return [[bool(v) for v in row] for row in qr.matrix]


def _runs(bits, x0: int, y: int, module: int, h: int) -> list[Box]:
    """Merge consecutive dark modules of one row into rectangles (no seams between neighbouring bars)."""
    out: list[Box] = []
    start = None
    for i, dark in enumerate([*bits, False]):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            out.append(Box(x0 + start * module, y, (i - start) * module, h))
            start = None
    return out


def layout(item_id: str, *, kind: str | None, collected: str | None, size: LabelSize | PrinterSize) -> LabelLayout:
    """Place the codes and text of one label; refuse (LabelDoesNotFit) when the size cannot hold them."""
    p = size if isinstance(size, PrinterSize) else SIZES[LabelSize(size)]
    width, height, margin = p.dots(p.width_mm), p.dots(p.height_mm), p.dots(p.margin_mm)
    page = Box(0, 0, width, height)
    printable = Box(margin, margin, width - 2 * margin, height - 2 * margin)

    # Code 128 across the top: the widest whole-dot module for which bars + 2 quiet zones fit the label width.
    bars = code128_modules(item_id)
    bar_module = width // (len(bars) + 2 * BAR_QUIET)
    if p.mm(bar_module) < MIN_BAR_MODULE_MM:
        raise LabelDoesNotFit(f"a {size} label cannot hold a Code 128 of {len(bars)} modules with its quiet zones")
    bar_w = len(bars) * bar_module
    bar_x = (width - bar_w) // 2
    bar_h = min(round(height * 0.4), p.dots(15))
    barcode_box = Box(bar_x - BAR_QUIET * bar_module, margin, bar_w + 2 * BAR_QUIET * bar_module, bar_h)
    drawn = Box(bar_x, margin, bar_w, bar_h)
    if not (barcode_box.inside(page) and drawn.inside(printable)):
        raise LabelDoesNotFit(f"the Code 128 with its quiet zones is wider than a {size} label")
    rects = _runs([b == "1" for b in bars], bar_x, margin, bar_module, bar_h)

    # QR code under the barcode: bottom-left with the text beside it, or (tall labels) centred with text below.
    matrix = qr_modules(item_id)
    n = len(matrix) + 2 * QR_QUIET
    top = barcode_box.y + barcode_box.h + margin
    tall = height - margin - top >= width
    side = (width - 2 * margin) * 3 // 5 if tall else min(height - margin - top, width // 2)
    qr_module = side // n
    if p.mm(qr_module) < MIN_QR_MODULE_MM:
        raise LabelDoesNotFit(f"a {size} label leaves no room for a scannable QR code")
    qr_side = n * qr_module
    qr_box = Box((width - qr_side) // 2 if tall else margin, top, qr_side, qr_side)
    for r, row in enumerate(matrix):
        rects += _runs(row, qr_box.x + QR_QUIET * qr_module, qr_box.y + (QR_QUIET + r) * qr_module, qr_module,
                       qr_module)

    # Text: the id in monospace, sized to fit; kind and date below.
    if tall:
        text_top = qr_box.y + qr_box.h + margin
        text_box = Box(margin, text_top, width - 2 * margin, height - margin - text_top)
    else:
        text_x = qr_box.x + qr_box.w + margin
        text_box = Box(text_x, top, width - margin - text_x, height - margin - top)
    lines = [(item_id, True), *((t, False) for t in (kind, collected) if t)]
    font = min(text_box.h // (len(lines) + 1), int(text_box.w / (0.62 * len(item_id))), p.dots(4))
    if font < p.dots(1.5):
        raise LabelDoesNotFit(f"a {size} label leaves no room for the item id in readable type")
    text = tuple(TextLine(text_box.x, text_box.y + i * round(font * 1.3), font, t, mono)
                 for i, (t, mono) in enumerate(lines))

    for a, b in ((barcode_box, qr_box), (barcode_box, text_box), (qr_box, text_box)):
        if a.overlaps(b):
            raise LabelDoesNotFit(f"on a {size} label the codes and text would overlap")
    if not (qr_box.inside(printable) and text_box.inside(printable)):
        raise LabelDoesNotFit(f"the QR code or the text would fall off a {size} label")
    return LabelLayout(width, height, p.dpi, tuple(rects), text, barcode_box, qr_box, text_box, bar_module,
                       qr_module)
