"""PrefectWaker.resume retries a 503 quickly instead of waiting for Prefect's 2 s backoff.

The Prefect server's "database is locked" 503 cannot be produced on demand, so a small loopback HTTP server
plays the Prefect API for this one endpoint (an adapter-boundary fake; the real server is used by
tests/integration/test_outbox.py and the end-to-end pathway tests).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core import outbox

_ACCEPT = json.dumps({"state": None, "status": "ACCEPT", "details": {"type": "accept_details"}}).encode()


class _FlakyPrefect(BaseHTTPRequestHandler):
    """Answers POST /api/flow_runs/{id}/resume with `failures` 503s (or another status), then ACCEPT."""

    failures = 0
    status = 503
    calls: list[tuple[float, dict]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        # The client asks for a CSRF token first; answer as a server with CSRF protection off.
        self._reply(422, b'{"detail": "CSRF protection is disabled."}')

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        type(self).calls.append((time.monotonic(), body))
        if not self.path.endswith("/resume"):
            self._reply(404, b'{"detail": "not found"}')
        elif len(type(self).calls) <= type(self).failures:
            self._reply(type(self).status, b'{"detail": "database is locked"}')
        else:
            self._reply(200, _ACCEPT)

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def prefect_api() -> Iterator[str]:
    _FlakyPrefect.calls, _FlakyPrefect.failures, _FlakyPrefect.status = [], 0, 503
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyPrefect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_two_503s_are_retried_within_a_fraction_of_a_second(prefect_api):
    """Two 503s, then ACCEPT: resumed, three calls, the retries 0.05 s and 0.1 s apart (not 2 s)."""
    _FlakyPrefect.failures = 2
    waker = outbox.PrefectWaker(prefect_api)
    assert waker.resume(str(uuid.uuid4()), {"case_id": "C1", "checkpoint": "k"}) is True
    times = [t for t, _ in _FlakyPrefect.calls]
    assert len(times) == 3
    assert all(body == {"run_input": {"case_id": "C1", "checkpoint": "k"}} for _, body in _FlakyPrefect.calls)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= outbox.QUICK_RETRY_DELAYS[0] and gaps[1] >= outbox.QUICK_RETRY_DELAYS[1]
    assert max(gaps) < 1.5  # Prefect's own first retry would have waited ~2 s


def test_other_errors_are_not_retried(prefect_api):
    """A 409 (any non-503) is not retried quickly: the call goes once more through Prefect's own client."""
    _FlakyPrefect.failures, _FlakyPrefect.status = 2, 409
    with pytest.raises(httpx.HTTPStatusError):
        outbox.PrefectWaker(prefect_api).resume(str(uuid.uuid4()), {"case_id": "C1", "checkpoint": "k"})
    assert len(_FlakyPrefect.calls) == 2


def test_after_the_quick_retries_prefects_own_retries_still_apply(prefect_api):
    """More 503s than quick retries: then Prefect's client with its backoff, and the resume still lands."""
    _FlakyPrefect.failures = len(outbox.QUICK_RETRY_DELAYS) + 2
    assert outbox.PrefectWaker(prefect_api).resume(str(uuid.uuid4()), {"case_id": "C1", "checkpoint": "k"})
    assert len(_FlakyPrefect.calls) == len(outbox.QUICK_RETRY_DELAYS) + 3
