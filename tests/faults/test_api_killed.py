"""An API process SIGKILLed in the middle of a burst of consent decisions and item collections (uvicorn in a
subprocess, SQLite and PostgreSQL): the clients in flight get no answer; after a restart every acknowledged
request has its effect exactly once, a request cut short at most once and whole, and the ledger verifies."""

from __future__ import annotations

import httpx

from tests.faults.checks import assert_consistent
from tests.faults.procs import (
    ApiProcess,
    Outcome,
    burst,
    consent_or_item,
    decision,
    mixed_tags,
    open_case_for_burst,
    staff,
)


def test_an_api_killed_mid_burst_leaves_every_decision_whole_and_once(db_url, engine, tmp_path):
    api = ApiProcess(tmp_path / "data", db_url).start()
    try:
        examiner = staff(engine, api.settings(), "examiner")
        case_id = open_case_for_burst(api.url, examiner)
        url = f"{api.url}/cases/{case_id}/consents"
        outcomes = burst(consent_or_item(api.url, case_id, examiner), mixed_tags("KILL", 40), during=api.kill,
                         after=6)
        statuses = [o.status for o in outcomes]
        assert 201 in statuses and None in statuses, statuses  # some answered, some were cut short
        assert not [s for s in statuses if s not in (201, None)], statuses

        api.start()
        assert_consistent(engine, consents=outcomes)
        again = httpx.post(url, json=decision("F-KILL-AFTER"), headers=examiner, timeout=30)
        assert again.status_code == 201, again.text
        assert_consistent(engine, consents=[*outcomes, Outcome("F-KILL-AFTER", 201, again.json())])
    finally:
        api.stop()
