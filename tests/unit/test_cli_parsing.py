"""Pure parts of the client and CLI (no server involved): problem parsing, list shapes, config files."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import subprocess
import sys

import httpx
import pytest
import typer

from api.cli import common
from api.client import ApiError, _digest_sha256, _file_size, _items


def _response(status: int, body: bytes, ctype: str = "application/problem+json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": ctype})


def test_problem_json_is_parsed_with_field_errors():
    body = (b'{"type":"https://x/problems/validation-failed","title":"Validation failed","status":422,'
            b'"detail":"bad shape","errors":[{"loc":["body","reporting"],"msg":"Input should be ..."}]}')
    err = ApiError.from_response(_response(422, body))
    assert (err.status, err.title) == (422, "Validation failed")
    assert err.detail == "bad shape: reporting: Input should be ..."
    assert err.type.endswith("validation-failed")


def test_plain_fastapi_and_non_json_errors_still_give_a_detail():
    err = ApiError.from_response(_response(422, b'{"detail":[{"loc":["query","limit"],"msg":"too big"}]}',
                                           "application/json"))
    assert err.detail == "limit: too big"
    html = ApiError.from_response(_response(502, b"<html>Bad gateway</html>", "text/html"))
    assert html.status == 502 and "Bad gateway" in html.detail


def test_list_shapes_and_digest_header():
    assert _items([{"a": 1}]) == [{"a": 1}]
    assert _items({"items": [{"a": 1}], "total": 1}) == [{"a": 1}]
    assert _items(None) == []
    digest = hashlib.sha256(b"x").digest()
    assert _digest_sha256("sha-256=" + base64.b64encode(digest).decode()) == digest.hex()
    assert _digest_sha256(None) is None


def test_file_size_of_files_and_pipes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abcdef")
    with path.open("rb") as fh:
        fh.read(2)
        assert _file_size(fh) == 4  # what is left to send
    assert _file_size(io.BytesIO(b"12345")) == 5
    r, w = os.pipe()
    with os.fdopen(r, "rb") as pipe, os.fdopen(w, "wb"):
        assert _file_size(pipe) is None  # unknown: the upload goes chunked


def test_token_and_config_files_are_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.delenv("COC_TOKEN", raising=False)
    assert common.load_token() is None
    path = common.save_token("tok")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert common.load_token() == "tok"
    common.save_config(api_url="http://127.0.0.1:1234")
    assert stat.S_IMODE((tmp_path / "cfg" / "config.json").stat().st_mode) == 0o600
    monkeypatch.delenv("COC_API_URL", raising=False)
    common.state.api_url = None
    assert common.api_url() == "http://127.0.0.1:1234"
    assert common.api_url("http://other") == "http://other"
    assert common.clear_token() and common.load_token() is None


def test_set_fields_decode_json_values():
    assert common.parse_fields(["a=1", "b=true", "c=text", "d=[1,2]"]) == {"a": 1, "b": True, "c": "text",
                                                                           "d": [1, 2]}
    with pytest.raises(typer.BadParameter):
        common.parse_fields(["novalue"])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_never_with_json(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with common.transfer_progress("upload x", True) as progress:
        assert progress is None  # not a TTY
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with common.transfer_progress("upload x", False) as progress:
        assert progress is None  # --json
    with common.transfer_progress("upload x", True) as progress:
        assert progress is not None
        progress(512, 1024)
        progress(1024, 1024)
    assert "upload x" in tty.getvalue()


def test_the_cli_talks_to_the_server_only_through_the_client():
    # A fresh interpreter: which of our packages does loading the whole CLI pull in?
    code = ("import sys, api.cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('core', 'policies', 'evidence', 'flows') or (m.startswith('api.') and not m.startswith('api.cli') "
            "and m != 'api.client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
