"""`coc up` on a data dir whose ledger was altered: the stack starts (auditors need it) and says so loudly."""

from __future__ import annotations

import json

import httpx
from sqlmodel import Session

from core import ledger, migrate
from core.actors import Actor
from core.db import make_engine
from core.ledger import EventKind
from tests.fixtures.stack import CocUp
from tests.integration.test_ledger_verification import forge_seal


def test_up_with_a_forged_ledger_starts_and_warns(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    url = f"sqlite:///{data / 'coc.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        for i in range(1, 11):
            ledger.append(s, kind=EventKind.CHECKED_IN, actor=Actor(id="U-lab-1", role="lab"), case_id="C-E2E",
                          item_id="I-1", data={"seal_number": f"S-{i:03d}", "seal_intact": True})
        s.commit()
    forge_seal(engine, seq=4)
    engine.dispose()

    up = CocUp(data).start()
    try:
        running = up.wait_ready()  # the start-up wait accepted a stack whose only problem is the ledger
        out = up.output()
        assert "LEDGER IS NOT INTACT" in out and "first bad entry 4" in out, out[-3000:]
        assert "coc audit verify" in out and "LEDGER IS NOT INTACT (see above" in out
        assert json.loads((data / "stack.json").read_text())["ledger_intact"] is False
        resp = httpx.get(f"{running.api_url}/health", timeout=10)
        body = resp.json()
        assert resp.status_code == 503 and body["status"] == "ledger-not-intact", body
        assert [name for name, part in body["parts"].items() if not part["ok"]] == ["ledger"]
        part = body["parts"]["ledger"]
        assert part["first_bad_seq"] == 4 and part["trigger"] in ("startup", "scheduled")  # whichever ran last
    finally:
        assert up.terminate() == 0, up.output()[-3000:]
