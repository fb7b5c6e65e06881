"""Sessions renewed for a working day (POST /auth/refresh) on SQLite and PostgreSQL: rotation, reuse detection,
10 h expiry on the ManualClock, deactivation and logout end them; the client renews an expired access token."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from api.auth.issuer import mint_token
from api.client import CocClient
from core.actors import system_actor
from policies.authz import UserUpdate, update_user
from policies.sessions import RefreshToken
from tests.api_helpers import api_harness


@pytest.fixture
def h(db_url, tmp_path, clock):
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


def _login(h, staff) -> dict:
    resp = h.client.post("/auth/token", data={"username": staff.user.username, "password": staff.password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["refresh_token"] and body["access_token"]
    return body


def _refresh(h, token: str) -> httpx.Response:
    return h.client.post("/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_a_replayed_token_ends_the_session(h, clock):
    staff = h.user("examiner")
    first = _login(h, staff)
    clock.advance(timedelta(minutes=20))
    second = _refresh(h, first["refresh_token"])
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["expires_in"] == 15 * 60 and pair["refresh_token"] != first["refresh_token"]
    me = h.client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == staff.user.username
    # Only hashes are stored.
    with Session(h.engine) as s:
        hashes = {r.token_hash for r in s.execute(select(RefreshToken)).scalars()}
    assert first["refresh_token"] not in hashes and pair["refresh_token"] not in hashes and len(hashes) == 2

    # The spent token replayed: refused, and the whole chain is revoked (the thief's copy and ours alike).
    assert _refresh(h, first["refresh_token"]).status_code == 401
    assert _refresh(h, pair["refresh_token"]).status_code == 401
    assert _refresh(h, "not-a-token").status_code == 401


def test_a_session_lasts_10_hours_from_login_whatever_the_renewals(h, clock):
    staff = h.user("lab")
    token = _login(h, staff)["refresh_token"]
    for _ in range(4):  # renewed every 2.5 h: still the same login
        clock.advance(timedelta(hours=2, minutes=29))
        resp = _refresh(h, token)
        assert resp.status_code == 200, resp.text
        token = resp.json()["refresh_token"]
    clock.advance(timedelta(minutes=5))  # 10 h 1 min after the login
    resp = _refresh(h, token)
    assert resp.status_code == 401 and "run `coc login`" in resp.json()["detail"]


def test_deactivation_and_logout_end_the_session(h, clock):
    coordinator = h.user("coordinator")
    staff = h.user("advocate")
    token = _login(h, staff)["refresh_token"]
    with Session(h.engine) as s:
        update_user(s, actor=system_actor("test"), user_id=staff.id, change=UserUpdate(active=False))
        s.commit()
        assert all(r.revoked_at is not None for r in s.execute(
            select(RefreshToken).where(RefreshToken.user_id == staff.id)).scalars())
    assert _refresh(h, token).status_code == 401

    token = _login(h, coordinator)["refresh_token"]
    assert h.client.post("/auth/logout", json={"refresh_token": token}).status_code == 204
    assert _refresh(h, token).status_code == 401


def test_deactivated_account_is_refused_even_with_a_live_refresh_token(h, clock):
    staff = h.user("examiner")
    token = _login(h, staff)["refresh_token"]
    with Session(h.engine) as s:  # deactivated behind the service's back: renewal still checks the account
        from policies.authz import User

        user = s.get(User, staff.id)
        user.active = False
        s.add(user)
        s.commit()
    resp = _refresh(h, token)
    assert resp.status_code == 401 and "deactivated" in resp.json()["detail"]
    with Session(h.engine) as s:
        assert all(r.revoked_at is not None for r in s.execute(select(RefreshToken)).scalars())


def test_client_renews_an_expired_access_token_once_and_reports_the_new_pair(h, clock):
    staff = h.user("examiner")
    token = _login(h, staff)["refresh_token"]
    with Session(h.engine) as s:
        from policies.authz import User

        expired = mint_token(h.settings, h.app.state.issuer_keys, s.get(User, staff.id), ttl_s=-3600)
    seen = []
    with CocClient("http://testserver", expired, transport=h.client._transport, refresh_token=token,
                   on_tokens=seen.append) as api:
        assert api.me()["username"] == staff.user.username
        assert api.me()["username"] == staff.user.username  # the renewed token is kept: no second renewal
    assert len(seen) == 1 and seen[0].refresh_token != token
    assert _refresh(h, token).status_code == 401  # spent by the client
