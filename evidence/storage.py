"""Object storage for evidence files: an `ObjectStore` Protocol and its minio-SDK adapter (S3 with Object Lock).

Evidence is encrypted at rest by the store (SSE-S3: `x-amz-server-side-encryption: AES256` on every put) once
`check_encryption` proved the store applies it; the SHA-256 recorded for a file is of its plaintext, which the
store hands back on every read, so reads and fixity verify unchanged.

The adapter's uses of minio SDK internals (a fixed payload hash, a bounded parallel multipart upload) are in
evidence/minio_sdk.py and apply only to the pinned SDK (7.2.x); otherwise the SDK's own behaviour is kept.

No client is created at import; `get_object_store(settings)` builds one on demand. Object keys are built by
callers from opaque ids only. Deleting a version: the purge sweep (evidence.purge, once the lock has ended) and
the conformance check that proves a locked one is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from core.clock import SystemClock, as_utc
from core.errors import DependencyUnavailable, IntegrityViolation, NotFound
from evidence import minio_sdk
from evidence.storage_rules import endpoint_host, needs_payload_probe, payload_hash_mode, sse_problem

PART_SIZE = 8 * 1024 * 1024  # multipart part size; memory per upload is PARALLEL_PARTS × PART_SIZE
PARALLEL_PARTS = 4  # parts in memory per upload (one being read, the others uploading)
READ_CHUNK = 1024 * 1024
CANARY_PREFIX = "canary/"
CANARY_RETENTION = timedelta(seconds=30)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SSE_SCAN_TAIL = 64 * 1024 * 1024  # bytes read from the end of each recently written data file of the store
log = logging.getLogger(__name__)
_NO_CONFIG = ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "NoSuchObjectLegalHold")


@dataclass(frozen=True)
class PutResult:
    """Where a put landed: the key and the version id that now holds the bytes."""

    key: str
    version_id: str | None
    etag: str | None = None


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload begun and never completed nor aborted (a crash, a lost connection): its parts take space
    in the store until it is aborted."""

    key: str
    upload_id: str
    initiated: datetime | None


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one object version."""

    key: str
    version_id: str | None
    size: int
    retention_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False


class ObjectStore(Protocol):
    """What evidence code needs from an object store with versioning and Object Lock."""

    bucket: str

    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock (versioning on) or check an existing one has it."""
        ...

    def put_stream(self, key: str, stream: BinaryIO, *, length: int = -1, retain_until: datetime | None = None,
                   legal_hold: bool = False, content_type: str = "application/octet-stream") -> PutResult:
        """Store `stream` under `key` (COMPLIANCE retention until `retain_until`), reading it once."""
        ...

    def get_stream(self, key: str, version_id: str | None, *, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the bytes of one object version in chunks (connection released at the end)."""
        ...

    def stat(self, key: str, version_id: str | None) -> ObjectInfo:
        """Size, retention and legal hold of one object version."""
        ...

    def set_legal_hold(self, key: str, version_id: str | None, on: bool) -> None:
        """Turn the legal hold of one object version on or off."""
        ...

    def set_retention(self, key: str, version_id: str | None, until: datetime) -> None:
        """Set the COMPLIANCE retention of one object version to `until` (the store refuses a shorter one)."""
        ...

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one specific version (refused while locked; the purge sweep and the lock conformance check)."""
        ...

    def free_bytes(self) -> int | None:
        """Free space for new evidence when known (the embedded store's disk), else None."""
        ...

    def incomplete_uploads(self, limit: int = 1000) -> list[IncompleteUpload]:
        """Multipart uploads never completed nor aborted."""
        ...

    def abort_incomplete_upload(self, key: str, upload_id: str) -> None:
        """Abort one interrupted multipart upload."""
        ...

    def check_object_lock(self) -> None:
        """Prove that a COMPLIANCE-locked canary version cannot be deleted; raise if it can."""
        ...

    def check_encryption(self) -> None:
        """Prove the store encrypts what it is sent with server-side encryption; raise if it does not."""
        ...


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read `n` bytes (fewer only at the end of the stream)."""
    first = stream.read(n)
    if not first or len(first) == n:
        return first or b""
    pieces, have = [first], len(first)
    while have < n:
        chunk = stream.read(n - have)
        if not chunk:
            break
        pieces.append(chunk)
        have += len(chunk)
    return b"".join(pieces)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the store did not answer" (socket errors and urllib3's own hierarchy)."""
    import urllib3

    return (OSError, urllib3.exceptions.HTTPError)


def _is_access_denied(exc: Exception) -> bool:
    return getattr(exc, "code", None) in ("AccessDenied", "ObjectLocked", "InvalidRequest")


def _http_pool():
    """The SDK's HTTP pool with few, quick retries: a dead store should fail a request in seconds, not minutes."""
    import certifi
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=300), maxsize=16, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class MinioObjectStore:
    """ObjectStore on any S3 endpoint with Object Lock (SeaweedFS, MinIO, AWS) through the minio SDK.

    Encryption at rest: every put asks for SSE-S3 (sse="sse-s3", the default); `check_encryption` proves the
    store honours it (see there). sse="off" is the operator's explicit choice (COC_S3_SSE=off) for a store that
    cannot, whose disks are encrypted beneath it.

    Payload hashes: over plain HTTP the SDK puts the SHA-256 of every request body in the signed
    x-amz-content-sha256 header, a full extra pass over every byte uploaded. That protects the body only if the
    store compares it with what it received (MinIO and AWS do; SeaweedFS 4.48 does not). With
    payload_hash="auto" the first upload is preceded by a probe: a tiny canary put whose payload hash is
    deliberately wrong. A store that refuses it keeps getting signed payloads; a store that accepts it gets
    UNSIGNED-PAYLOAD (what the SDK sends over HTTPS), which protects exactly as much and costs no pass. Only a
    loopback store is probed: to any other host over plain HTTP payloads are always signed
    (evidence.storage_rules.payload_hash_mode), since on a network the signed hash is what binds the body to the
    signed request. The evidence's own SHA-256 (computed while streaming, ledgered, re-verified on every read and
    by the fixity flow) is the integrity check either way.
    """

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, *, secure: bool = False,
                 region: str = "us-east-1", payload_hash: Literal["auto", "sign"] = "auto",
                 capacity_path: Path | None = None, sse: Literal["sse-s3", "off"] = "sse-s3",
                 raw_data_dir: Path | None = None) -> None:
        self.bucket = bucket
        self.capacity_path = capacity_path  # the embedded store's data directory (free-space check), else None
        self.raw_data_dir = raw_data_dir  # the store's data files when we can read them (check_encryption)
        self.endpoint = endpoint
        self.region = region
        self.secure = secure
        self.sse_mode = sse
        self.payload_mode = "unsigned" if secure else "signed"  # until the probe decides otherwise
        self.client = minio_sdk.client_class()(endpoint, access_key=access_key, secret_key=secret_key,
                                               secure=secure, region=region, http_client=_http_pool())
        # Nothing to decide over HTTPS (the SDK sends no payload hash there), to a store that is not on loopback
        # (always signed), when told to always sign, or when the SDK is not the pinned one (no fixed payload hash:
        # evidence/minio_sdk.py).
        self._payload_decided = (not needs_payload_probe(endpoint_host(endpoint), secure=secure)
                                 or payload_hash == "sign" or not hasattr(self.client, "payload_hash"))
        self._payload_lock = threading.Lock()

    # -- bucket --------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock (versioning on) or check an existing one has it."""
        from minio.error import S3Error

        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket, object_lock=True)
                return
            try:
                self.client.get_object_lock_config(self.bucket)
            except S3Error as exc:
                raise IntegrityViolation(
                    f"bucket {self.bucket!r} exists without Object Lock: evidence needs a bucket created with "
                    "Object Lock (choose another COC_S3_BUCKET or recreate it)") from exc
        except _transport_errors() as exc:
            raise DependencyUnavailable(f"object store at {self.endpoint} unreachable: {type(exc).__name__}") \
                from exc

    # -- objects -------------------------------------------------------------------------------
    def put_stream(self, key: str, stream: BinaryIO, *, length: int = -1, retain_until: datetime | None = None,
                   legal_hold: bool = False, content_type: str = "application/octet-stream") -> PutResult:
        """Store `stream` under `key` (COMPLIANCE retention until `retain_until`), reading it once."""
        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        retention = Retention(COMPLIANCE, as_utc(retain_until)) if retain_until else None
        self._decide_payload_hash()
        try:
            first = _read_exact(stream, PART_SIZE)
            if len(first) < PART_SIZE:  # the whole body fits one part: a single PUT
                res = self.client.put_object(self.bucket, key, io.BytesIO(first), len(first), sse=self._sse(),
                                             content_type=content_type, retention=retention, legal_hold=legal_hold)
                return PutResult(key=key, version_id=res.version_id, etag=res.etag)
            return self._put_multipart(key, first, stream, retention, legal_hold, content_type)
        except _transport_errors() as exc:
            raise DependencyUnavailable(f"object store at {self.endpoint} failed during upload: "
                                        f"{type(exc).__name__}") from exc

    def _put_multipart(self, key: str, first: bytes, stream: BinaryIO, retention, legal_hold: bool,
                       content_type: str) -> PutResult:
        """Multipart upload with at most PARALLEL_PARTS parts in memory (evidence/minio_sdk.py, on the pinned
        SDK); with another SDK version the SDK's own put_object, one part at a time (memory: one part)."""
        if minio_sdk.sdk_internals_usable():
            res = minio_sdk.put_multipart_bounded(
                self.client, self.bucket, key, first, lambda: _read_exact(stream, PART_SIZE), retention=retention,
                legal_hold=legal_hold, content_type=content_type, parallel=PARALLEL_PARTS, sse=self._sse())
        else:
            res = self.client.put_object(self.bucket, key, minio_sdk.Prepended(first, stream), -1,
                                         content_type=content_type, part_size=PART_SIZE, num_parallel_uploads=1,
                                         retention=retention, legal_hold=legal_hold, sse=self._sse())
        return PutResult(key=key, version_id=res.version_id, etag=res.etag)

    def _sse(self):
        """The server-side encryption every put asks for (SSE-S3), or None when COC_S3_SSE=off."""
        from minio.sse import SseS3

        return SseS3() if self.sse_mode == "sse-s3" else None

    def get_stream(self, key: str, version_id: str | None, *, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the bytes of one object version in chunks (connection released at the end)."""
        from minio.error import S3Error

        try:
            resp = self.client.get_object(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchVersion"):
                raise NotFound(f"stored object {key!r} version {version_id!r} is missing") from exc
            raise DependencyUnavailable(f"object store refused the read: {exc.code}") from exc
        except _transport_errors() as exc:
            raise DependencyUnavailable(f"object store at {self.endpoint} unreachable: {type(exc).__name__}") \
                from exc
        return self._iterate(resp, chunk_size, self.endpoint)

    @staticmethod
    def _iterate(resp, chunk_size: int, endpoint: str = "") -> Iterator[bytes]:
        # A transport failure after the response began (connection reset, truncated body, read timeout) is the
        # store failing, like one before it: callers (reads, fixity) see DependencyUnavailable, never a raw
        # urllib3/OS error they do not expect.
        try:
            yield from resp.stream(chunk_size)
        except _transport_errors() as exc:
            raise DependencyUnavailable(f"object store at {endpoint or 'the store'} failed during a read: "
                                        f"{type(exc).__name__}") from exc
        finally:
            resp.close()
            resp.release_conn()

    def stat(self, key: str, version_id: str | None) -> ObjectInfo:
        """Size, retention and legal hold of one object version."""
        from minio.error import S3Error

        try:
            st = self.client.stat_object(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchVersion"):
                raise NotFound(f"stored object {key!r} version {version_id!r} is missing") from exc
            raise
        # Stores answer "no retention" / "no legal hold" with error codes rather than empty documents.
        try:
            ret = self.client.get_object_retention(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code not in _NO_CONFIG:
                raise
            ret = None
        try:
            hold = self.client.is_object_legal_hold_enabled(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code not in _NO_CONFIG:
                raise
            hold = False
        return ObjectInfo(key=key, version_id=st.version_id, size=int(st.size or 0),
                          retention_mode=ret.mode if ret else None,
                          retain_until=as_utc(ret.retain_until_date) if ret and ret.retain_until_date else None,
                          legal_hold=bool(hold))

    def set_legal_hold(self, key: str, version_id: str | None, on: bool) -> None:
        """Turn the legal hold of one object version on or off."""
        if on:
            self.client.enable_object_legal_hold(self.bucket, key, version_id=version_id)
        else:
            self.client.disable_object_legal_hold(self.bucket, key, version_id=version_id)

    def set_retention(self, key: str, version_id: str | None, until: datetime) -> None:
        """Set the COMPLIANCE retention of one object version to `until` (the store refuses a shorter one)."""
        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        self.client.set_object_retention(self.bucket, key, Retention(COMPLIANCE, as_utc(until)),
                                         version_id=version_id)

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one specific version (refused while locked; the purge sweep and the lock conformance check)."""
        self.client.remove_object(self.bucket, key, version_id=version_id)

    # -- payload hashes ---------------------------------------------------------------------------
    def _decide_payload_hash(self) -> None:
        """Once per store object: probe whether the store checks payload hashes (see the class docstring)."""
        if self._payload_decided:
            return
        with self._payload_lock:
            if self._payload_decided:
                return
            ignores = self.store_ignores_payload_hash()
            self.payload_mode = payload_hash_mode(endpoint_host(self.endpoint), secure=self.secure,
                                                  store_ignores_hash=ignores)
            if self.payload_mode == "unsigned":
                self.client.payload_hash = UNSIGNED_PAYLOAD
            log.info("object store at %s %s payload hashes: uploads are sent %s", self.endpoint,
                     "does not check" if ignores else "checks (or the probe failed)",
                     "as UNSIGNED-PAYLOAD" if ignores else "with signed SHA-256 payload hashes")
            self._payload_decided = True  # decided once per process; a failed probe means: keep signing

    def store_ignores_payload_hash(self) -> bool:
        """True only if the store accepted a canary put whose signed payload hash does not match its body."""
        from minio.commonconfig import COMPLIANCE
        from minio.error import S3Error
        from minio.retention import Retention

        if not minio_sdk.sdk_internals_usable():
            return False  # another SDK version cannot send a wrong hash: keep signing
        # A separate client: the wrong hash must never reach a real upload running in another thread.
        # Its own pool too: minio's __del__ clears the pool it was given.
        probe = minio_sdk.payload_hash_client_class()(self.endpoint, credentials=self.client._provider, secure=False,
                                                      region=self.region, http_client=_http_pool())
        body = b"coc payload-hash probe"
        probe.payload_hash = hashlib.sha256(b"deliberately not the body").hexdigest()
        key = f"{CANARY_PREFIX}payload-{secrets.token_hex(8)}"
        # Same shape as an evidence upload (COMPLIANCE retention), so a store that insists on some other
        # checksum for locked objects refuses the probe too and keeps signed payloads.
        retention = Retention(COMPLIANCE, SystemClock().now() + CANARY_RETENTION)
        try:
            probe.put_object(self.bucket, key, io.BytesIO(body), len(body), retention=retention)
        except (*_transport_errors(), S3Error) as exc:
            log.debug("payload-hash probe refused: %s", getattr(exc, "code", type(exc).__name__))
            return False
        return True

    # -- conformance -----------------------------------------------------------------------------
    def _sweep_canaries(self) -> None:
        with contextlib.suppress(Exception):  # housekeeping must never fail the check itself
            _sweep_canaries_of(self)

    # -- housekeeping of interrupted uploads ------------------------------------------------------
    def incomplete_uploads(self, limit: int = 1000) -> list[IncompleteUpload]:
        """Multipart uploads of the bucket never completed nor aborted (S3 ListMultipartUploads)."""
        found: list[IncompleteUpload] = []
        key_marker = upload_marker = None
        try:
            while len(found) < limit:
                result = self.client._list_multipart_uploads(  # noqa: SLF001 - the SDK has no public listing
                    self.bucket, key_marker=key_marker, upload_id_marker=upload_marker, max_uploads=1000)
                for up in result.uploads:
                    if up.upload_id:
                        found.append(IncompleteUpload(up.object_name, up.upload_id,
                                                      as_utc(up.initiated_time) if up.initiated_time else None))
                if not result.is_truncated:
                    break
                key_marker, upload_marker = result.next_key_marker, result.next_upload_id_marker
        except _transport_errors() as exc:
            raise DependencyUnavailable(f"object store at {self.endpoint} unreachable: {type(exc).__name__}") \
                from exc
        return found[:limit]

    def abort_incomplete_upload(self, key: str, upload_id: str) -> None:
        """Abort one interrupted multipart upload (its parts are freed; no object version is touched)."""
        self.client._abort_multipart_upload(self.bucket, key, upload_id)  # noqa: SLF001 - see incomplete_uploads

    def free_bytes(self) -> int | None:
        """Free space the store has for new evidence, when known: the embedded store's disk (capacity_path);
        None for a remote store, which answers a full disk itself (mapped to 507 by the upload)."""
        if self.capacity_path is None:
            return None
        try:
            return shutil.disk_usage(self.capacity_path).free
        except OSError:
            return None

    def check_encryption(self) -> None:
        """Prove the store encrypts at rest what is put with SSE-S3; raise IntegrityViolation if it does not.

        A canary (random bytes around a random marker) is put the way evidence is (SSE-S3, COMPLIANCE retention).
        The store must answer x-amz-server-side-encryption: AES256 for it and read it back unchanged; and where
        its data files are readable (`raw_data_dir`: the embedded SeaweedFS under <data dir>/s3), the marker must
        not appear in clear in any file it wrote since (the end of each, where the canary was appended).
        With sse="off" nothing is checked (the operator's explicit choice)."""
        from minio.error import S3Error

        if self.sse_mode == "off":
            return
        marker = f"coc-sse-canary-{secrets.token_hex(16)}".encode()
        body = secrets.token_bytes(4096) + marker + secrets.token_bytes(4096)
        key = f"{CANARY_PREFIX}sse-{secrets.token_hex(8)}"
        started = SystemClock().now().timestamp() - 2  # file times have coarse resolution on some filesystems
        try:
            self.ensure_bucket()
            put = self.put_stream(key, io.BytesIO(body), length=len(body),
                                  retain_until=SystemClock().now() + CANARY_RETENTION)
            st = self.client.stat_object(self.bucket, key, version_id=put.version_id)
            reported = next((v for k, v in (st.metadata or {}).items()
                             if k.lower() == "x-amz-server-side-encryption"), None)
            back = b"".join(self.get_stream(key, put.version_id))
        except (*_transport_errors(), S3Error) as exc:
            raise DependencyUnavailable(f"object store at {self.endpoint} failed the encryption check: "
                                        f"{getattr(exc, 'code', None) or type(exc).__name__} (a store without "
                                        "server-side encryption: configure it, or set COC_S3_SSE=off if its disks "
                                        "are encrypted beneath it)") from exc
        found = _files_holding(self.raw_data_dir, marker, since=started) if self.raw_data_dir else []
        problem = sse_problem(reported, back == body, found)
        if problem:
            raise IntegrityViolation(f"object store at {self.endpoint} failed the encryption check: {problem}")

    def check_object_lock(self) -> None:
        """Prove that a COMPLIANCE-locked canary version cannot be deleted; raise if it can."""
        from minio.error import S3Error

        # Retention is judged by the store's clock, so the wall clock is meant here, not the app clock.
        until = SystemClock().now() + CANARY_RETENTION
        key = f"{CANARY_PREFIX}{secrets.token_hex(8)}"
        try:
            self.ensure_bucket()
            put = self.put_stream(key, io.BytesIO(b"coc-canary"), length=10, retain_until=until)
            if not put.version_id:
                raise IntegrityViolation(f"bucket {self.bucket!r} is not versioned: Object Lock cannot hold")
            try:
                self.delete_version(key, put.version_id)
            except S3Error as exc:
                if _is_access_denied(exc):
                    self._sweep_canaries()
                    return  # the lock held
                raise DependencyUnavailable(f"object store answered the canary delete with {exc.code}") from exc
        except (*_transport_errors(), S3Error) as exc:
            raise DependencyUnavailable(
                f"object store at {self.endpoint} failed the Object Lock check: {type(exc).__name__}") from exc
        raise IntegrityViolation(
            f"object store at {self.endpoint} deleted a COMPLIANCE-locked version: Object Lock is not enforced, "
            "evidence cannot be stored safely")


def _sweep_canaries_of(store: MinioObjectStore, limit: int = 100) -> None:
    """Delete canary versions whose retention has run out (best effort), so health checks do not pile up objects."""
    now = SystemClock().now()
    removed = 0
    for obj in store.client.list_objects(store.bucket, prefix=CANARY_PREFIX, recursive=True, include_version=True):
        if removed >= limit:
            return
        modified = obj.last_modified
        if modified is not None and as_utc(modified) + CANARY_RETENTION + timedelta(seconds=5) < now:
            with contextlib.suppress(Exception):
                store.delete_version(obj.object_name, obj.version_id)
                removed += 1


def _files_holding(root: Path, needle: bytes, *, since: float, tail: int = SSE_SCAN_TAIL) -> list[str]:
    """Files under `root` modified at or after `since` whose last `tail` bytes contain `needle` (relative paths)."""
    found: list[str] = []
    for path in sorted(root.rglob("*")):
        try:
            st = path.stat()
            if not path.is_file() or st.st_mtime < since:
                continue
            with path.open("rb") as fh:
                fh.seek(max(0, st.st_size - tail))
                if needle in fh.read():
                    found.append(str(path.relative_to(root)))
        except OSError:
            continue  # a file removed or locked meanwhile
    return found


def get_object_store(settings=None, *, bucket: str | None = None) -> MinioObjectStore:
    """The configured object store (a new client; nothing is contacted until the first call)."""
    if settings is None:
        from core.settings import get_settings

        settings = get_settings()
    settings.require("s3_endpoint")
    return MinioObjectStore(settings.s3_endpoint, settings.secret("s3_access_key"), settings.secret("s3_secret_key"),
                            bucket or settings.s3_bucket, secure=settings.s3_secure, region=settings.s3_region,
                            payload_hash=settings.s3_payload_hash, sse=settings.s3_sse,
                            # `coc up` runs SeaweedFS on this machine with its data under the data dir.
                            capacity_path=(settings.data_dir / "s3") if settings.embedded else None,
                            raw_data_dir=(settings.data_dir / "s3") if settings.embedded else None)
