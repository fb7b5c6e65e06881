"""The minio adapter's uses of minio SDK internals (evidence/storage.py), applied only to the pinned SDK.

Two places reach below the SDK's public API, each written against minio 7.2 (pyproject.toml pins 7.2.x; minio
8 changes call signatures):
- `payload_hash_client_class`: a Minio subclass whose `_build_headers` can send a fixed payload hash instead of
  hashing every request body (see storage.MinioObjectStore, "Payload hashes");
- `put_multipart_bounded`: a multipart upload through the SDK's per-call methods (`_create_multipart_upload`,
  `_upload_part`, `_complete_multipart_upload`, `_abort_multipart_upload`) with a bounded number of parts in
  memory.
With any other SDK version (`minio_pinned()` false) neither is used: a warning is logged once and the store
keeps the SDK's own behaviour (signed payloads; the SDK's put_object, one part at a time). The overridden
headers are pinned by tests/unit/test_storage_payload_hash.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, BinaryIO

log = logging.getLogger("evidence.storage")

MINIO_PIN = "7.2."  # the SDK series whose internals this module was checked against (pyproject.toml: 7.2.x)
_warned: set[str] = set()


def minio_pinned(version: str | None = None) -> bool:
    """True when `version` (default: the installed minio.__version__) is of the pinned 7.2 series."""
    if version is None:
        import minio

        version = getattr(minio, "__version__", "")
    return version.startswith(MINIO_PIN) and version[len(MINIO_PIN):].split(".")[0].isdigit()


def sdk_internals_usable() -> bool:
    """minio_pinned(), logging once per version when it is not (the store then keeps the SDK's behaviour)."""
    if minio_pinned():
        return True
    import minio

    version = getattr(minio, "__version__", "?")
    if version not in _warned:
        _warned.add(version)
        log.warning("minio SDK %s is not the pinned %sx: the object store keeps the SDK's own payload hashes and "
                    "uploads (check evidence/minio_sdk.py against this SDK version)", version, MINIO_PIN)
    return False


@functools.cache
def payload_hash_client_class():
    """The minio client class with an optional fixed payload hash (built on first use: no import-time minio)."""
    from minio import Minio
    from minio import time as s3time

    class PayloadHashClient(Minio):
        """minio.Minio that, when `payload_hash` is set, sends it instead of hashing each request body."""

        payload_hash: str | None = None  # None: the SDK's own (SHA-256 of every body over plain HTTP)

        def _build_headers(self, host, headers=None, body=None, creds=None):
            if self.payload_hash is None or not body or creds is None or self._base_url.is_https:
                return super()._build_headers(host, headers, body, creds)
            # minio 7.2's _build_headers for a signed request over HTTP, with the payload hash given instead of
            # computed (pinned by tests/unit/test_storage_payload_hash.py).
            headers = headers or {}
            headers["Host"] = host
            headers["User-Agent"] = self._user_agent
            headers["Content-Length"] = str(len(body))
            headers["x-amz-content-sha256"] = self.payload_hash
            if creds.session_token:
                headers["X-Amz-Security-Token"] = creds.session_token
            date = s3time.utcnow()
            headers["x-amz-date"] = s3time.to_amz_date(date)
            return headers, date

    return PayloadHashClient


def client_class():
    """The class the store's clients are made of: PayloadHashClient on the pinned SDK, else minio.Minio."""
    if sdk_internals_usable():
        return payload_hash_client_class()
    from minio import Minio

    return Minio


def put_multipart_bounded(client: Any, bucket: str, key: str, first: bytes, next_part: Callable[[], bytes], *,
                          retention: Any, legal_hold: bool, content_type: str, parallel: int,
                          sse: Any = None) -> Any:
    """Multipart upload with at most `parallel` parts in memory (being read or in flight); the SDK's result.

    minio's own parallel upload queues parts without limit, so memory would grow whenever the client sends
    faster than the store writes; sequential parts bound memory but leave the network idle while reading.
    Here the next part is read (`next_part()`, b"" at the end) while up to parallel - 1 earlier parts upload,
    and reading waits for a free slot. Uses the SDK's per-call methods: call only when sdk_internals_usable().
    """
    from concurrent.futures import ThreadPoolExecutor
    from threading import BoundedSemaphore

    from minio.datatypes import Part
    from minio.helpers import genheaders

    # The server-side encryption (SSE-S3) is asked for when the upload is created; SSE-S3 needs nothing per part.
    headers = genheaders(None, sse, None, retention, legal_hold)
    headers["Content-Type"] = content_type
    upload_id = client._create_multipart_upload(bucket, key, headers)
    slots = BoundedSemaphore(parallel)
    futures = []
    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="s3-part") as pool:
            data, number = first, 1
            slots.acquire()
            while data:
                fut = pool.submit(client._upload_part, bucket, key, data, None, upload_id, number)
                fut.add_done_callback(lambda _f: slots.release())
                futures.append(fut)
                del data  # the future holds the part now; drop our reference so it can be freed
                if futures[-1].done() and futures[-1].exception():
                    break
                slots.acquire()  # wait for a free slot before reading (and holding) another part
                if any(f.done() and f.exception() for f in futures):
                    slots.release()
                    break
                data, number = next_part(), number + 1
                if not data:
                    slots.release()
        parts = [Part(i + 1, f.result()) for i, f in enumerate(futures)]  # raises the first part failure
        return client._complete_multipart_upload(bucket, key, upload_id, parts)
    except BaseException:
        with contextlib.suppress(Exception):
            client._abort_multipart_upload(bucket, key, upload_id)
        raise


class Prepended:
    """A read-only stream: `first`, then the rest of `stream` (for the SDK's put_object after a first read)."""

    def __init__(self, first: bytes, stream: BinaryIO) -> None:
        self._first = first
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._first:
            if n is None or n < 0:
                out, self._first = self._first + self._stream.read(), b""
                return out
            out, self._first = self._first[:n], self._first[n:]
            return out
        return self._stream.read(n)
