"""A change whose answer never arrived: the CLI says it may or may not have been recorded and names the command that
shows whether it was, instead of inviting a blind repeat (a second custody entry, a second item).

The real API served on loopback, behind a real TCP relay that forwards the request, waits for the server's whole
answer and then drops the connection without passing it on: the change IS recorded, the person never hears so.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.common import lookup_hint
from api.cli.main import app
from api.client import ApiError, CocClient
from tests.unit.test_cli import login_as
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def _read_message(conn: socket.socket) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (what httpx sends and uvicorn answers for JSON)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class AnswerDropper:
    """Accepts connections; sends each request to `upstream`, reads the whole answer, and closes without it."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.answers: list[bytes] = []  # the status lines the server sent and the client never got
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = _read_message(conn)
                with socket.create_connection(self.upstream) as up:
                    up.sendall(request)
                    self.answers.append(_read_message(up).split(b"\r\n", 1)[0])
                conn.shutdown(socket.SHUT_RDWR)  # the answer is lost on the way back

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dropper(live_api: LiveApi) -> Iterator[AnswerDropper]:  # noqa: F811 - fixture use
    d = AnswerDropper(live_api.url)
    yield d
    d.close()


def test_a_write_whose_answer_is_lost_says_so_and_the_named_lookup_shows_it_was_recorded(
        live_api: LiveApi, dropper: AnswerDropper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
    monkeypatch.delenv("COC_TOKEN", raising=False)
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    monkeypatch.setenv("COC_API_URL", live_api.url)
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--reporting", "restricted", "--json").output)

    monkeypatch.setenv("COC_API_URL", dropper.url)
    lost = cli("evidence", "add", case["id"], "--kind", "kit", "--description", "kit A")
    assert lost.exit_code == 1
    assert dropper.answers and b" 201 " in dropper.answers[-1]  # the server recorded it and answered
    assert "may or may not have been recorded" in lost.output, lost.output
    assert f"coc case show {case['id']}" in lost.output

    # The lookup it names (through the real API) shows the item is there: the person does not add it twice.
    monkeypatch.setenv("COC_API_URL", live_api.url)
    items = json.loads(cli("evidence", "list", case["id"], "--json").output)
    assert [i["kind"] for i in items] == ["kit"]

    # A read that loses its answer changed nothing: no such advice.
    monkeypatch.setenv("COC_API_URL", dropper.url)
    read = cli("case", "show", case["id"])
    assert read.exit_code == 1 and "may or may not" not in read.output, read.output


def test_a_request_that_never_reached_the_server_is_not_an_unknown_outcome(live_api: LiveApi):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: connection refused
        staff = live_api.user("examiner")
        with CocClient(closed, token=staff.token) as client, pytest.raises(ApiError) as exc:
            client.request("POST", "/cases", json={"reporting": "restricted"})
    assert exc.value.status == 0 and not exc.value.sent and not exc.value.outcome_unknown
    assert "cannot reach" in exc.value.detail


@pytest.mark.parametrize(("path", "command"), [
    ("/items/I123/check-in", "coc evidence show I123"),
    ("/cases/C9/consents", "coc case show C9"),
    ("/transfers/T1/accept", "coc inbox"),
    ("/reviews/R1/actions", "coc case show"),
])
def test_the_lookup_named_follows_the_request(path, command):
    hint = lookup_hint(path)
    assert command in hint and "may or may not have been recorded" in hint


def test_the_server_saying_outcome_unknown_is_an_unknown_outcome():
    said = ApiError(503, "Database unavailable", "may or may not have been recorded",
                    body={"code": "database-outcome-unknown"})
    assert said.outcome_unknown
    assert not ApiError(503, "Database unavailable", "nothing was recorded",
                        body={"code": "database-unavailable"}).outcome_unknown
