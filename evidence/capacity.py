"""Room in the evidence store: refuse an upload up front when the store's disk cannot take it, and recognise a
store's own "full" answer, so a person is told "the evidence store is full", not "MaxRetryError" or 500.

Pure rules (no Session, no network): `check_room(free, length)` and `store_full(exc)`.
"""

from __future__ import annotations

from core.errors import InsufficientStorage

# Kept free beyond the upload itself: the store's own metadata, the database and the logs share the disk.
MARGIN_BYTES = 256 * 1024 * 1024

# What stores say when their disk is full (lower case): S3 error codes and messages of SeaweedFS, MinIO, AWS, Ceph.
_FULL_MARKERS = ("xminiostoragefull", "insufficientstorage", "storage full", "no space left", "not enough space",
                 "no free volumes", "no writable volumes", "disk full", "out of space", "quota exceeded",
                 "quotaexceeded")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):,.0f} MiB"


def check_room(free: int | None, length: int) -> None:
    """Raise InsufficientStorage when a known free space cannot hold `length` bytes (unknown length: the margin)
    plus MARGIN_BYTES; unknown free space (a remote store) passes."""
    if free is None:
        return
    need = max(length, 0) + MARGIN_BYTES
    if free < need:
        size = f"this upload needs {_mib(max(length, 0))} plus {_mib(MARGIN_BYTES)} kept free" if length >= 0 \
            else f"an upload of unknown size needs at least {_mib(MARGIN_BYTES)} free"
        raise InsufficientStorage(
            f"the evidence store is full: {_mib(free)} free, {size}; nothing was stored. Free space on the "
            "store's disk (or add a volume) and upload again")


def store_full(exc: BaseException) -> bool:
    """True when an error from the store (or its transport) says the store's disk is full."""
    parts = [type(exc).__name__, str(exc), str(getattr(exc, "code", "") or ""), str(getattr(exc, "message", "") or "")]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        parts += [type(cause).__name__, str(cause), str(getattr(cause, "code", "") or "")]
    text = " ".join(parts).lower()
    return any(marker in text for marker in _FULL_MARKERS)


def full_error(exc: BaseException) -> InsufficientStorage:
    """The error a person gets when the store refused bytes for lack of space."""
    return InsufficientStorage("the evidence store is full: it refused the upload for lack of space; nothing was "
                               "stored. Free space on the store's disk (or add a volume) and upload again")
