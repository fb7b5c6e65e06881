"""`coc review …` against a real app served on loopback: usernames, not ids; --json."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session

from core.clock import utcnow
from tests.evidence_support import TEST_AGENCY_NAMES, new_case
from tests.unit.test_cli import cli, login_as_existing  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture

# The CLI speaks HTTP; the server's database is covered on both in the API tests: the embedded one here.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _signed_in_coordinator(cli, live_api: LiveApi):  # noqa: F811
    """A new case, its assigned coordinator signed in to the CLI, an officer and an examiner to invite."""
    with Session(live_api.harness.engine) as s:
        case_id = new_case(s)
    coordinator = live_api.user("coordinator", assign_to=case_id)
    officer = live_api.user("law_enforcement")
    clinician = live_api.user("examiner")
    login_as_existing(cli, coordinator)
    return case_id, coordinator, officer, clinician


def test_schedule_show_decide_and_action_items_by_username(cli, live_api: LiveApi):  # noqa: F811
    case_id, coordinator, officer, clinician = _signed_in_coordinator(cli, live_api)
    when = (utcnow() + timedelta(days=2)).isoformat()

    bad = cli("review", "schedule", case_id, "--participant", "nobody-here", "--at", when)
    assert bad.exit_code == 1 and "no staff account named 'nobody-here'" in bad.output

    made = cli("review", "schedule", case_id, "--participant", officer.user.username, "-p",
               clinician.user.username, "--at", when, "--json")
    assert made.exit_code == 0, made.output
    review = json.loads(made.output)
    assert [p["username"] for p in review["participants"]] == [officer.user.username, clinician.user.username]
    rid = review["id"]

    decision = json.loads(cli("review", "decide", rid, "--text", "police to take the statement", "--json").output)
    no_owner = cli("review", "action", "add", rid, "--due", when)
    assert no_owner.exit_code == 2 and "--owner" in no_owner.output  # the owner agency is required
    added = cli("review", "action", "add", rid, "--owner", TEST_AGENCY_NAMES["police"], "--due", when,
                "--decision", str(decision["id"]), "--text", "statement", "--json")
    assert added.exit_code == 0, added.output
    action = json.loads(added.output)
    assert action["owner_agency"]["name"] == TEST_AGENCY_NAMES["police"] and action["status"] == "open"

    table = cli("review", "show", rid)
    assert table.exit_code == 0 and "its coordinator" in table.output and "police to take the statement" in \
        table.output

    login_as_existing(cli, officer)
    view = json.loads(cli("review", "show", rid, "--json").output)
    assert view["sections"] == ["decisions", "released-items"] and view["items"] == []  # nothing released yet
    assert view["exam"] is None
    done = cli("review", "action", "done", str(action["id"]), "--json")
    assert done.exit_code == 0 and json.loads(done.output)["status"] == "done", done.output
    again = cli("review", "action", "done", str(action["id"]))
    assert again.exit_code == 1 and "already done" in again.output


def test_reschedule_add_remove_cancel_and_list_by_username(cli, live_api: LiveApi):  # noqa: F811
    case_id, coordinator, officer, clinician = _signed_in_coordinator(cli, live_api)
    rid = json.loads(cli("review", "schedule", case_id, "-p", clinician.user.username, "--at",
                         (utcnow() + timedelta(days=2)).isoformat(), "--json").output)["id"]

    moved = cli("review", "reschedule", rid, "--at", (utcnow() + timedelta(days=6)).isoformat())
    assert moved.exit_code == 0 and f"review {rid} rescheduled for" in moved.output, moved.output
    added = cli("review", "add", rid, officer.user.username, "--json")
    assert added.exit_code == 0, added.output
    assert [p["username"] for p in json.loads(added.output)["participants"]] == [clinician.user.username,
                                                                                 officer.user.username]
    listed = cli("review", "list", "--case", case_id)
    assert listed.exit_code == 0 and rid in listed.output and officer.user.username in listed.output

    login_as_existing(cli, officer)
    assert [r["id"] for r in json.loads(cli("review", "list", "--json").output)] == [rid]
    login_as_existing(cli, coordinator)
    removed = cli("review", "remove", rid, officer.user.username)
    assert removed.exit_code == 0 and f"{officer.user.username} removed" in removed.output, removed.output
    bad = cli("review", "cancel", rid, "--reason", "whatever")
    assert bad.exit_code == 1, bad.output
    cancelled = cli("review", "cancel", rid, "--reason", "no-quorum")
    assert cancelled.exit_code == 0 and "cancelled (no-quorum)" in cancelled.output, cancelled.output
    late = cli("review", "decide", rid, "--text", "too late")
    assert late.exit_code == 1 and "was cancelled" in late.output
    record = cli("review", "show", rid)
    assert record.exit_code == 0 and "CANCELLED at" in record.output and "(no-quorum)" in record.output

    login_as_existing(cli, officer)
    shown = cli("review", "show", rid)
    assert shown.exit_code == 1 and "not a participant" in shown.output
