"""`coc evidence report-incident | incidents | resolve-incident` against a real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from tests.unit.test_cli import _examined_case, cli, login_as_existing  # noqa: F401 - fixtures and helpers
from tests.unit.test_cli_live import live_api  # noqa: F401 - the fixture


def test_report_list_and_resolve_an_incident_through_the_cli(cli, live_api):  # noqa: F811
    examiner, case = _examined_case(cli, live_api)
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "kit", "--description", "kit", "--json").output)
    lab = live_api.user("lab")
    auditor = live_api.user("auditor")
    reported = cli("evidence", "report-incident", item["id"], "--reason", "seal broken at handoff", "--source",
                   "seal", "--json")
    assert reported.exit_code == 0, reported.output
    incident = json.loads(reported.output)
    assert incident["open"] and incident["source"] == "seal" and incident["opened_by"] == examiner.id
    refused = cli("custody", "transfer", item["id"], "--to", lab.id, "--reason", "store")
    assert refused.exit_code == 1 and "409" in refused.output and "quarantined" in refused.output
    shown = json.loads(cli("evidence", "show", item["id"], "--json").output)
    assert shown["quarantined"] is True and shown["quarantined_by"] == [incident["id"]]
    not_mine = cli("evidence", "resolve-incident", item["id"], str(incident["id"]), "--finding", "x",
                   "--outcome", "false-alarm")
    assert not_mine.exit_code == 1 and "403" in not_mine.output

    login_as_existing(cli, auditor)
    listed = json.loads(cli("evidence", "incidents", "--json").output)
    assert [i["id"] for i in listed] == [incident["id"]]
    table = cli("evidence", "incidents")
    assert table.exit_code == 0 and "seal" in table.output
    resolved = cli("evidence", "resolve-incident", item["id"], str(incident["id"]), "--finding",
                   "seal re-checked: courier's tape, contents intact", "--outcome", "false-alarm", "--json")
    assert resolved.exit_code == 0, resolved.output
    assert json.loads(resolved.output)["open"] is False
    assert json.loads(cli("evidence", "incidents", "--json").output) == []
    assert [i["outcome"] for i in json.loads(cli("evidence", "incidents", item["id"], "--json").output)] == \
        ["false-alarm"]

    login_as_existing(cli, examiner)
    moved = cli("custody", "transfer", item["id"], "--to", lab.id, "--reason", "store")
    assert moved.exit_code == 0, moved.output
