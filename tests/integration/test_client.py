"""api.client.CocClient against the real app served by uvicorn on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest

from api.client import CHUNK, ApiError, CocClient, Token
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


def _case_with_item(api: CocClient) -> tuple[str, str]:
    case = api.open_case(reporting="unrestricted")
    for scope in ("forensic-exam", "evidence-swabs"):
        api.record_consent(case["id"], scope=scope, decision="granted", method="verbal")
    item = api.add_item(case["id"], kind="swab", description="oral swab")
    return case["id"], item["id"]


def test_streamed_upload_and_download_with_progress(live_api: LiveApi, tmp_path):  # noqa: F811
    examiner = live_api.user("examiner")
    data = os.urandom(3 * CHUNK + 123)
    src = tmp_path / "photo.raw"
    src.write_bytes(data)
    seen_up: list[tuple[int, int | None]] = []
    seen_down: list[tuple[int, int | None]] = []
    with CocClient(live_api.url, examiner.token) as api:
        _, item_id = _case_with_item(api)
        with src.open("rb") as fh:
            stored = api.upload_file(item_id, fh, "photo.raw", progress=lambda d, t: seen_up.append((d, t)))
        assert stored["sha256"] == hashlib.sha256(data).hexdigest() and stored["size"] == len(data)
        assert stored["original_name"] == "photo.raw"  # sent in Content-Disposition, not in the URL
        assert seen_up[-1] == (len(data), len(data)) and len(seen_up) == 4  # one callback per 1 MiB chunk
        out = io.BytesIO()
        got = api.download_file(item_id, out, progress=lambda d, t: seen_down.append((d, t)))
        assert out.getvalue() == data
        assert got.bytes == len(data) and got.sha256 == stored["sha256"]
        assert seen_down[-1] == (len(data), len(data))
        assert api.label(item_id, "pdf").startswith(b"%PDF")


def test_upload_of_unknown_length_goes_chunked(live_api: LiveApi):  # noqa: F811
    examiner = live_api.user("examiner")
    payload = os.urandom(CHUNK + 7)
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, payload), os.close(w)))
    writer.start()
    with CocClient(live_api.url, examiner.token) as api, os.fdopen(r, "rb") as pipe:
        _, item_id = _case_with_item(api)
        stored = api.upload_file(item_id, pipe, "stdin.bin")
    writer.join()
    assert stored["sha256"] == hashlib.sha256(payload).hexdigest()


def test_custody_handover_and_scan_through_the_client(live_api: LiveApi):  # noqa: F811
    examiner = live_api.user("examiner")
    lab = live_api.user("lab")
    with CocClient(live_api.url, examiner.token) as api:
        _, item_id = _case_with_item(api)
        api.seal(item_id, seal_number="S-1")
        transfer = api.offer_transfer(item_id, to_user=lab.id, reason="storage", condition="sealed")
    with CocClient(live_api.url, lab.token) as api:
        accepted = api.accept_transfer(transfer["id"], condition="sealed", seal_number="S-1", seal_intact=True)
        assert accepted["item"]["custodian"] == lab.id
        assert api.scan(item_id, location="SHELF-1")["event"]["kind"] == "checked-in"
        assert api.scan(item_id)["event"]["kind"] == "checked-out"
        with pytest.raises(ApiError) as exc:
            api.check_out(item_id, reason="twice")  # not checked in any more
        assert exc.value.status == 409
        kinds = [e["kind"] for e in api.custody(item_id)]
        assert kinds == ["collected", "sealed", "transfer-offered", "transfer-accepted", "checked-in", "checked-out"]
