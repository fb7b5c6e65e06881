"""`coc admin agency add|list` and `--agency` on `coc admin user add|update`, against a live app (no mocks)."""

from __future__ import annotations

import json

from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import live_api  # noqa: F401 - the fixture


def test_agency_add_list_and_users_in_agencies(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "coordinator")
    added = cli("admin", "agency", "add", "State Crime Lab", "--kind", "crime-lab", "--json")
    assert added.exit_code == 0, added.output
    assert (json.loads(added.output)["name"], json.loads(added.output)["kind"]) == ("State Crime Lab", "crime-lab")
    again = cli("admin", "agency", "add", "State Crime Lab", "--kind", "police")
    assert again.exit_code == 1 and "409" in again.output
    listed = cli("admin", "agency", "list")
    assert listed.exit_code == 0 and "State Crime Lab" in listed.output and "Centre" in listed.output

    user = cli("admin", "user", "add", "cl-ann", "--role", "lab", "--agency", "State Crime Lab",
               "--password", "correct horse battery", "--json")
    assert user.exit_code == 0, user.output
    assert json.loads(user.output)["agency_kind"] == "crime-lab"
    officer = cli("admin", "user", "add", "officer-x", "--role", "law_enforcement", "--password",
                  "correct horse battery")
    assert officer.exit_code == 1 and "422" in officer.output and "agency" in officer.output
    wrong = cli("admin", "user", "add", "exam-x", "--role", "examiner", "--agency", "State Crime Lab", "--password",
                "correct horse battery")
    assert wrong.exit_code == 1 and "cannot belong to agency" in wrong.output
    moved = cli("admin", "user", "update", "cl-ann", "--agency", "Centre", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["agency"] == "Centre"
    table = cli("admin", "user", "list")
    assert table.exit_code == 0 and "agency" in table.output and "cl-ann" in table.output
    unknown = cli("admin", "user", "update", "nobody-here", "--agency", "Centre")
    assert unknown.exit_code == 1 and "no staff user" in unknown.output
