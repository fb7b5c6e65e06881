"""`coc evidence status-card`, `coc evidence contact-requests` and `contact-handled` against the real API (client +
CLI)."""

from __future__ import annotations

import json

from tests.unit.test_cli import _examined_case, cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture
from tests.web.support import read_card


def test_cli_status_card_and_contact_requests(cli, live_api: LiveApi, tmp_path):  # noqa: F811
    """The CLI writes the card PDF; its code works on the page; a reissue revokes it; a contact request made on
    the page is listed by `coc evidence contact-requests` and in `coc tasks` for the examiner of the case, not for
    an examiner of other cases; `coc evidence contact-handled` closes it (gone from both, kept with --all)."""
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
    [request] = json.loads(listed.output)
    assert (request["case_id"], request["item_id"]) == (case["id"], item["id"])
    seq = str(request["seq"])
    [task] = [t for t in json.loads(cli("tasks", "--json").output) if t["kind"] == "contact-requested"]
    assert task["ref"] == seq and task["verb"].startswith(f"coc evidence contact-handled {seq} --outcome")
    assert seq in cli("evidence", "contact-requests").output  # the table
    assert cli("evidence", "contact-handled", seq, "--outcome", "maybe").exit_code != 0  # a closed set
    closed = cli("evidence", "contact-handled", seq, "--outcome", "left-message", "--json")
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.output)["outcome"] == "left-message"
    assert json.loads(cli("evidence", "contact-requests", "--json").output) == []
    assert not [t for t in json.loads(cli("tasks", "--json").output) if t["kind"] == "contact-requested"]
    [kept] = json.loads(cli("evidence", "contact-requests", "--all", "--json").output)
    assert (kept["seq"], kept["outcome"]) == (request["seq"], "left-message")
    again = cli("evidence", "contact-handled", seq, "--outcome", "reached")
    assert again.exit_code != 0 and "already handled" in again.output
    assert cli("evidence", "status-card", item["id"], "--out", str(tmp_path / "new.pdf")).exit_code == 0
    assert http.post("/status", data={"code": code, "password": password}).status_code == 401
    login_as(cli, live_api, "examiner")  # an examiner of other cases
    assert json.loads(cli("evidence", "contact-requests", "--all", "--json").output) == []
    hidden = cli("evidence", "contact-handled", seq, "--outcome", "reached")
    assert hidden.exit_code != 0 and f"no contact request {seq}" in hidden.output
