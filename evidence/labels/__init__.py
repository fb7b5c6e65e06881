"""Printable item labels: the item id as a standard QR code and a Code 128, plus id, kind and collection date.

`layout.py` is the pure geometry (sizes, code modules, boxes); `render.py` paints it as PNG or PDF.
Nothing on a label identifies the survivor: the item id is opaque.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import ValidationFailed
from core.ids import is_valid_id
from evidence.labels.layout import SIZES, LabelDoesNotFit, LabelLayout, LabelSize, layout

__all__ = ["SIZES", "LabelDoesNotFit", "LabelLayout", "LabelSize", "label_layout", "label_pdf", "label_png"]


def label_layout(item_id: str, *, kind: str | None = None, collected_at: datetime | None = None,
                 size: LabelSize | str = LabelSize.QL_62MM) -> LabelLayout:
    """The layout of one item's label (ValidationFailed for anything but an item id or a known size)."""
    if not is_valid_id(item_id, "item"):
        raise ValidationFailed("a label carries an evidence item id (E...) and nothing else")
    try:
        size = LabelSize(size)
    except ValueError:
        raise ValidationFailed(f"unknown label size; use one of {', '.join(s.value for s in LabelSize)}") from None
    collected = f"collected {collected_at:%Y-%m-%d}" if collected_at else None
    return layout(item_id, kind=str(kind) if kind else None, collected=collected, size=size)


def label_png(item_id: str, *, kind: str | None = None, collected_at: datetime | None = None,
              size: LabelSize | str = LabelSize.QL_62MM) -> bytes:
    """The label as a PNG at the printer's resolution (300 dpi), one pixel per dot."""
    from evidence.labels.render import render_png

    return render_png(label_layout(item_id, kind=kind, collected_at=collected_at, size=size))


def label_pdf(item_id: str, *, kind: str | None = None, collected_at: datetime | None = None,
              size: LabelSize | str = LabelSize.QL_62MM) -> bytes:
    """The label as a one-page PDF of the label's size."""
    from evidence.labels.render import render_pdf

    return render_pdf(label_layout(item_id, kind=kind, collected_at=collected_at, size=size), title=item_id)
