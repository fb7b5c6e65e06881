"""`coc evidence status-card` and `coc evidence contact-requests` against the real API (client + CLI)."""

from __future__ import annotations

import json

from tests.unit.test_cli import _examined_case, cli  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture
from tests.web.support import read_card


def test_cli_status_card_and_contact_requests(cli, live_api: LiveApi, tmp_path):  # noqa: F811
    """The CLI writes the card PDF; its code works on the page; a reissue revokes it; a contact request made on
    the page is listed by `coc evidence contact-requests`."""
    _, case = _examined_case(cli, live_api)
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "kit", "--description", "kit", "--json").output)
    out = tmp_path / "card.pdf"
    result = cli("evidence", "status-card", item["id"], "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bytes"] == out.stat().st_size
    code, password = read_card(out.read_bytes(), tmp_path)
    http = live_api.harness.client
    page = http.post("/status", data={"code": code, "password": password})
    assert page.status_code == 200 and "Collected at the centre" in page.text
    token = page.text.split('name="token" value="')[1].split('"')[0]
    assert http.post("/status/contact", data={"token": token}).status_code == 200
    listed = cli("evidence", "contact-requests", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(r["case_id"], r["item_id"]) for r in json.loads(listed.output)] == [(case["id"], item["id"])]
    assert cli("evidence", "status-card", item["id"], "--out", str(tmp_path / "new.pdf")).exit_code == 0
    assert http.post("/status", data={"code": code, "password": password}).status_code == 401
