"""`coc audit access-log --refused` and the client's outcome filter, against the app served by uvicorn."""

from __future__ import annotations

import json

import pytest

from api.client import ApiError, CocClient
from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def test_access_log_verb_lists_refusals_by_username_and_reads_by_default(cli, live_api: LiveApi):  # noqa: F811
    """A stranger's refused look at a case shows under --refused (named by username), not among the reads."""
    examiner = login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    assert cli("case", "show", case["id"]).exit_code == 0
    stranger = login_as(cli, live_api, "examiner")
    refused = cli("case", "show", case["id"])
    assert refused.exit_code == 1 and "403" in refused.output

    login_as(cli, live_api, "auditor")
    result = cli("audit", "access-log", "--refused", "--user", stranger.user.username, "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["user_id"] == stranger.id and row["outcome"] == "refused" and row["case_id"] == case["id"]
    assert row["permission"] == "case:case:read" and row["reason"].startswith("PermissionDenied: you are not")
    reads = json.loads(cli("audit", "access-log", "--case", case["id"], "--json").output)
    assert all(r["outcome"] == "read" for r in reads)
    every = json.loads(cli("audit", "access-log", "--all", "--case", case["id"], "--json").output)
    assert [r["user_id"] for r in every if r["outcome"] == "refused"] == [stranger.id]
    table = cli("audit", "access-log", "--refused")
    assert table.exit_code == 0 and "refused" in table.output and "case:case:read" in table.output
    assert cli("audit", "access-log", "--refused", "--all").exit_code == 2
    assert examiner.id not in [r["user_id"] for r in every if r["outcome"] == "refused"]


def test_client_access_log_outcome_filter(live_api: LiveApi):  # noqa: F811
    examiner, stranger, auditor = (live_api.user("examiner"), live_api.user("examiner"), live_api.user("auditor"))
    with CocClient(live_api.url, token=examiner.token) as api:
        case_id = api.open_case()["id"]
    with CocClient(live_api.url, token=stranger.token) as api:
        with pytest.raises(ApiError) as refused:
            api.get_exam(case_id)
        assert refused.value.status == 403
    with CocClient(live_api.url, token=auditor.token) as api:
        [row] = api.access_log(outcome="refused", object_id=case_id)
        assert row["user_id"] == stranger.id and row["permission"] == "exam:exam:read"
        assert api.access_log(case_id=case_id) == []
