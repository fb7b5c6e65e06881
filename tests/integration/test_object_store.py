"""The object store against a real SeaweedFS: Object Lock holds, versions stay readable, the canary works."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from minio.error import S3Error

from core.clock import SystemClock
from core.errors import IntegrityViolation, NotFound


def _read(store, key, version_id) -> bytes:
    return b"".join(store.get_stream(key, version_id))


def test_compliance_locked_version_cannot_be_deleted_or_overwritten(object_store):
    """A COMPLIANCE-locked version refuses deletion; an overwrite makes a new version and the original verifies."""
    original = b"evidence-bytes" * 1000
    until = SystemClock().now() + timedelta(seconds=30)  # short: COMPLIANCE can never be shortened
    put = object_store.put_stream("E0000000000000000/f1", io.BytesIO(original), length=len(original),
                                  retain_until=until)
    assert put.version_id
    with pytest.raises(S3Error) as err:
        object_store.delete_version(put.key, put.version_id)
    assert err.value.code == "AccessDenied"
    second = object_store.put_stream(put.key, io.BytesIO(b"tampered"), length=8)
    assert second.version_id != put.version_id
    again = _read(object_store, put.key, put.version_id)
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(original).hexdigest()
    info = object_store.stat(put.key, put.version_id)
    assert info.retention_mode == "COMPLIANCE" and info.size == len(original)


def test_legal_hold_round_trip(object_store):
    """Legal hold can be set and read back on a version."""
    put = object_store.put_stream("E0000000000000000/f2", io.BytesIO(b"x"), length=1)
    object_store.set_legal_hold(put.key, put.version_id, True)
    assert object_store.stat(put.key, put.version_id).legal_hold is True
    with pytest.raises(S3Error):
        object_store.delete_version(put.key, put.version_id)
    object_store.set_legal_hold(put.key, put.version_id, False)
    assert object_store.stat(put.key, put.version_id).legal_hold is False


def test_canary_passes_on_seaweedfs(object_store):
    """The Object Lock conformance check passes on a store that enforces locks."""
    object_store.check_object_lock()


def test_canary_fails_when_the_bucket_has_no_object_lock(s3_settings):
    """A bucket without Object Lock is refused by the check (deletion would succeed)."""
    store = s3_settings.store("coc-nolock-canary")
    store.client.make_bucket(store.bucket)  # deliberately without Object Lock
    with pytest.raises(IntegrityViolation):
        store.check_object_lock()


def test_missing_version_is_not_found(object_store):
    """Reading a version that does not exist is NotFound."""
    with pytest.raises(NotFound):
        list(object_store.get_stream("E0000000000000000/none", None))


def test_payload_hash_probe_on_the_real_store(object_store, s3_settings):
    """auto: the probe's verdict decides how uploads are sent, and a multipart upload reads back intact."""
    import os

    from evidence.storage import PART_SIZE, UNSIGNED_PAYLOAD, MinioObjectStore

    ignores = object_store.store_ignores_payload_hash()
    if not os.environ.get("COC_TEST_S3_ENDPOINT"):
        assert ignores is True  # SeaweedFS 4.48 does not compare x-amz-content-sha256 with the body
    data = hashlib.sha256(b"seed").digest() * ((2 * PART_SIZE + 12345) // 32)  # three parts
    put = object_store.put_stream("E0000000000000000/f3", io.BytesIO(data), length=len(data))
    assert (object_store.client.payload_hash == UNSIGNED_PAYLOAD) is ignores
    assert hashlib.sha256(_read(object_store, put.key, put.version_id)).digest() == hashlib.sha256(data).digest()
    signed = MinioObjectStore(s3_settings.endpoint, s3_settings.access_key, s3_settings.secret_key,
                              object_store.bucket, secure=s3_settings.secure, payload_hash="sign")
    put2 = signed.put_stream("E0000000000000000/f4", io.BytesIO(data), length=len(data))
    assert signed.client.payload_hash is None
    assert _read(signed, put2.key, put2.version_id) == data


def test_another_minio_version_uploads_through_the_sdks_own_put_object(object_store, monkeypatch):
    """With an SDK other than the pinned 7.2.x reported, a multipart upload goes through the SDK's public
    put_object (never the per-call internals of evidence/minio_sdk.py) and reads back intact."""
    import minio

    from evidence import minio_sdk
    from evidence.storage import PART_SIZE

    def internals_used(*args, **kwargs):
        raise AssertionError("the SDK's internals were used with an unpinned SDK")

    monkeypatch.setattr(minio, "__version__", "8.0.0")
    monkeypatch.setattr(minio_sdk, "put_multipart_bounded", internals_used)
    data = hashlib.sha256(b"other sdk").digest() * ((2 * PART_SIZE + 777) // 32)  # three parts
    put = object_store.put_stream("E0000000000000000/f5", io.BytesIO(data), length=len(data))
    assert put.version_id
    assert _read(object_store, put.key, put.version_id) == data
    assert object_store.stat(put.key, put.version_id).size == len(data)
