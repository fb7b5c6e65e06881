"""The object store's payload-hash choice: the SDK override is pinned, a store that checks hashes keeps them, and
the override is used only with the pinned minio SDK (7.2.x; evidence/minio_sdk.py).

The "store checks payload hashes" side needs an S3 endpoint that verifies x-amz-content-sha256; the real stores
here (SeaweedFS) do not, so a small loopback HTTP server that does is used as the store (an adapter-boundary
fake). The SeaweedFS side is in tests/integration/test_object_store.py.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from minio import Minio

from evidence import minio_sdk
from evidence.minio_sdk import payload_hash_client_class
from evidence.storage import UNSIGNED_PAYLOAD, MinioObjectStore

_MISMATCH = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>XAmzContentSHA256Mismatch</Code>'
             b"<Message>The provided 'x-amz-content-sha256' header does not match what was computed.</Message>"
             b"</Error>")


def _client(**kw) -> Minio:
    return payload_hash_client_class()("127.0.0.1:9", access_key="ak", secret_key="sk", secure=False,
                                       region="us-east-1", **kw)


def _sdk_headers(client: Minio, body: bytes) -> dict[str, str]:
    creds = client._provider.retrieve()
    headers, _ = Minio._build_headers(client, "127.0.0.1:9", {"Content-Type": "x/y"}, body, creds)
    return headers


def _our_headers(client: Minio, body: bytes) -> dict[str, str]:
    creds = client._provider.retrieve()
    headers, _ = client._build_headers("127.0.0.1:9", {"Content-Type": "x/y"}, body, creds)
    return headers


def test_without_a_fixed_hash_the_sdk_headers_are_unchanged():
    """payload_hash None: exactly the SDK's headers (the SHA-256 of the body)."""
    body = b"part bytes" * 100
    client = _client()
    ours = _our_headers(client, body)
    assert ours["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    sdk = _sdk_headers(client, body)
    assert {k: v for k, v in ours.items() if k != "x-amz-date"} == {k: v for k, v in sdk.items() if k != "x-amz-date"}


def test_a_fixed_hash_changes_only_the_payload_hash_header():
    """The override sends the same headers as the SDK (minio 7.2 internals pinned), except the payload hash."""
    body = b"part bytes" * 100
    client = _client()
    client.payload_hash = UNSIGNED_PAYLOAD
    ours, sdk = _our_headers(client, body), _sdk_headers(client, body)
    assert set(ours) == set(sdk)
    assert ours["x-amz-content-sha256"] == UNSIGNED_PAYLOAD
    assert {k: v for k, v in ours.items() if k not in ("x-amz-date", "x-amz-content-sha256")} == \
        {k: v for k, v in sdk.items() if k not in ("x-amz-date", "x-amz-content-sha256")}


class _CheckingStore(BaseHTTPRequestHandler):
    """A store that, like MinIO and AWS, refuses a body whose SHA-256 differs from the signed header."""

    seen: list[str] = []

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        declared = self.headers.get("x-amz-content-sha256", "")
        self.seen.append(declared)
        if declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(body).hexdigest():
            self.send_response(400)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(_MISMATCH)))
            self.end_headers()
            self.wfile.write(_MISMATCH)
            return
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')  # noqa: S324 - S3's ETag is an MD5
        self.send_header("x-amz-version-id", "v1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def checking_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CheckingStore)
    _CheckingStore.seen = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_that_checks_payload_hashes_keeps_getting_them(checking_store):
    """auto: the probe's wrong hash is refused, so the real upload is signed with the body's SHA-256."""
    store = MinioObjectStore(checking_store, "ak", "sk", "coc-evidence")
    body = b"evidence" * 1000
    put = store.put_stream("E1/f1", io.BytesIO(body), length=len(body))
    assert put.version_id == "v1"
    assert store.client.payload_hash is None
    probe_hash, upload_hash = _CheckingStore.seen
    assert probe_hash != hashlib.sha256(b"coc payload-hash probe").hexdigest()  # the probe lied on purpose
    assert upload_hash == hashlib.sha256(body).hexdigest()


def test_sign_mode_never_probes(checking_store):
    """payload_hash="sign": no probe, SDK hashes."""
    store = MinioObjectStore(checking_store, "ak", "sk", "coc-evidence", payload_hash="sign")
    store.put_stream("E1/f1", io.BytesIO(b"abc"), length=3)
    assert _CheckingStore.seen == [hashlib.sha256(b"abc").hexdigest()]


def test_an_unreachable_store_keeps_signed_payloads():
    """A failed probe decides for signing (the upload itself then reports the store as unavailable)."""
    store = MinioObjectStore("127.0.0.1:9", "ak", "sk", "coc-evidence")
    assert store.store_ignores_payload_hash() is False


# -- the version guard ------------------------------------------------------------------------------------------
def test_only_the_pinned_minio_series_passes_the_guard():
    assert minio_sdk.minio_pinned()  # the installed SDK is the pin (pyproject.toml)
    for ok in ("7.2.0", "7.2.20", "7.2.99"):
        assert minio_sdk.minio_pinned(ok), ok
    for other in ("7.3.0", "8.0.0", "7.1.17", "7.2", "7.2.", "7.20.1", "7.2.x", ""):
        assert not minio_sdk.minio_pinned(other), other


@pytest.fixture
def other_minio(monkeypatch, caplog):
    """The installed SDK reports another version (and the once-per-version warning is fresh)."""
    import minio

    monkeypatch.setattr(minio, "__version__", "8.0.0")
    monkeypatch.setattr(minio_sdk, "_warned", set())
    return caplog


def test_another_minio_version_keeps_the_sdks_payload_hashes(checking_store, other_minio):
    """With minio 8 reported: a plain SDK client, no probe (a wrong hash cannot be sent), signed uploads."""
    store = MinioObjectStore(checking_store, "ak", "sk", "coc-evidence")
    assert type(store.client) is Minio
    assert store.store_ignores_payload_hash() is False
    body = b"evidence" * 1000
    assert store.put_stream("E1/f1", io.BytesIO(body), length=len(body)).version_id == "v1"
    assert _CheckingStore.seen == [hashlib.sha256(body).hexdigest()]  # the upload only, signed by the SDK
    warnings = [r.getMessage() for r in other_minio.records if "minio SDK 8.0.0 is not the pinned" in r.getMessage()]
    assert len(warnings) == 1  # once per version, however many stores are made


def test_prepended_stream_reads_the_first_bytes_then_the_rest():
    stream = minio_sdk.Prepended(b"abcde", io.BytesIO(b"fghij"))
    assert [stream.read(3), stream.read(3), stream.read(3), stream.read(3), stream.read(3)] == \
        [b"abc", b"de", b"fgh", b"ij", b""]
    assert minio_sdk.Prepended(b"ab", io.BytesIO(b"cd")).read() == b"abcd"
