"""Helpers of the status-page tests: a kit with a printed card, read back from the card's PDF like a person
would (pdftotext), and the card's QR code decoded from a 300 dpi render (pdftoppm + zxing-cpp)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import zxingcpp
from PIL import Image

from tests.api_helpers import ApiHarness, StaffUser

SCOPES = ("forensic-exam", "evidence-swabs", "release-to-law-enforcement", "lab-testing", "status-lookup")
DESCRIPTION = "oral swab kit Z-4411"  # must never appear on the survivor's page


@dataclass
class Kit:
    """A case, an item of it and the card printed for it."""

    case_id: str
    item_id: str
    examiner: StaffUser
    officer: StaffUser
    code: str
    password: str
    pdf: bytes
    lab: StaffUser | None = None  # the evidence store's staff member who checked the kit in


def card_text(pdf: bytes, tmp: Path) -> str:
    """The card's text as pdftotext reads it."""
    assert shutil.which("pdftotext"), "poppler-utils is needed: scripts/test installs it"
    src = tmp / "card.pdf"
    src.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(src), "-"], check=True, capture_output=True,
                          text=True).stdout


def read_card(pdf: bytes, tmp: Path) -> tuple[str, str]:
    """(code, temporary password) printed on the card."""
    text = card_text(pdf, tmp)
    code = re.search(r"Code / Código\s+(K[0-9A-Z]{16})", text)
    password = re.search(r"Temporary password / Contraseña temporal\s+(\S+)", text)
    assert code and password, text
    return code.group(1), password.group(1)


def card_qr(pdf: bytes, tmp: Path) -> list[str]:
    """Texts of the QR codes found on a 300 dpi render of the card."""
    src = tmp / "card-qr.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-singlefile", str(src), str(tmp / "card-qr")], check=True)
    image = Image.open(tmp / "card-qr.png")
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format.name == "QRCode"]


def issue(h: ApiHarness, item_id: str, user: StaffUser, tmp: Path) -> tuple[str, str, bytes]:
    """POST /items/{id}/status-card as `user`: (code, password, pdf)."""
    r = h.client.post(f"/items/{item_id}/status-card", headers=user.headers)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["cache-control"] == "no-store"
    code, password = read_card(r.content, tmp)
    return code, password, r.content


def kit_with_card(h: ApiHarness, tmp: Path, *, released: bool = True) -> Kit:
    """A reported case, a kit collected, sealed, stored and (by default) released to an officer, and its card."""
    c = h.client
    examiner, officer, lab = h.user("examiner"), h.user("law_enforcement"), h.user("lab")
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in SCOPES:
        r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": DESCRIPTION}, headers=examiner.headers)
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    assert c.post(f"/items/{item_id}/seal", json={"seal_number": "S-1"}, headers=examiner.headers).status_code == 200
    t = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
               json={"to_user": lab.id, "reason": "to store", "condition": "sealed", "seal_number": "S-1"}).json()
    r = c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed", "seal_number": "S-1",
                                                     "seal_intact": True}, headers=lab.headers)
    assert r.status_code == 200, r.text
    r = c.post(f"/items/{item_id}/check-in", json={"location": "store-1"}, headers=lab.headers)
    assert r.status_code in (200, 201), r.text
    if released:  # out of the store, back to the examiner, who releases it to the officer
        r = c.post(f"/items/{item_id}/check-out", json={"reason": "release"}, headers=lab.headers)
        assert r.status_code in (200, 201), r.text
        t = c.post(f"/items/{item_id}/transfers", headers=lab.headers,
                   json={"to_user": examiner.id, "reason": "release", "condition": "sealed", "seal_number": "S-1"})
        assert t.status_code == 201, t.text
        r = c.post(f"/transfers/{t.json()['id']}/accept", headers=examiner.headers,
                   json={"condition": "sealed", "seal_number": "S-1", "seal_intact": True})
        assert r.status_code == 200, r.text
        r = c.post(f"/items/{item_id}/release", headers=examiner.headers,
                   json={"to_user": officer.id, "reason": "report", "condition": "sealed", "seal_number": "S-1"})
        assert r.status_code == 201, r.text
        r = c.post(f"/transfers/{r.json()['id']}/accept", headers=officer.headers,
                   json={"condition": "sealed", "seal_number": "S-1", "seal_intact": True})
        assert r.status_code == 200, r.text
    code, password, pdf = issue(h, item_id, examiner, tmp)
    return Kit(case_id, item_id, examiner, officer, code, password, pdf, lab)
