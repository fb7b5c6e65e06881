"""A ledger row altered in the database: exports refuse or say so on every page, /health and alerts say so.

Both databases (db_url). The tamper is committed (unlike test_ledger_tamper's roll-back helper, whose
trigger switch it reuses), as an attacker with database access would leave it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from core import ledger
from core.actors import Actor
from core.ledger import EventKind
from core.ledger.bundle import when
from core.settings import reset_settings
from evidence import audit
from evidence.verification import LedgerVerification
from policies.deadlines import Alert, ClockName
from tests.api_helpers import api_harness
from tests.integration.test_ledger_tamper import _disable_triggers

CASE = "C-VERIFY"
ROWS = 90  # enough for a custody report of several pages
FORGED_SEQ = 7


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database whose ledger holds ROWS custody entries of one case (seal numbers S-<i>)."""
    h = api_harness(db_url, tmp_path)
    lab = Actor(id="U-lab-1", role="lab")
    with Session(h.engine) as s:
        for i in range(1, ROWS + 1):
            clock.advance(timedelta(minutes=3))
            ledger.append(s, kind=EventKind.CHECKED_IN, actor=lab, case_id=CASE, item_id=f"I-{i % 3}",
                          data={"location": f"shelf {i}", "seal_intact": True, "seal_number": f"S-{i:03d}"})
        s.commit()
    yield h
    h.close()


def forge_seal(engine, seq: int = FORGED_SEQ) -> None:
    """Rewrite the seal number inside one stored entry's bytes and commit it (append-only triggers bypassed)."""
    with engine.begin() as conn:
        _disable_triggers(conn)
        body = bytes(conn.execute(sa.text("SELECT body FROM ledger_entry WHERE seq = :s"), {"s": seq}).scalar_one())
        forged = body.replace(f'"seal_number":"S-{seq:03d}"'.encode(), b'"seal_number":"S-999"')
        assert forged != body
        conn.execute(sa.text("UPDATE ledger_entry SET body = :b WHERE seq = :s"), {"b": forged, "s": seq})


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page (pdftotext from poppler-utils; scripts/test installs it)."""
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is missing: scripts/test installs it"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout
    pages = text.decode().split("\f")
    return [p for p in pages if p.strip()]


def _entries(harness) -> int:
    with Session(harness.engine) as s:
        return ledger.head(s)[0]  # ROWS, plus one entry per staff user the test created


def _key(harness, tmp_path: Path) -> Path:
    key = tmp_path / "ledger.pem"
    key.write_text(harness.client.get("/audit/public-key", headers=harness.user("auditor").headers)
                   .json()["public_key_pem"])
    return key


def _verify_bundle_cli(bundle: dict, key: Path, tmp_path: Path):
    from api.cli.main import app

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return CliRunner().invoke(app, ["audit", "verify-bundle", str(path), "--key", str(key)], catch_exceptions=False)


def test_intact_ledger_exports_state_the_verification(harness, tmp_path):
    h = harness.user("auditor").headers
    bundle = harness.client.get("/audit/export", params={"case_id": CASE}, headers=h)
    assert bundle.status_code == 200, bundle.text
    state, n = bundle.json()["ledger_verification"], _entries(harness)
    assert state["ok"] is True and state["entries_checked"] == n and state["first_bad_seq"] is None
    assert state["statement"] == f"ledger verified at {state['verified_at']}, {n} entries"
    key = _key(harness, tmp_path)
    report = audit.verify_bundle(bundle.json(), key.read_bytes())
    assert report.ok and report.ledger == f"ledger verified at {when(state['verified_at'])}, {n} entries"
    pdf = harness.client.get("/audit/export.pdf", params={"case_id": CASE}, headers=h)
    assert pdf.status_code == 200
    pages = pdf_pages(pdf.content, tmp_path)
    n = _entries(harness)  # _key created a user (ledgered) before this export
    assert len(pages) >= 2
    assert all(f"ledger verified at {when(state['verified_at'])}, {n} entries" in p for p in pages), pages[-1][-300:]
    assert not any("NOT INTACT" in p for p in pages)
    health = harness.client.get("/health").json()["parts"]["ledger"]
    assert health["ok"] is True and health["first_bad_seq"] is None and health["trigger"] == "export"
    assert health["last_verified_at"] is not None and health["entries_checked"] == n


def test_forged_ledger_export_is_refused_naming_the_first_bad_entry(harness):
    forge_seal(harness.engine)
    h = harness.user("auditor").headers
    for path in ("/audit/export", "/audit/export.pdf"):
        resp = harness.client.get(path, params={"case_id": CASE}, headers=h)
        assert resp.status_code == 409, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        problem = resp.json()
        assert problem["type"].endswith("/ledger-not-intact")
        assert f"first bad entry {FORGED_SEQ}" in problem["detail"] and "coc audit verify" in problem["detail"]
        assert "auditor" in problem["detail"]
    with Session(harness.engine) as s:  # the refused exports' runs were kept (the route commits before refusing)
        runs = s.execute(select(LedgerVerification).order_by(LedgerVerification.id)).scalars().all()
        assert [(r.trigger, r.ok, r.first_bad_seq) for r in runs] == [("export", False, FORGED_SEQ)] * 2


def test_forged_ledger_export_with_the_flag_is_marked_on_every_page_and_in_the_bundle(harness, tmp_path):
    forge_seal(harness.engine)
    key = _key(harness, tmp_path)
    h = harness.user("auditor").headers
    params = {"case_id": CASE, "allow_unverified": "true"}
    bundle = harness.client.get("/audit/export", params=params, headers=h).json()
    state = bundle["ledger_verification"]
    assert state["ok"] is False and state["first_bad_seq"] == FORGED_SEQ
    assert state["statement"].startswith(f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}")
    report = audit.verify_bundle(bundle, key.read_bytes())
    assert not report.ok and report.ledger.startswith(f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}")
    assert any("LEDGER NOT INTACT" in e for e in report.errors)
    cli = _verify_bundle_cli(bundle, key, tmp_path)
    assert cli.exit_code == 1 and f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}" in cli.output

    pdf = harness.client.get("/audit/export.pdf", params=params, headers=h)
    assert pdf.status_code == 200
    pages = pdf_pages(pdf.content, tmp_path)
    assert len(pages) >= 2
    banner = f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}"
    assert all(p.count(banner) >= 2 for p in pages), [p[:200] for p in pages]  # header and footer band
    assert not any("ledger verified at" in p for p in pages)


def test_health_after_a_failed_verification_is_not_ready_and_names_the_entry(harness):
    assert harness.client.get("/health").json()["parts"]["ledger"]["ok"] is True  # never verified yet
    forge_seal(harness.engine)
    verify = harness.client.get("/audit/verify", headers=harness.user("auditor").headers).json()
    assert verify["ok"] is False and verify["first_bad_seq"] == FORGED_SEQ and verify["verified_at"]
    resp = harness.client.get("/health")
    body = resp.json()
    assert resp.status_code == 503 and body["status"] != "ready"
    part = body["parts"]["ledger"]
    assert part["ok"] is False and part["first_bad_seq"] == FORGED_SEQ and part["trigger"] == "api"
    assert "LEDGER NOT INTACT" in part["detail"] and f"entry {FORGED_SEQ}" in part["detail"]
    assert "coc audit verify" in part["detail"]


def test_intact_verification_makes_the_ledger_part_healthy(harness):
    verify = harness.client.get("/audit/verify", headers=harness.user("auditor").headers).json()
    assert verify["ok"] is True
    part = harness.client.get("/health").json()["parts"]["ledger"]
    n = _entries(harness)
    assert part["ok"] is True and part["entries_checked"] == n and part["trigger"] == "api"
    assert part["detail"].startswith(f"verified {n} entries")


def test_scheduled_check_raises_exactly_one_centre_wide_alert(harness, db_url, tmp_path, monkeypatch):
    from flows.ledger_check import ledger_check

    monkeypatch.setenv("COC_DATABASE_URL", db_url)
    monkeypatch.setenv("COC_DATA_DIR", str(tmp_path))
    reset_settings()
    try:
        assert ledger_check.fn() == {"ok": True, "entries_checked": ROWS, "first_bad_seq": None,
                                     "alert_raised": False}
        forge_seal(harness.engine)
        first, second = ledger_check.fn(), ledger_check.fn()
    finally:
        reset_settings()
    assert first == {"ok": False, "entries_checked": FORGED_SEQ - 1, "first_bad_seq": FORGED_SEQ,
                     "alert_raised": True}
    assert second["ok"] is False and second["alert_raised"] is False
    with Session(harness.engine) as s:
        alerts = s.execute(select(Alert).where(Alert.clock == ClockName.LEDGER_NOT_INTACT)).scalars().all()
        assert len(alerts) == 1 and alerts[0].case_id is None
        assert f"first bad entry {FORGED_SEQ}" in alerts[0].message
        entry = s.get(ledger.LedgerEntry, alerts[0].ledger_seq)
        assert entry.kind == EventKind.ALERT_RAISED and entry.case_id is None
        runs = s.execute(select(LedgerVerification.trigger, LedgerVerification.ok)).all()
        assert sorted(runs) == [("scheduled", False), ("scheduled", False), ("scheduled", True)]

    c = harness.client
    for role in ("auditor", "coordinator"):
        shown = c.get("/alerts", headers=harness.user(role).headers)
        assert shown.status_code == 200
        assert [a["clock"] for a in shown.json()] == ["ledger-not-intact"] and shown.json()[0]["case_id"] is None
    examiner = harness.user("examiner", assign_to=None)
    shown = c.get("/alerts", headers=examiner.headers)
    assert shown.status_code == 200 and shown.json() == []  # case-scoped staff: not theirs, and no crash


def test_cli_export_refuses_then_marks_with_the_flag_and_alerts_list_it(harness, tmp_path, monkeypatch):
    from api.cli.main import app
    from tests.unit.test_cli_live import serve

    forge_seal(harness.engine)
    auditor = harness.user("auditor")
    runner = CliRunner()
    with serve(harness) as url:
        monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
        monkeypatch.setenv("COC_API_URL", url)
        monkeypatch.delenv("COC_TOKEN", raising=False)

        def cli(*args: str):
            result = runner.invoke(app, list(args), catch_exceptions=False)
            return result.exit_code, " ".join(result.output.split())  # Rich wraps long lines


        assert cli("login", "--username", auditor.user.username, "--password", auditor.password)[0] == 0
        bundle, pdf = tmp_path / "bundle.json", tmp_path / "report.pdf"
        code, out = cli("audit", "export", "--case", CASE, "--out", str(bundle))
        assert code == 1 and f"first bad entry {FORGED_SEQ}" in out and "coc audit verify" in out, out
        assert not bundle.exists()
        code, out = cli("audit", "export", "--case", CASE, "--out", str(bundle), "--pdf", str(pdf),
                        "--allow-broken-ledger")
        assert code == 0, out
        assert f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}" in out
        assert json.loads(bundle.read_text())["ledger_verification"]["first_bad_seq"] == FORGED_SEQ
        pages = pdf_pages(pdf.read_bytes(), tmp_path)
        assert pages and all(f"LEDGER NOT INTACT — first bad entry {FORGED_SEQ}" in p for p in pages)
        code, out = cli("alerts", "--json")
        assert code == 0, out
        assert [a["clock"] for a in json.loads(out)] == ["ledger-not-intact"]
        code, out = cli("health")
        assert code == 1 and "ledger not ready: LEDGER NOT INTACT" in out and f"entry {FORGED_SEQ} bad" in out, out


def test_alert_stands_even_when_the_damaged_tree_refuses_its_ledger_entry(engine, clock):
    """A missing tree node that the next append needs: the alert is still raised (ledger_seq 0), once."""
    from core.actors import system_actor
    from evidence.verification import verify_and_record

    with Session(engine) as s:
        for i in range(3):
            ledger.append(s, kind=EventKind.CHECKED_IN, actor=Actor(id="U-lab-1", role="lab"), case_id=CASE,
                          data={"n": i})
        s.commit()
    with engine.begin() as conn:
        _disable_triggers(conn)
        conn.execute(sa.text("DELETE FROM ledger_node WHERE level = 0 AND idx = 2"))  # leaf of seq 3
    for _ in range(2):
        with Session(engine, expire_on_commit=False) as s:
            outcome = verify_and_record(s, actor=system_actor("ledger-check"), trigger="scheduled")
            s.commit()
        assert not outcome.record.ok and outcome.record.first_bad_seq == 3
    with Session(engine) as s:
        alerts = s.execute(select(Alert)).scalars().all()
        assert [(a.clock, a.ledger_seq, a.case_id) for a in alerts] == [(ClockName.LEDGER_NOT_INTACT, 0, None)]
        assert ledger.head(s)[0] == 3  # nothing appended to the damaged tree
