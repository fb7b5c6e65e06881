"""Staff logins move from scrypt to argon2id (POST /auth/token) on SQLite and PostgreSQL: a user with an scrypt
hash of an earlier version logs in, the stored hash becomes argon2id, the next login verifies against it; wrong
passwords are refused before and after, and a refused login changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from policies.authz import User
from tests.api_helpers import api_harness
from tests.unit.test_passwords import legacy_scrypt_hash


@pytest.fixture
def h(db_url, tmp_path):
    harness = api_harness(db_url, tmp_path)
    yield harness
    harness.close()


def _stored_hash(h, user_id: str) -> str:
    with Session(h.engine) as s:
        user = s.get(User, user_id)
        assert user is not None and user.password_hash
        return user.password_hash


def _set_hash(h, user_id: str, value: str) -> None:
    with Session(h.engine) as s:
        user = s.get(User, user_id)
        assert user is not None
        user.password_hash = value
        s.add(user)
        s.commit()


def _login(h, username: str, password: str):
    return h.client.post("/auth/token", data={"username": username, "password": password})


def test_scrypt_user_is_rehashed_to_argon2id_at_login(h):
    staff = h.user("examiner")
    name, password = staff.user.username, staff.password
    old = legacy_scrypt_hash(password)
    _set_hash(h, staff.id, old)

    wrong = _login(h, name, password + "x")
    assert wrong.status_code == 401, wrong.text
    assert _stored_hash(h, staff.id) == old  # a refused login rewrites nothing

    first = _login(h, name, password)
    assert first.status_code == 200, first.text
    new = _stored_hash(h, staff.id)
    assert new.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), new

    assert _login(h, name, password + "x").status_code == 401  # refused against argon2id too
    again = _login(h, name, password)
    assert again.status_code == 200, again.text
    assert _stored_hash(h, staff.id) == new  # verified against argon2id, not rehashed again
    assert h.client.get("/me", headers={"Authorization": f"Bearer {again.json()['access_token']}"}).status_code == 200
