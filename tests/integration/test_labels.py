"""Labels a real scanner reads: every format and size decoded with zxing-cpp, QR and Code 128 both giving the id.

The PDF is rasterised with poppler's pdftoppm at 300 and 600 dpi (as a print driver would); the PNG is decoded
as served. Route, client and CLI take the label size; an unknown size is a 422 naming the valid ones.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
import zxingcpp
from PIL import Image

from api.client import ApiError, CocClient
from core.errors import ValidationFailed
from evidence.labels import SIZES, LabelDoesNotFit, LabelSize, label_layout, label_pdf, label_png
from evidence.labels.layout import BAR_QUIET, PrinterSize, layout
from tests.api_helpers import api_harness
from tests.unit.test_cli import _examined_case, cli  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture

# Worst case for Code 128 width (no digit runs: all charset B) and one with digit runs (charset C switches).
IDS = ("EZZZZZZZZZZZZZZZZ", "E0123456789ABCDEF")
COLLECTED = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _decode(image: Image.Image) -> list[tuple[str, str]]:
    return sorted((r.format.name, r.text) for r in zxingcpp.read_barcodes(image))


def _rasterise(pdf: bytes, dpi: int, tmp_path) -> Image.Image:
    assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is needed: scripts/test installs it"
    src = tmp_path / "label.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(src), str(tmp_path / f"r{dpi}")],
                   check=True)
    return Image.open(tmp_path / f"r{dpi}.png")


def _pdf_text(pdf: bytes, tmp_path) -> str:
    src = tmp_path / "text.pdf"
    src.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(src), "-"], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("size", list(LabelSize))
@pytest.mark.parametrize("item_id", IDS)
def test_png_label_decodes_as_standard_qr_and_code128_at_printer_resolution(item_id, size):
    """The PNG is one pixel per 300-dpi printer dot, and both codes decode to the item id (QR, not Micro QR)."""
    png = Image.open(io.BytesIO(label_png(item_id, kind="swab", collected_at=COLLECTED, size=size)))
    p = SIZES[size]
    assert png.size == (p.dots(p.width_mm), p.dots(p.height_mm)) and round(png.info["dpi"][0]) == 300 == p.dpi
    assert _decode(png) == [("Code128", item_id), ("QRCode", item_id)]


@pytest.mark.parametrize("dpi", [300, 600])
@pytest.mark.parametrize("size", list(LabelSize))
@pytest.mark.parametrize("item_id", IDS)
def test_pdf_label_decodes_when_rasterised(item_id, size, dpi, tmp_path):
    """The PDF, rendered by pdftoppm at 300 and 600 dpi, gives the item id from the QR and the Code 128."""
    pdf = label_pdf(item_id, kind="toxicology-blood", collected_at=COLLECTED, size=size)
    image = _rasterise(pdf, dpi, tmp_path)
    p = SIZES[size]
    assert abs(image.width - p.width_mm / 25.4 * dpi) <= 2 and abs(image.height - p.height_mm / 25.4 * dpi) <= 2
    assert _decode(image) == [("Code128", item_id), ("QRCode", item_id)]
    text = _pdf_text(pdf, tmp_path)
    assert item_id in text and "toxicology-blood" in text and "2026-12-04" in text


@pytest.mark.parametrize("size", list(LabelSize))
def test_codes_do_not_overlap_and_each_decodes_from_its_own_box(size):
    """Layout boxes (each code with its quiet zone, and the text) are disjoint and on the label; cropping the PNG
    to the barcode box yields only the Code 128, to the QR box only the QR code; nothing is drawn outside them."""
    item_id = IDS[0]
    lay = label_layout(item_id, kind="clothing", collected_at=COLLECTED, size=size)
    boxes = (lay.barcode_box, lay.qr_box, lay.text_box)
    page = (0, 0, lay.width, lay.height)
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.y >= 0 and a.x + a.w <= page[2] and a.y + a.h <= page[3]
        assert not any(a.overlaps(b) for b in boxes[i + 1:])
    # Code 128 quiet zones: at least 10 modules of white each side, inside the label.
    assert lay.barcode_box.w >= 2 * BAR_QUIET * lay.bar_module + 11 * 19 * lay.bar_module  # start+17+check
    png = Image.open(io.BytesIO(label_png(item_id, kind="clothing", collected_at=COLLECTED, size=size))).convert("L")

    def crop(b):
        return png.crop((b.x, b.y, b.x + b.w, b.y + b.h))

    assert _decode(crop(lay.barcode_box)) == [("Code128", item_id)]
    assert _decode(crop(lay.qr_box)) == [("QRCode", item_id)]
    # The quiet zones really are white, and no ink lies outside the three boxes.
    bb = lay.barcode_box
    for x0 in (bb.x, bb.x + bb.w - BAR_QUIET * lay.bar_module):
        zone = png.crop((x0, bb.y, x0 + BAR_QUIET * lay.bar_module, bb.y + bb.h))
        assert zone.getextrema() == (255, 255)
    mask = Image.new("L", png.size, 0)
    for b in boxes:
        mask.paste(255, (b.x, b.y, b.x + b.w, b.y + b.h))
    outside = Image.composite(Image.new("L", png.size, 255), png, mask)
    assert outside.getextrema() == (255, 255)


def test_a_size_too_small_for_the_codes_is_refused():
    """Geometry is checked: a label that cannot hold the Code 128 with its quiet zones at a scannable module size
    (e.g. 2 × 1 in at 203 dpi: 1-dot = 0.125 mm bars), or a too-short label, is refused, never drawn clipped."""
    for printer in (PrinterSize(50.8, 25.4, 203, 1.5), PrinterSize(30.0, 29.0, 300, 1.5),
                    PrinterSize(62.0, 12.0, 300, 1.5)):
        with pytest.raises(LabelDoesNotFit):
            layout(IDS[0], kind=None, collected=None, size=printer)
    with pytest.raises(ValidationFailed, match="62mm, 62x100mm, 2x1in"):
        label_png(IDS[0], size="4x6in")
    with pytest.raises(ValidationFailed):
        label_png("Jane Doe")


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def test_label_routes_take_a_size_and_print_no_survivor_identity(harness, tmp_path):
    """Both routes serve every size (default 62 mm), decodable; an unknown size is a 422 naming the valid ones.
    The label text is the item id, kind and collection date; nothing else from the case or item."""
    c = harness.client
    examiner, lab = harness.user("examiner"), harness.user("lab")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/items", headers=examiner.headers,
               json={"kind": "swab", "description": "left sleeve swab", "collected_at": "2026-01-02T08:00:00Z"})
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]

    default = c.get(f"/items/{item_id}/label.png", headers=lab.headers)
    assert default.status_code == 200 and default.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(default.content)).size == (732, 343)  # 62 × 29 mm at 300 dpi
    for size in LabelSize:
        png = c.get(f"/items/{item_id}/label.png", params={"size": size.value}, headers=lab.headers)
        assert png.status_code == 200
        assert _decode(Image.open(io.BytesIO(png.content))) == [("Code128", item_id), ("QRCode", item_id)]
        pdf = c.get(f"/items/{item_id}/label.pdf", params={"size": size.value}, headers=lab.headers)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = " ".join(_pdf_text(pdf.content, tmp_path).split())
        assert text == f"{item_id} swab collected 2026-01-02"  # no case id, description or anyone's identity
        assert case_id.encode() not in pdf.content and b"sleeve" not in pdf.content
    for fmt in ("png", "pdf"):
        r = c.get(f"/items/{item_id}/label.{fmt}", params={"size": "A4"}, headers=lab.headers)
        assert r.status_code == 422
        assert all(v in json.dumps(r.json()) for v in ("62mm", "62x100mm", "2x1in"))
    assert c.get("/items/E0000000000000000/label.png", headers=lab.headers).status_code == 404


def test_client_and_cli_label_size(cli, live_api: LiveApi, tmp_path):  # noqa: F811
    """`coc evidence label --size 2x1in` writes a decodable 2 × 1 in label; the client passes size; bad sizes fail."""
    _examined_case_result = _examined_case(cli, live_api)
    case = _examined_case_result[1]
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "swab", "--description", "oral swab",
                          "--json").output)
    out = tmp_path / "label.png"
    result = cli("evidence", "label", item["id"], "--out", str(out), "--size", "2x1in", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["size"] == "2x1in"
    png = Image.open(out)
    assert png.size == (600, 300)
    assert _decode(png) == [("Code128", item["id"]), ("QRCode", item["id"])]
    pdf_out = tmp_path / "label.pdf"
    assert cli("evidence", "label", item["id"], "--out", str(pdf_out), "--format", "pdf").exit_code == 0
    assert _decode(_rasterise(pdf_out.read_bytes(), 300, tmp_path)) == [("Code128", item["id"]),
                                                                       ("QRCode", item["id"])]
    bad = cli("evidence", "label", item["id"], "--out", str(out), "--size", "4x6in")
    assert bad.exit_code == 1 and "422" in bad.output
    staff = live_api.user("lab")
    with CocClient(live_api.url, staff.token) as api:
        data = api.label(item["id"], "pdf", size="62x100mm")
        assert _decode(_rasterise(data, 300, tmp_path)) == [("Code128", item["id"]), ("QRCode", item["id"])]
        with pytest.raises(ApiError) as exc:
            api.label(item["id"], "png", size="huge")
        assert exc.value.status == 422
