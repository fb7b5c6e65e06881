"""Uploads cut short by a crash: abort their multipart parts and resolve their `pending` rows.

A process that dies mid-upload leaves (a) an incomplete multipart upload whose parts take space in the store
until aborted — enough of them and every upload fails — and (b) an `evidence_file` row `pending` for good, which
fixity can only call "unfinished". The sweep, run by the fixity flow and `coc admin sweep-uploads`:
- for each `pending` row older than `stale_after` (by the injectable clock): aborts the multipart uploads at its
  key, then looks whether the object landed (the process died between the store's answer and its commit): the
  row becomes `failed` with failure `interrupted-object-kept` (the object stays under Object Lock, explained to
  fixity by this row) or `interrupted` (nothing was stored);
- aborts multipart uploads at the key of a `failed` row at once (the upload ended: the store died under it);
- aborts multipart uploads with no row that began more than `stale_after` ago (by the store's clock).
The buckets' lifecycle rule (AbortIncompleteMultipartUpload, set by `ensure_bucket` where the store accepts it)
is the store's own backstop. Counts and opaque file ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.clock import SystemClock, as_utc, utcnow
from core.errors import NotFound
from evidence.files import EvidenceFile, FileStatus
from evidence.storage import ObjectStore

# An upload older than this is not still running: 8 GiB (the upload limit) at 2 MB/s takes ~70 minutes.
STALE_AFTER = timedelta(hours=6)
log = logging.getLogger(__name__)


@dataclass
class UploadSweep:
    """What one sweep did."""

    aborted_uploads: int = 0
    resolved: dict[str, str] = field(default_factory=dict)  # file id -> interrupted / interrupted-object-kept


def sweep_interrupted_uploads(session: Session, store: ObjectStore, *, stale_after: timedelta = STALE_AFTER,
                              now: datetime | None = None) -> UploadSweep:
    """Abort interrupted multipart uploads and resolve stale `pending` rows (flushes; the caller commits)."""
    now = now or utcnow()
    report = UploadSweep()
    by_key: dict[str, list] = {}
    for up in store.incomplete_uploads():
        by_key.setdefault(up.key, []).append(up)
    stale = session.scalars(select(EvidenceFile).where(EvidenceFile.status == FileStatus.PENDING.value)).all()
    for row in stale:
        if as_utc(row.started_at) > now - stale_after:
            by_key.pop(row.object_key, None)  # still uploading, perhaps: leave its parts alone
            continue
        for up in by_key.pop(row.object_key, []):
            store.abort_incomplete_upload(up.key, up.upload_id)
            report.aborted_uploads += 1
        try:
            store.stat(row.object_key, None)
            outcome = "interrupted-object-kept"
        except NotFound:
            outcome = "interrupted"
        row.status, row.failure, row.completed_at = FileStatus.FAILED, outcome, now
        session.add(row)
        report.resolved[row.id] = outcome
    # Parts at the key of a `failed` row: that upload ended (the store died under it, so the SDK could not abort
    # its parts); a retry writes to a new key, so they are aborted whatever their age.
    ended = set(session.scalars(select(EvidenceFile.object_key).where(
        EvidenceFile.status == FileStatus.FAILED.value,
        EvidenceFile.object_key.in_(list(by_key))))) if by_key else set()  # type: ignore[attr-defined]
    for key in ended:
        for up in by_key.pop(key):
            store.abort_incomplete_upload(up.key, up.upload_id)
            report.aborted_uploads += 1
    # Parts with no row at all (a crash before the row committed is impossible; a row deleted by a restore is
    # not): judged by the store's own clock, which stamped them.
    wall = SystemClock().now()
    for ups in by_key.values():
        for up in ups:
            if up.initiated is not None and up.initiated < wall - stale_after:
                store.abort_incomplete_upload(up.key, up.upload_id)
                report.aborted_uploads += 1
    session.flush()
    if report.aborted_uploads or report.resolved:
        log.info("upload sweep: %d incomplete upload(s) aborted, %d pending row(s) resolved",
                 report.aborted_uploads, len(report.resolved))
    return report
