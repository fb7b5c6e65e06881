"""Real processes a fault test starts, kills and restarts itself: the API on uvicorn in a subprocess (on the
test's database and S3 store), staff accounts with tokens it accepts, and a burst of concurrent requests whose
outcomes are sorted into acknowledged (2xx), refused (an error answer) and lost (no answer at all)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pgserver
from cryptography.fernet import Fernet
from pgserver._commands import pg_ctl
from sqlmodel import Session

from api.auth.issuer import hash_password, load_or_create_keys, mint_token
from api.stack.children import inherited_env
from core.actors import system_actor
from core.db import normalize_url
from core.settings import SECRETS_FILE, Settings, get_settings, load_settings
from policies.authz import UserCreate, assign, create_user
from policies.permissions import Role
from tests.evidence_support import default_agency_kind, ensure_agency
from tests.fixtures.stack import free_ports
from tests.services import PgTemplates

READY_TIMEOUT_S = 120.0


def write_secrets(data_dir: Path, access_key: str = "", secret_key: str = "") -> None:
    """The embedded secrets file, so this process and the API subprocess share the S3 keys and the centre key."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRETS_FILE
    doc = {"s3_access_key": access_key or "unused", "s3_secret_key": secret_key or "unused",
           "identity_key": Fernet.generate_key().decode()}
    if not path.exists():
        path.write_text(json.dumps(doc))
        path.chmod(0o600)


class ApiProcess:
    """`uvicorn api.app:create_app --factory` on `db_url` in its own process group; start/kill/restart."""

    def __init__(self, data_dir: Path, db_url: str, *, s3_endpoint: str = "127.0.0.1:9", s3_bucket: str = "",
                 s3_keys: tuple[str, str] = ("", ""), **env: str) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_ports(1)[0]
        write_secrets(self.data_dir, *s3_keys)
        load_or_create_keys(self.data_dir)  # the issuer key, before the API would make its own
        self.overrides: dict[str, object] = {
            "mode": "embedded", "data_dir": self.data_dir, "database_url": db_url, "api_port": self.port,
            "s3_endpoint": s3_endpoint, "prefect_api_url": "http://127.0.0.1:9/api",
            "outbox_drain_after_commit": False, "login_rate_per_min": 600,
            # the test process's centre key: the checks read the texts the API sealed under its case keys
            "identity_key": get_settings().secret("identity_key")}
        if s3_bucket:
            self.overrides["s3_bucket"] = s3_bucket
        self.env = inherited_env()
        self.env.update({f"COC_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                         for k, v in self.overrides.items()})
        self.env.update(env)
        self.log_path = self.data_dir / f"api-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> Settings:
        """The settings the subprocess runs with (same issuer, keys and database)."""
        return load_settings(**self.overrides)

    def start(self) -> ApiProcess:
        """Start uvicorn and wait until it answers HTTP."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.data_dir)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the API exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=5).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"the API did not answer within {READY_TIMEOUT_S:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        """What the API printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the API's whole process group (no shutdown code runs) and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def staff(engine, settings: Settings, role: str, *, assign_to: str | None = None) -> dict[str, str]:
    """Bearer headers the API accepts, of a new staff account of `role` (in the test agency for the role)."""
    with Session(engine, expire_on_commit=False) as s:
        agency_id = ensure_agency(s, default_agency_kind("", role))
        user = create_user(s, actor=system_actor("test"),
                           data=UserCreate(username=f"{role}-{secrets.token_hex(4)}", role=Role(role),
                                           agency=agency_id), password_hash=hash_password(secrets.token_hex(8)))
        if assign_to:
            assign(s, actor=system_actor("test"), case_id=assign_to, user_id=user.id)
        s.commit()
    token = mint_token(settings, load_or_create_keys(settings.data_dir), user)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Outcome:
    """One request of a burst: `tag` names its effect; status None when no answer came back."""

    tag: str
    status: int | None
    body: dict = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        """A success answer: its effect must be present exactly once."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def outcome_unknown(self) -> bool:
        """503 "may or may not have been recorded": the database connection was lost during COMMIT (PostgreSQL
        may have committed); like a lost request, its effect is there at most once, and then whole."""
        return self.status == 503 and str(self.body.get("type", "")).endswith("/database-outcome-unknown")

    @property
    def refused(self) -> bool:
        """An error answer that says nothing was recorded: its effect must be absent."""
        return self.status is not None and not self.acknowledged and not self.outcome_unknown


def burst(send: Callable[[httpx.Client, str], httpx.Response], tags: list[str], *, during: Callable[[], None],
          after: int = 3, workers: int = 10) -> list[Outcome]:
    """Send one request per tag from `workers` threads; call `during()` once `after` requests have answered."""
    answered: list[int] = []

    def one(tag: str) -> Outcome:
        with httpx.Client(timeout=60) as client:
            try:
                resp = send(client, tag)
            except httpx.HTTPError:
                return Outcome(tag, None)
        answered.append(1)
        try:
            body = resp.json()
        except ValueError:
            body = {"text": resp.text[:300]}
        return Outcome(tag, resp.status_code, body if isinstance(body, dict) else {"list": body})

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(one, t) for t in tags]
        deadline = time.monotonic() + 60
        while len(answered) < after and time.monotonic() < deadline:
            time.sleep(0.01)
        during()
        return [f.result() for f in futures]


class OwnPostgres:
    """A PostgreSQL server of this test alone (pgserver's binaries): stop it like a crash, start it again."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="coc-fault-pg-"))  # outside basetemp (see tests/conftest.py)
        self.server = pgserver.get_server(str(self.workdir / "pg"), cleanup_mode="delete")
        self.templates = PgTemplates(normalize_url(self.server.get_uri()))

    def database(self) -> str:
        """A new migrated database on this server."""
        return self.templates.fresh()

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every backend ends at once, no checkpoint (recovery runs at the next start)."""
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        """Start the server again on the same data directory and socket."""
        self.server.ensure_postgres_running()

    def close(self) -> None:
        """Stop the server and delete its data."""
        self.templates.admin.dispose()
        self.server.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)


def decision(tag: str) -> dict:
    """A written grant of medical care whose form reference tags the request."""
    return {"scope": "medical-care", "decision": "granted", "method": "written", "form_ref": tag}


def open_case_for_burst(api_url: str, headers: dict) -> str:
    """A case (through the API) with the consents a swab's collection needs; returns its id."""
    case_id = httpx.post(f"{api_url}/cases", json={}, headers=headers, timeout=30).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        r = httpx.post(f"{api_url}/cases/{case_id}/consents", headers=headers, timeout=30,
                       json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    return case_id


def consent_or_item(api_url: str, case_id: str, headers: dict) -> Callable[[httpx.Client, str], httpx.Response]:
    """A burst's request: tags "I-…" collect a swab (a custody change; the tag is its description), other tags
    record a consent decision (the tag is its form reference)."""
    def send(client: httpx.Client, tag: str) -> httpx.Response:
        if tag.startswith("I-"):
            return client.post(f"{api_url}/cases/{case_id}/items", headers=headers,
                               json={"kind": "swab", "description": tag})
        return client.post(f"{api_url}/cases/{case_id}/consents", json=decision(tag), headers=headers)
    return send


def mixed_tags(prefix: str, n: int) -> list[str]:
    """`n` tags alternating consent decisions and item collections."""
    return [f"I-{prefix}-{i}" if i % 2 else f"F-{prefix}-{i}" for i in range(n)]


MIB = 1024 * 1024


def stream_upload(url: str, headers: dict, chunk: bytes, mib: int,
                  on_chunk: Callable[[int], None] = lambda i: None) -> httpx.Response | str:
    """PUT `mib` copies of the 1 MiB `chunk` (declared length) from a generator, calling `on_chunk(i)` before each;
    the answer, or the name of the transport error when none came back."""
    def body():
        for i in range(mib):
            on_chunk(i)
            yield chunk

    try:
        return httpx.put(url, content=body(), headers={**headers, "Content-Length": str(mib * MIB)}, timeout=120)
    except httpx.HTTPError as exc:
        return type(exc).__name__
