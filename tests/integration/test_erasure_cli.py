"""`coc case erase propose|approve|status` and `coc admin rotate-key|reencrypt` against the app served by uvicorn."""

from __future__ import annotations

import json

from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def test_two_coordinators_erase_a_case_from_the_cli(cli, live_api: LiveApi, tmp_path):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    ident = tmp_path / "identity.json"
    ident.write_text(json.dumps({"full_name": "Cli Canaryname"}))
    assert cli("case", "identity", "set", case["id"], "--from", str(ident)).exit_code == 0

    first = login_as(cli, live_api, "coordinator")
    proposed = cli("case", "erase", "propose", case["id"], "--basis", "survivor-request", "--json")
    assert proposed.exit_code == 0, proposed.output
    assert json.loads(proposed.output)["proposed_by_username"] == first.user.username
    same = cli("case", "erase", "approve", case["id"], "--json")
    assert same.exit_code == 1 and "403" in same.output and "different authorised person" in same.output

    second = login_as(cli, live_api, "coordinator")
    approved = cli("case", "erase", "approve", case["id"], "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.output)["approved_by_username"] == second.user.username
    state = json.loads(cli("case", "erase", "status", case["id"], "--json").output)
    assert state["erased"] is True and state["requests"][0]["status"] == "approved"
    table = cli("case", "erase", "status", case["id"])
    assert table.exit_code == 0 and first.user.username in table.output and second.user.username in table.output
    again = cli("case", "erase", "approve", case["id"], "--json")
    assert again.exit_code == 1 and "already erased" in again.output

    rotated = cli("admin", "rotate-key", "--json")
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.output)["erased"] == 1
    reencrypted = cli("admin", "reencrypt", "--json")
    assert reencrypted.exit_code == 0 and json.loads(reencrypted.output)["rewritten"] == 0

    login_as(cli, live_api, "examiner", assign_to=case["id"])
    gone = cli("case", "identity", "get", case["id"], "--json")
    assert gone.exit_code == 1 and "410" in gone.output and "erased on" in gone.output
    assert "Cli Canaryname" not in gone.output
