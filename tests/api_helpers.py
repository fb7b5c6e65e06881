"""In-process API test helpers: an app + TestClient on a given database, and valid tokens for any role.

Usage in a route test:
    h = api_harness(db_url, tmp_path)
    examiner = h.user("examiner")               # a staff user with a valid token
    case_id = h.client.post("/cases", json={}, headers=examiner.headers).json()["id"]
    other = h.user("advocate", assign_to=case_id)
    crime_lab = h.user("lab", agency_kind="crime-lab")   # law_enforcement defaults to the test police force
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from api.auth.issuer import hash_password, mint_token
from core.actors import Actor, system_actor
from core.db import make_engine
from core.settings import Settings, get_settings, load_settings
from policies.authz import User, UserCreate, UserUpdate, assign, create_user, update_user
from policies.permissions import Role


@dataclass
class StaffUser:
    """A staff user created for a test, with a valid access token."""

    user: User
    token: str
    password: str

    @property
    def id(self) -> str:
        """The user's id."""
        return self.user.id

    @property
    def actor(self) -> Actor:
        """The user as an Actor (for calling services directly)."""
        return Actor(id=self.user.id, role=str(self.user.role))

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header with the user's Bearer token."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ApiHarness:
    """An app, its TestClient, its settings and an engine on the same database."""

    app: FastAPI
    client: TestClient
    settings: Settings
    engine: Engine
    users: list[StaffUser] = field(default_factory=list)

    def user(self, role: str | Role, *, username: str | None = None, assign_to: str | list[str] | None = None,
             active: bool = True, agency_kind: str | None = None) -> StaffUser:
        """Create a staff user of `role` (optionally assigned to cases, or deactivated) and mint its token.

        The user belongs to the test agency of `agency_kind` (tests.evidence_support.ensure_agency); by default
        law enforcement to the test police force and everyone else to the centre."""
        from tests.evidence_support import default_agency_kind, ensure_agency

        username = username or f"{Role(role).value}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        with Session(self.engine, expire_on_commit=False) as s:
            agency_id = ensure_agency(s, agency_kind or default_agency_kind("", str(Role(role))))
            u = create_user(s, actor=system_actor("test"),
                            data=UserCreate(username=username, role=Role(role), agency=agency_id),
                            password_hash=hash_password(password))
            for case_id in [assign_to] if isinstance(assign_to, str) else (assign_to or []):
                assign(s, actor=system_actor("test"), case_id=case_id, user_id=u.id)
            if not active:
                u = update_user(s, actor=system_actor("test"), user_id=u.id, change=UserUpdate(active=False))
            s.commit()
        staff = StaffUser(user=u, token=self.token_for(u), password=password)
        self.users.append(staff)
        return staff

    def token_for(self, user: User) -> str:
        """A fresh valid access token for `user` from the app's embedded issuer."""
        return mint_token(self.settings, self.app.state.issuer_keys, user)

    def assign(self, case_id: str, user: StaffUser) -> None:
        """Assign `user` to `case_id` directly in the database."""
        with Session(self.engine) as s:
            assign(s, actor=system_actor("test"), case_id=case_id, user_id=user.id)
            s.commit()

    def close(self) -> None:
        """Close the client and dispose the engine."""
        self.client.close()
        self.engine.dispose()


def test_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Embedded-mode settings on `db_url` with everything else local to `data_dir` (nothing is started)."""
    values: dict[str, object] = {"mode": "embedded", "data_dir": data_dir, "database_url": db_url,
                                 "prefect_api_url": "http://127.0.0.1:9/api", "s3_endpoint": "127.0.0.1:9",
                                 # No Prefect here: rows stay in the outbox (tests that need delivery drain).
                                 "outbox_drain_after_commit": False,
                                 # One centre key for every process of the test session, as in a centre (case keys
                                 # made by the test process or a flow runner open in the app, and back).
                                 "identity_key": get_settings().secret("identity_key")}
    values.update(overrides)
    return load_settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite the name


def api_harness(db_url: str, data_dir: Path, *, settings: Settings | None = None, **overrides: object) -> ApiHarness:
    """Build the app against `db_url` and return it with a TestClient (raise_server_exceptions off: see 500s)."""
    settings = settings or test_settings(db_url, data_dir, **overrides)
    app = create_app(settings)
    client = TestClient(app, raise_server_exceptions=False)
    return ApiHarness(app=app, client=client, settings=settings, engine=make_engine(db_url))
