"""Header limits and token limits over real HTTP (issue #18): the app served by uvicorn on loopback with the
stack's protocol options (api.limits.uvicorn_config), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.main import main as uvicorn_cli

from api.auth.jwt import MAX_TOKEN_BYTES, sign
from api.limits import (
    H11_MAX_HEAD_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    CappedH11Protocol,
    uvicorn_args,
    uvicorn_config,
)
from api.stack.supervisor import Stack
from policies.permissions import Role
from tests.api_helpers import ApiHarness, api_harness


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Leave signals to pytest."""


@contextlib.contextmanager
def serve(h: ApiHarness) -> Iterator[tuple[str, int]]:
    """Serve the app on 127.0.0.1 with the stack's header limits; yield (host, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(h.app, log_level="warning", lifespan="off", **uvicorn_config()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    while not server.started and thread.is_alive():
        ready.wait(0.02)
    assert thread.is_alive(), "the API server did not start"
    try:
        yield "127.0.0.1", sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def live(db_url, tmp_path):
    """The app (fresh database) served over real HTTP, with an examiner's token."""
    h = api_harness(db_url, tmp_path)
    try:
        with serve(h) as addr:
            yield h, addr
    finally:
        h.close()


def raw_request(addr: tuple[str, int], head: bytes) -> tuple[int, bytes]:
    """Send a raw request head (sending may be cut short by the server), return (status, whole response)."""
    with socket.create_connection(addr, timeout=30) as conn:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            view = memoryview(head)
            while view:
                sent = conn.send(view[:65536])
                view = view[sent:]
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    data = b"".join(chunks)
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data[9:12]), data


def test_an_8_mib_header_is_refused_with_431(live):
    """One 8 MiB header: the server stops reading the head and answers 431 (problem+json)."""
    _h, addr = live
    head = b"GET /me HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    status, data = raw_request(addr, head)
    assert status == 431
    assert b"application/problem+json" in data and b"too large" in data


def test_5000_headers_are_refused_with_431(live):
    """5,000 small headers (well under the head-size cap in all): refused by count, 431 naming the limits."""
    h, addr = live
    examiner = h.user(Role.EXAMINER)
    head = (b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: " + examiner.headers["Authorization"].encode() + b"\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n")
    status, data = raw_request(addr, head)
    assert status == 431
    assert str(MAX_HEADER_COUNT).encode() in data


def test_headers_just_under_the_limits_pass(live):
    """A normal request with a few dozen headers is answered by the route (200)."""
    h, (host, port) = live
    examiner = h.user(Role.EXAMINER)
    headers = {**examiner.headers, **{f"X-Extra-{i}": "v" * 100 for i in range(MAX_HEADER_COUNT - 20)}}
    resp = httpx.get(f"http://{host}:{port}/me", headers=headers)
    assert resp.status_code == 200, resp.text
    too_big = {**examiner.headers, "X-Pad": "p" * (MAX_HEADER_BYTES + 1)}
    assert httpx.get(f"http://{host}:{port}/me", headers=too_big).status_code == 431


def _signed(h: ApiHarness, sub: str, **claims: object) -> str:
    """A token validly signed by the app's own issuer key, with `claims` over the usual ones."""
    now = int(time.time())
    keys = h.app.state.issuer_keys
    base: dict[str, object] = {"iss": h.settings.jwt_issuer, "aud": h.settings.jwt_audience, "sub": sub,
                               "iat": now, "nbf": now, "exp": now + 300}
    base.update(claims)
    return sign(base, keys.private_pem, kid=keys.kid)


def test_oversized_and_mistyped_tokens_are_refused_over_http(live):
    """Validly signed by the app's key: a 16 KB token → 401 (size); 80 KB and 600 KB ones → refused before any
    decoding (431: the header cap comes first); a string `exp` → 401 naming the claim. The normal token → 200."""
    h, (host, port) = live
    examiner = h.user(Role.EXAMINER)
    url = f"http://{host}:{port}/me"
    assert httpx.get(url, headers={"Authorization": f"Bearer {_signed(h, examiner.user.subject)}"}).status_code == 200
    big = _signed(h, examiner.user.subject, pad="x" * 16_000)
    resp = httpx.get(url, headers={"Authorization": f"Bearer {big}"})
    assert resp.status_code == 401 and f"longer than {MAX_TOKEN_BYTES} bytes" in resp.json()["detail"]
    for size in (80_000, 600_000):
        huge = _signed(h, examiner.user.subject, pad="x" * size)
        assert httpx.get(url, headers={"Authorization": f"Bearer {huge}"}).status_code in {401, 431}
    stringy = _signed(h, examiner.user.subject, exp=str(int(time.time()) + 300))
    resp = httpx.get(url, headers={"Authorization": f"Bearer {stringy}"})
    assert resp.status_code == 401 and "'exp' claim must be a number" in resp.json()["detail"]


def test_the_stack_starts_uvicorn_with_the_capped_protocol():
    """`coc up`'s uvicorn arguments parse with uvicorn's own CLI and name our protocol and head-size cap."""
    ctx = uvicorn_cli.make_context("uvicorn", ["api.app:create_app", "--factory", *uvicorn_args()])
    assert ctx.params["h11_max_incomplete_event_size"] == H11_MAX_HEAD_BYTES
    assert import_from_string(ctx.params["http"]) is CappedH11Protocol
    assert "uvicorn_args()" in inspect.getsource(Stack._start_api)
