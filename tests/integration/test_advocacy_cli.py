"""`coc advocacy …` and `coc tasks` against the app served by uvicorn (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta

from api.client import CocClient
from core.ledger import iso
from tests.unit.test_cli import cli, login_as, login_as_existing  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def test_advocacy_verbs_and_the_work_queue(cli, live_api: LiveApi, clock, tmp_path):  # noqa: F811
    examiner = live_api.user("examiner")
    with CocClient(live_api.url, token=examiner.token) as api:
        case_id = api.open_case(assault_at=iso(clock.now() - timedelta(hours=3)))["id"]
        for scope in ("medical-care", "forensic-exam"):
            api.record_consent(case_id, scope=scope, decision="granted", method="written", form_ref="F-1")
        api.record_exam(case_id, started_at=iso(clock.now() - timedelta(hours=1)), ended_at=iso(clock.now()),
                        narrative="n")
    adv = live_api.user("advocate", assign_to=case_id)
    login_as_existing(cli, adv)

    refused = cli("advocacy", "service", case_id, "counselling", "offered")
    assert refused.exit_code == 1 and "403" in refused.output and "share-with-advocate" in refused.output
    with CocClient(live_api.url, token=examiner.token) as api:
        api.record_consent(case_id, scope="share-with-advocate", decision="granted", method="written",
                           form_ref="F-2", expires_at=iso(clock.now() + timedelta(days=200)))

    assert cli("advocacy", "service", case_id, "legal-aid", "declined", "--json").exit_code == 0
    ref = json.loads(cli("advocacy", "refer", case_id, "--service", "shelter", "--to", "City Shelter",
                         "--json").output)
    out = cli("advocacy", "referral-outcome", case_id, str(ref["id"]), "--outcome", "attended", "--json")
    assert out.exit_code == 0 and json.loads(out.output)["outcome"] == "attended"
    assert cli("advocacy", "contact", case_id, "--kind", "phone", "--outcome", "message-left").exit_code == 0
    plan = tmp_path / "plan.txt"
    plan.write_text("safe word: blue", encoding="utf-8")
    assert cli("advocacy", "safety-plan", case_id, "--notes-file", str(plan), "--json").exit_code == 0
    [rev] = json.loads(cli("advocacy", "safety-plan", case_id, "--json").output)
    assert rev["revision"] == 1 and rev["notes"] == "safe word: blue"
    show = json.loads(cli("advocacy", "show", case_id, "--json").output)
    assert show["services"][0]["status"] == "declined" and show["referrals"][0]["outcome"] == "attended"
    assert show["contacts"][0]["outcome"] == "message-left"
    assert cli("advocacy", "show", case_id).exit_code == 0

    ups = json.loads(cli("advocacy", "followups", case_id, "--schedule", "--json").output)
    assert [u["name"] for u in ups] == ["1-week", "6-weeks", "3-months"]
    assert json.loads(cli("tasks", "--json").output) == []
    clock.advance(timedelta(days=7, minutes=1))
    [task] = json.loads(cli("tasks", "--json").output)
    assert task["kind"] == "follow-up-due" and task["ref"] == str(ups[0]["id"])
    assert "1-week" in cli("tasks").output
    done = cli("advocacy", "followup-outcome", case_id, task["ref"], "--outcome", "done", "--json")
    assert done.exit_code == 0 and json.loads(done.output)["outcome"] == "done"
    assert json.loads(cli("tasks", "--json").output) == []
    bad = cli("advocacy", "followup-outcome", case_id, str(ups[1]["id"]), "--outcome", "done")
    assert bad.exit_code == 1 and "409" in bad.output and "not due" in bad.output
