"""Evidence bytes in motion: the hashing, counting, size-limiting reader an upload streams through, and the
verifying stream a download reads from (one chunk held back until the whole object matched its SHA-256).

A mismatch or a missing object commits an integrity incident in its own transaction (evidence.incidents), so the
failing read cannot roll it back, and raises IntegrityViolation before the held-back chunk goes out. The file
rows and the upload/download services are in evidence.files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from sqlalchemy.engine import Engine

from core.actors import Actor, system_actor
from core.db import transaction
from core.errors import DomainError, IntegrityViolation, NotFound, PayloadTooLarge, ValidationFailed
from evidence.incidents import IncidentSource, open_incident
from evidence.storage import ObjectStore


class StoredFile(Protocol):
    """What a verified read needs of a stored file's row (evidence.files.EvidenceFile)."""

    id: str
    item_id: str
    object_key: str
    version_id: str | None
    sha256: str | None
    size: int | None


class HashingReader:
    """A file-like wrapper that hashes and counts bytes as the object store reads them, and enforces a limit."""

    def __init__(self, source: BinaryIO | Iterator[bytes], limit: int) -> None:
        self._read = source.read if hasattr(source, "read") else None
        self._iter = None if self._read else iter(source)  # type: ignore[arg-type]
        self._left = b""  # bytes read from the source but not yet handed out
        self.limit = limit
        self.size = 0
        self.hash = hashlib.sha256()

    def _next_chunk(self, n: int) -> bytes:
        # A failing source (client gone) must not look like a store failure to the S3 adapter's error mapping.
        try:
            if self._read is not None:
                return self._read(n)
            return next(self._iter, b"")  # type: ignore[arg-type]
        except DomainError:
            raise
        except Exception as exc:
            raise ValidationFailed(f"the upload was interrupted after {self.size} bytes "
                                   f"({type(exc).__name__}): send the file again") from exc

    def has_data(self) -> bool:
        """Peek: True unless the source is already at its end (the peeked bytes are kept for read())."""
        if not self._left:
            self._left = self._next_chunk(1 << 20)
        return bool(self._left)

    def read(self, n: int = -1) -> bytes | bytearray:
        """Return up to `n` bytes (the object store reads part-sized slices); hash them on the way."""
        if n is None or n < 0:
            pieces = []
            while part := self.read(1 << 20):
                pieces.append(part)
            return b"".join(pieces)
        # Copy each piece into one part-sized buffer as it arrives and drop it: a part costs its own size in
        # memory, not twice (a list of pieces plus their join).
        out = bytearray(n)
        view = memoryview(out)
        have = 0
        piece, self._left = self._left, b""
        while True:
            if not piece:
                if have >= n:
                    break
                piece = self._next_chunk(min(n - have, 1 << 20))
                if not piece:
                    break
            take = min(len(piece), n - have)
            view[have:have + take] = piece[:take]
            have += take
            if take < len(piece):
                self._left = piece[take:]
            piece = b""
            self.size += take
            if self.size > self.limit:
                raise PayloadTooLarge(f"upload exceeds the limit of {self.limit} bytes")
        view.release()
        if have < n:
            del out[have:]  # the last part: shrink in place
        self.hash.update(out)
        return out


def record_mismatch(engine: Engine, *, item_id: str, file_id: str, expected: str, actual: str | None,
                    reason: str, actor: Actor | None = None) -> None:
    """Commit an INTEGRITY_INCIDENT in a transaction of its own (it must outlive the failing read); it opens an
    integrity incident that quarantines the item (evidence.incidents), with its alert, in that transaction."""
    with transaction(engine) as s:
        open_incident(s, actor=actor or system_actor("integrity"), item_id=item_id, reason=reason,
                      data={"file_id": file_id, "sha256": expected, "observed_sha256": actual},
                      source=IncidentSource.DOWNLOAD)


def verified_stream(store: ObjectStore, row: StoredFile, engine: Engine,
                    actor: Actor | None = None) -> Iterator[bytes]:
    """Yield the file's bytes while hashing them, one chunk behind the store, and never all of a bad file.

    The last chunk is held back until the whole object was hashed and counted: on a mismatch the incident is
    recorded and IntegrityViolation raised before it goes out, so a download of a tampered object always ends
    short (a broken transfer for the client, never a complete file). Bytes beyond the recorded size are never
    handed out either (an over-long object is read on only to hash it). Memory: one chunk of lag.
    """
    expected = row.size if row.size is not None else -1
    h = hashlib.sha256()
    size = 0
    held = b""  # the newest chunk, not yet handed out
    try:
        for chunk in store.get_stream(row.object_key, row.version_id):
            if not chunk:
                continue
            h.update(chunk)
            size += len(chunk)
            if size > expected:
                # Longer than recorded: already a mismatch. Yield nothing more (the held chunk included, so the
                # client has fewer bytes than the recorded size), only hash the rest for the incident.
                held = b""
                continue
            if held:
                yield held
            held = chunk
    except NotFound:
        record_mismatch(engine, item_id=row.item_id, file_id=row.id, expected=row.sha256 or "", actual=None,
                        reason="object-missing", actor=actor)
        raise IntegrityViolation(f"stored file {row.id} is missing from the object store") from None
    digest = h.hexdigest()
    if digest != row.sha256 or size != row.size:
        record_mismatch(engine, item_id=row.item_id, file_id=row.id, expected=row.sha256 or "", actual=digest,
                        reason="sha256-mismatch", actor=actor)
        raise IntegrityViolation(f"stored file {row.id} no longer matches its recorded SHA-256: an integrity "
                                 "incident was recorded")
    if held:
        yield held
