"""api.client.CocClient against the real app served by uvicorn on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from api.client import ApiError, CocClient, Token
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def test_login_returns_a_token_that_never_shows_in_reprs(live_api: LiveApi):  # noqa: F811
    staff = live_api.user("examiner")
    with CocClient(live_api.url) as api:
        token = api.login(staff.user.username, staff.password)
        assert isinstance(token, Token) and token.access_token
        assert token.access_token not in repr(token) and token.access_token not in str(token)
        assert token.access_token not in repr(api)
        assert api.me()["username"] == staff.user.username


def test_errors_are_parsed_from_problem_json(live_api: LiveApi):  # noqa: F811
    staff = live_api.user("examiner")
    with CocClient(live_api.url) as api:
        with pytest.raises(ApiError) as unauth:
            api.me()
        assert unauth.value.status == 401
        with pytest.raises(ApiError) as bad_login:
            api.login(staff.user.username, "not-the-password")
        assert bad_login.value.status == 401 and bad_login.value.detail
    with CocClient(live_api.url, staff.token) as api:
        with pytest.raises(ApiError) as invalid:
            api.open_case(reporting="sideways")
        assert invalid.value.status == 422
        assert "reporting" in invalid.value.detail
        assert invalid.value.type.endswith("validation-failed")
        with pytest.raises(ApiError) as missing:
            api.get_case("C0000000000000000")
        assert missing.value.status in (403, 404)


def test_case_lifecycle_and_admin(live_api: LiveApi):  # noqa: F811
    examiner = live_api.user("examiner")
    coordinator = live_api.user("coordinator")
    with CocClient(live_api.url, examiner.token) as api:
        case = api.open_case(reporting="restricted")
        assert api.get_case(case["id"])["reporting"] == "restricted"
        assert [c["id"] for c in api.list_cases()] == [case["id"]]
        assert api.put_identity(case["id"], {"full_name": "Sam Example"}) is None  # 204
        assert api.get_identity(case["id"])["full_name"] == "Sam Example"
    with CocClient(live_api.url, coordinator.token) as admin:
        user = admin.create_user(username="advocate-kim", role="advocate", password="a long enough pw")
        assert user["role"] == "advocate"
        assert "advocate-kim" in [u["username"] for u in admin.list_users()]
        admin.assign(case["id"], user["id"])
        admin.unassign(case["id"], user["id"])
        assert admin.update_user(user["id"], active=False)["active"] is False


def test_unreachable_server_is_an_api_error_with_status_0():
    with CocClient("http://127.0.0.1:9", timeout=2, connect_timeout=2) as api, pytest.raises(ApiError) as exc:
        api.health()
    assert exc.value.status == 0 and "cannot reach" in exc.value.detail
