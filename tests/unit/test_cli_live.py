"""A real API served by uvicorn on a free loopback port, for the client and CLI tests (no server mocks).

Import the `live_api` fixture from here: `from tests.unit.test_cli_live import live_api  # noqa: F401`.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from tests.api_helpers import ApiHarness, StaffUser, api_harness


class _Server(uvicorn.Server):
    """uvicorn without signal handlers (it runs in a worker thread)."""

    def install_signal_handlers(self) -> None:
        """Leave signals to pytest."""


@dataclass
class LiveApi:
    """The served app: its URL and the in-process harness (users, tokens, engine) on the same database."""

    url: str
    harness: ApiHarness

    def user(self, role: str, **kwargs: object) -> StaffUser:
        """Create a staff user (with password and token) directly in the database."""
        return self.harness.user(role, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def serve(harness: ApiHarness) -> Iterator[str]:
    """Serve `harness.app` on 127.0.0.1 (pre-bound socket: no port race) and yield its URL until closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(harness.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    # Poll the flag uvicorn sets once it listens; the wait is bounded by the thread dying, not by time.
    while not server.started and thread.is_alive():
        started.wait(0.02)
    if not thread.is_alive():
        raise RuntimeError("the API server did not start (see the log above)")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def live_api(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveApi]:
    """The real app on `db_url` (SQLite and PostgreSQL), with the session S3 store, served on loopback."""
    s3 = request.getfixturevalue("s3_settings")
    harness = api_harness(db_url, tmp_path / "data", s3_bucket=f"coc-cli-{secrets.token_hex(5)}", **s3.overrides())
    try:
        with serve(harness) as url:
            yield LiveApi(url=url, harness=harness)
    finally:
        harness.close()
