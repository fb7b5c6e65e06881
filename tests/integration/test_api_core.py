"""API behaviour on SQLite and PostgreSQL: problem+json errors, login and bootstrap, deactivation, assignments,
break-glass, the access log, attack tokens over HTTP, and the body size limit."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.auth.issuer import ADMIN_PASSWORD_FILE, ensure_bootstrap_admin, load_or_create_keys
from api.problems import MEDIA_TYPE
from core import errors
from core.ledger import EventKind, LedgerEntry
from policies.access import AccessLog
from policies.authz import BREAK_GLASS_TTL
from policies.permissions import Role
from tests.api_helpers import api_harness, test_settings
from tests.jwt_tools import SigningKey, attack_tokens


@pytest.fixture
def h(db_url, tmp_path, clock):
    """The app on a fresh database."""
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


def assert_problem(resp, status: int) -> dict:
    """The response is RFC 9457 problem+json with the given status."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(MEDIA_TYPE)
    body = resp.json()
    assert {"type", "title", "status"} <= body.keys() and body["status"] == status
    assert "Traceback" not in resp.text
    return body


ERROR_CASES = [
    (errors.ValidationFailed("bad value"), 422), (errors.PayloadTooLarge("too big"), 413),
    (errors.NotFound("no such case"), 404), (errors.Conflict("already accepted"), 409),
    (errors.PermissionDenied("not yours"), 403), (errors.ConsentRequired("no consent"), 403),
    (errors.AuthenticationFailed("who are you"), 401), (errors.RateLimited("slow down"), 429),
    (errors.DependencyUnavailable("s3 down"), 503), (errors.IntegrityViolation("hash abc mismatch"), 500),
    (errors.ConfigError("COC_X missing"), 500), (RuntimeError("secret internals"), 500),
]


@pytest.mark.parametrize("exc,status", ERROR_CASES, ids=[type(e).__name__ for e, _ in ERROR_CASES])
def test_every_error_class_is_problem_json(tmp_path, exc, status):
    """Each core.errors class (and an unexpected exception) becomes problem+json with its status, no internals."""
    settings = test_settings(f"sqlite:///{tmp_path}/unused.db", tmp_path)
    app = create_app(settings)
    boom = APIRouter()

    @boom.get("/boom")
    def _boom() -> None:
        raise exc

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = assert_problem(client.get("/boom"), status)
        resp = client.get("/boom")
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer")
    if status == 429:
        assert "retry-after" in resp.headers
    if status == 500:
        assert "abc" not in resp.text and "secret internals" not in resp.text and "COC_X" not in resp.text
    else:
        assert body["detail"]


def test_request_validation_error_is_problem_json(h):
    """A malformed body → 422 problem+json listing the errors (without echoing the input)."""
    ex = h.user(Role.EXAMINER)
    case_id = h.client.post("/cases", json={}, headers=ex.headers).json()["id"]
    resp = h.client.put(f"/cases/{case_id}/identity", json={"full_name": "", "extra": "Jane"}, headers=ex.headers)
    body = assert_problem(resp, 422)
    assert body["errors"] and "Jane" not in resp.text


def test_unknown_route_is_problem_json(h):
    """Even 404 from routing is problem+json."""
    assert_problem(h.client.get("/no-such-route"), 404)


def test_body_size_limit_is_413(db_url, tmp_path, clock):
    """Bodies over settings.body_max_bytes are refused with 413 before reaching the route."""
    small = api_harness(db_url, tmp_path, body_max_bytes=1000)
    try:
        ex = small.user(Role.EXAMINER)
        resp = small.client.post("/cases", content=b"{" + b" " * 5000 + b"}", headers={
            **ex.headers, "content-type": "application/json"})
        assert_problem(resp, 413)
    finally:
        small.close()


def test_login_issues_a_working_token_and_is_rate_limited(db_url, tmp_path, clock):
    """POST /auth/token → bearer token usable on /me; wrong passwords get 401; the 4th attempt in a minute 429."""
    h = api_harness(db_url, tmp_path, login_rate_per_min=3)
    try:
        u = h.user(Role.ADVOCATE)
        resp = h.client.post("/auth/token", data={"username": u.user.username, "password": u.password})
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        assert resp.json()["token_type"] == "bearer"
        me = h.client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["username"] == u.user.username and me["role"] == "advocate"
        assert_problem(h.client.post("/auth/token", data={"username": u.user.username, "password": "x"}), 401)
        assert_problem(h.client.post("/auth/token", data={"username": "nobody", "password": "x"}), 401)
        assert_problem(h.client.post("/auth/token", data={"username": u.user.username, "password": u.password}),
                       429)
    finally:
        h.close()


def test_jwks_is_served_and_key_file_is_private(h):
    """GET /auth/jwks.json lists the ES256 public key; the private key file is 0600."""
    keys = h.client.get("/auth/jwks.json").json()["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "ES256" and "d" not in keys[0]
    key_file = h.settings.data_dir / "keys" / "issuer-es256.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert load_or_create_keys(h.settings.data_dir).kid == keys[0]["kid"]  # stable across restarts


def test_bootstrap_admin_once_with_private_password_file(h):
    """First start creates coordinator 'admin' and writes its password (0600); it logs in; later starts do nothing."""
    with Session(h.engine) as s:
        password = ensure_bootstrap_admin(s, h.settings.data_dir)
        s.commit()
        assert password and ensure_bootstrap_admin(s, h.settings.data_dir) is None
    path = h.settings.data_dir / ADMIN_PASSWORD_FILE
    assert path.read_text().strip() == password and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    resp = h.client.post("/auth/token", data={"username": "admin", "password": password})
    me = h.client.get("/me", headers={"Authorization": f"Bearer {resp.json()['access_token']}"}).json()
    assert me["role"] == "coordinator"
    users = h.client.get("/admin/users", headers={"Authorization": f"Bearer {resp.json()['access_token']}"}).json()
    assert [(u["agency"], u["agency_kind"]) for u in users if u["username"] == "admin"] == [("Centre", "centre")]


@pytest.mark.parametrize("attack", sorted(attack_tokens(SigningKey.generate("ES256", "k"), "s", iss="i", aud="a")))
def test_attack_tokens_get_401_over_http(h, attack):
    """The attack set, built against the app's real issuer settings and a real user, is refused with 401."""
    u = h.user(Role.EXAMINER)
    # The attacker knows our public key, issuer, audience and the victim's subject — everything but the private key.
    signer = SigningKey.generate("ES256", h.app.state.issuer_keys.kid)
    token = attack_tokens(signer, u.user.subject, iss=h.settings.jwt_issuer, aud=h.settings.jwt_audience)[attack]
    resp = h.client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(resp, 401)
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_deactivation_takes_effect_on_the_next_request(h):
    """A coordinator deactivates a user: the user's still-unexpired token is refused at once."""
    admin, ex = h.user(Role.COORDINATOR), h.user(Role.EXAMINER)
    assert h.client.get("/me", headers=ex.headers).status_code == 200
    resp = h.client.patch(f"/admin/users/{ex.id}", json={"active": False}, headers=admin.headers)
    assert resp.status_code == 200 and resp.json()["active"] is False
    assert_problem(h.client.get("/me", headers=ex.headers), 401)
    assert_problem(h.client.post("/cases", json={}, headers=ex.headers), 401)


def test_admin_users_create_list_role_change(h):
    """Coordinator creates a local user (who can log in), lists users, changes a role; others may not."""
    admin = h.user(Role.COORDINATOR)
    resp = h.client.post("/admin/users", json={"username": "lab.tech", "role": "lab",
                                               "password": "correct horse battery"}, headers=admin.headers)
    assert resp.status_code == 201 and "password_hash" not in resp.json()
    uid = resp.json()["id"]
    assert h.client.post("/auth/token", data={"username": "lab.tech",
                                              "password": "correct horse battery"}).status_code == 200
    assert_problem(h.client.post("/admin/users", json={"username": "lab.tech", "role": "lab",
                                                       "password": "another long one"}, headers=admin.headers), 409)
    assert "lab.tech" in [u["username"] for u in h.client.get("/admin/users", headers=admin.headers).json()]
    assert h.client.patch(f"/admin/users/{uid}", json={"role": "auditor"}, headers=admin.headers).json()["role"] \
        == "auditor"
    assert_problem(h.client.patch(f"/admin/users/{admin.id}", json={"active": False}, headers=admin.headers), 409)
    ex = h.user(Role.EXAMINER)
    assert_problem(h.client.post("/admin/users", json={"username": "x", "role": "coordinator",
                                                       "password": "aaaaaaaaaaaaaaa"}, headers=ex.headers), 403)


def test_case_assignment_and_identity_access_log(h):
    """Opener is assigned; an unassigned examiner is refused; assignment grants; identity reads are logged."""
    ex, other, admin, auditor = (h.user(Role.EXAMINER), h.user(Role.EXAMINER), h.user(Role.COORDINATOR),
                                 h.user(Role.AUDITOR))
    case_id = h.client.post("/cases", json={"age_band": "adult"}, headers=ex.headers).json()["id"]
    assert h.client.put(f"/cases/{case_id}/identity", json={"full_name": "Jane Roe"},
                        headers=ex.headers).status_code == 204
    assert h.client.get(f"/cases/{case_id}/identity", headers=ex.headers).json()["full_name"] == "Jane Roe"
    assert_problem(h.client.get(f"/cases/{case_id}/identity", headers=other.headers), 403)
    assert [c["id"] for c in h.client.get("/cases", headers=other.headers).json()] == []
    assert h.client.post(f"/cases/{case_id}/assignments", json={"user_id": other.id},
                         headers=admin.headers).status_code == 201
    assert h.client.get(f"/cases/{case_id}/identity", headers=other.headers).status_code == 200
    assert h.client.delete(f"/cases/{case_id}/assignments/{other.id}", headers=admin.headers).status_code == 204
    assert_problem(h.client.get(f"/cases/{case_id}/identity", headers=other.headers), 403)
    log = h.client.get("/audit/access-log", params={"case_id": case_id}, headers=auditor.headers).json()
    assert sorted(r["user_id"] for r in log) == sorted([ex.id, other.id])
    assert all(r["resource"] == "GET /cases/{case_id}/identity" and not r["break_glass"] for r in log)
    assert "Jane" not in str(log)
    assert_problem(h.client.get("/audit/access-log", headers=ex.headers), 403)


def test_break_glass_grants_time_limited_logged_access(h, clock):
    """Break-glass with a reason → access until expiry, BREAK_GLASS in the ledger, listed for the auditor."""
    ex, er, auditor = h.user(Role.EXAMINER), h.user(Role.EXAMINER), h.user(Role.AUDITOR)
    case_id = h.client.post("/cases", json={}, headers=ex.headers).json()["id"]
    assert_problem(h.client.get(f"/cases/{case_id}", headers=er.headers), 403)
    assert_problem(h.client.post(f"/cases/{case_id}/break-glass", json={"reason": "short"}, headers=er.headers), 422)
    resp = h.client.post(f"/cases/{case_id}/break-glass",
                         json={"reason": "night shift, assigned examiner unreachable"}, headers=er.headers)
    assert resp.status_code == 201, resp.text
    assert h.client.get(f"/cases/{case_id}", headers=er.headers).status_code == 200
    log = h.client.get("/audit/access-log", params={"case_id": case_id}, headers=auditor.headers).json()
    assert [r["break_glass"] for r in log] == [True]
    grants = h.client.get("/audit/break-glass", headers=auditor.headers).json()
    assert grants[0]["reason"].startswith("night shift") and grants[0]["user_id"] == er.id
    with Session(h.engine) as s:
        kinds = s.execute(select(LedgerEntry.kind).where(LedgerEntry.case_id == case_id)).scalars().all()
        assert str(EventKind.BREAK_GLASS) in kinds
        assert s.execute(select(AccessLog)).scalars().first() is not None
    clock.advance(BREAK_GLASS_TTL + timedelta(seconds=1))
    assert_problem(h.client.get(f"/cases/{case_id}", headers=er.headers), 403)
    adv = h.user(Role.ADVOCATE)  # advocates have no break-glass permission
    assert_problem(h.client.post(f"/cases/{case_id}/break-glass", json={"reason": "I would like to look"},
                                 headers=adv.headers), 403)


def test_health_reports_each_part(h):
    """/health: database ready; S3 and Prefect not running here → 503 naming each part's state."""
    resp = h.client.get("/health")
    assert resp.status_code == 503
    parts = resp.json()["parts"]
    assert parts["database"]["ok"] is True
    assert parts["object_store"]["ok"] is False and parts["prefect"]["ok"] is False
