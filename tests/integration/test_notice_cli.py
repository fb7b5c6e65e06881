"""`coc notice` and two-person destruction through `coc custody`, against the app served by uvicorn (SQLite and
PostgreSQL), with the ManualClock moving the kit through its years."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from core.clock import as_utc
from tests.unit.test_cli import _examined_case, cli, login_as, login_as_existing  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture

CANARY = "cli-canary-41@example.org"


def test_notice_request_due_sent_and_two_person_destruction_from_the_cli(clock, cli, live_api: LiveApi):  # noqa: F811
    examiner, case = _examined_case(cli, live_api)
    case_id = case["id"]
    item = json.loads(cli("evidence", "add", case_id, "--kind", "kit", "--description", "kit", "--json").output)
    assert cli("notice", "request", case_id).exit_code == 2  # a channel or --no-contact
    assert cli("notice", "request", case_id, "--email", CANARY, "--no-contact").exit_code == 2
    recorded = cli("notice", "request", case_id, "--email", CANARY, "--json")
    assert recorded.exit_code == 0, recorded.output
    assert json.loads(recorded.output)["channel_kind"] == "email" and CANARY not in recorded.output
    lab, lab2, coordinator = live_api.user("lab"), live_api.user("lab"), live_api.user("coordinator")
    transfer = json.loads(cli("custody", "transfer", item["id"], "--to", lab.id, "--reason", "store",
                              "--json").output)
    login_as_existing(cli, lab)
    assert cli("custody", "accept", transfer["id"]).exit_code == 0

    until = as_utc(datetime.fromisoformat(item["retention_until"]))
    clock.set(until - timedelta(days=60))  # the notice date
    login_as_existing(cli, coordinator)
    [task] = json.loads(cli("notice", "due", "--json").output)
    assert task["item_id"] == item["id"] and task["state"] == "due"
    assert json.loads(cli("notice", "contact", case_id, "--json").output)["value"] == CANARY
    assert cli("notice", "failed", case_id, "--reason", "moved-away").exit_code == 2
    failed = json.loads(cli("notice", "failed", case_id, "--reason", "bounced", "--json").output)
    assert [(r["outcome"], r["reason"]) for r in failed] == [("failed", "bounced")]
    sent = cli("notice", "sent", case_id, "--json")
    assert sent.exit_code == 0 and json.loads(sent.output)[0]["recorded_by"] == coordinator.id
    assert CANARY not in sent.output
    assert json.loads(cli("notice", "due", "--json").output) == []
    again = cli("notice", "sent", case_id)
    assert again.exit_code == 1 and "409" in again.output  # nothing due any more

    clock.set(until + timedelta(days=1))
    login_as_existing(cli, lab)
    proposed = cli("custody", "destroy", item["id"], "--authority", "ORDER-7", "--reason", "retention ended",
                   "--json")
    assert proposed.exit_code == 0, proposed.output
    assert json.loads(proposed.output)["status"] == "awaiting-approval"
    same = cli("custody", "approve-destruction", item["id"])
    assert same.exit_code == 1 and "403" in same.output
    login_as_existing(cli, lab2)
    approved = cli("custody", "approve-destruction", item["id"], "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.output)["kind"] == "destroyed"
    login_as_existing(cli, examiner)
    assert json.loads(cli("evidence", "show", item["id"], "--json").output)["status"] == "destroyed"
