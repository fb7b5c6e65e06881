"""evidence.capacity: room for an upload, and a store's own "full" answer recognised."""

from __future__ import annotations

import pytest

from api.problems import domain_error_response
from core.errors import DependencyUnavailable, InsufficientStorage
from evidence.capacity import MARGIN_BYTES, check_room, full_error, store_full


def test_room_is_the_upload_plus_the_margin():
    check_room(None, 10**12)  # unknown free space (a remote store): the store answers for itself
    check_room(MARGIN_BYTES + 100, 100)
    with pytest.raises(InsufficientStorage, match="needs 0 MiB plus 256 MiB kept free"):
        check_room(MARGIN_BYTES, 1)
    with pytest.raises(InsufficientStorage, match="unknown size"):
        check_room(MARGIN_BYTES - 1, -1)


class _S3Error(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@pytest.mark.parametrize("exc", [
    _S3Error("XMinioStorageFull", "Storage backend has reached its minimum free drive threshold."),
    _S3Error("InternalError", "failed to write: no space left on device"),
    _S3Error("InternalError", "No free volumes left for collection"),
])
def test_a_store_saying_full_is_recognised(exc):
    assert store_full(exc)
    wrapped = DependencyUnavailable("object store failed during upload")
    wrapped.__cause__ = exc
    assert store_full(wrapped)


def test_other_failures_are_not_called_full():
    assert not store_full(_S3Error("AccessDenied", "Access Denied."))
    assert not store_full(ConnectionResetError("reset by peer"))


def test_full_is_answered_507_with_what_to_do():
    resp = domain_error_response(full_error(OSError("no space left on device")))
    assert resp.status_code == 507
    assert b"Free space on the store" in resp.body
