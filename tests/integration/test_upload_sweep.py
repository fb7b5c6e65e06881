"""Uploads cut short by a crash (issue #17), against real SeaweedFS and both databases: the sweep aborts their
multipart parts and resolves their `pending` rows; an upload the store has no room for is refused up front."""

from __future__ import annotations

import io
import secrets
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import InsufficientStorage
from evidence.files import EvidenceFile, FileStatus, upload_file
from evidence.fixity import run_fixity
from evidence.storage import MinioObjectStore
from evidence.upload_sweep import STALE_AFTER, sweep_interrupted_uploads
from tests.evidence_support import EXAMINER, new_case, new_item

PART = 5 * 1024 * 1024  # the smallest part S3 accepts before the last


def _pending_row(session, item_id: str, when: datetime) -> EvidenceFile:
    """What upload_file commits before the first byte: a crash after this leaves it pending."""
    file_id = secrets.token_hex(16)
    row = EvidenceFile(id=file_id, item_id=item_id, object_key=f"{item_id}/{file_id}", status=FileStatus.PENDING,
                       original_name=None, content_type="application/octet-stream",
                       retain_until=when + timedelta(days=3650), legal_hold=False, started_at=when,
                       started_by=EXAMINER.id)
    session.add(row)
    session.commit()
    return row


def _begin_multipart(store: MinioObjectStore, key: str) -> str:
    """A multipart upload with one part sent, as a process killed mid-upload leaves it."""
    upload_id = store.client._create_multipart_upload(store.bucket, key, {})
    store.client._upload_part(store.bucket, key, b"\0" * PART, None, upload_id, 1)
    return upload_id


def test_the_sweep_aborts_interrupted_uploads_and_resolves_their_rows(session, clock, object_store):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    crashed = _pending_row(session, item_id, clock.now())
    _begin_multipart(object_store, crashed.object_key)
    landed = _pending_row(session, item_id, clock.now())  # died after the store answered, before the commit
    object_store.put_stream(landed.object_key, io.BytesIO(b"evidence bytes"), length=14,
                            retain_until=datetime.now(UTC) + timedelta(days=1))
    assert {u.key for u in object_store.incomplete_uploads()} == {crashed.object_key}

    clock.advance(timedelta(hours=1))
    recent = _pending_row(session, item_id, clock.now())  # still uploading, perhaps
    _begin_multipart(object_store, recent.object_key)

    clock.advance(STALE_AFTER - timedelta(hours=1) + timedelta(minutes=1))  # the first two are stale, not this one
    report = sweep_interrupted_uploads(session, object_store)
    session.commit()
    assert report.aborted_uploads == 1
    assert report.resolved == {crashed.id: "interrupted", landed.id: "interrupted-object-kept"}
    rows = {r.id: r for r in session.scalars(select(EvidenceFile))}
    assert (rows[crashed.id].status, rows[crashed.id].failure) == ("failed", "interrupted")
    assert (rows[landed.id].status, rows[landed.id].failure) == ("failed", "interrupted-object-kept")
    assert rows[recent.id].status == "pending", "an upload younger than the threshold is left alone"
    assert {u.key for u in object_store.incomplete_uploads()} == {recent.object_key}

    # Fixity: the object that landed is an orphan its failed row explains; no row is left pending for good.
    fix = run_fixity(session, object_store, actor=EXAMINER)
    assert not fix.mismatched and not fix.missing
    assert landed.id in fix.orphans
    assert [r.id for r in session.scalars(select(EvidenceFile).where(EvidenceFile.status == "pending"))] == [recent.id]


def test_parts_with_no_row_are_aborted_by_the_stores_clock(session, clock, object_store):
    key = f"I{secrets.token_hex(8)}/{secrets.token_hex(16)}"
    _begin_multipart(object_store, key)
    assert sweep_interrupted_uploads(session, object_store).aborted_uploads == 0  # begun just now
    assert sweep_interrupted_uploads(session, object_store, stale_after=timedelta(0)).aborted_uploads == 1
    assert object_store.incomplete_uploads() == []


def test_an_upload_the_store_has_no_room_for_is_refused_up_front(session, clock, s3_settings, tmp_path):
    store = MinioObjectStore(s3_settings.endpoint, s3_settings.access_key, s3_settings.secret_key,
                             f"coc-test-{secrets.token_hex(6)}", capacity_path=tmp_path)
    store.ensure_bucket()
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(InsufficientStorage, match="the evidence store is full") as err:
        upload_file(session, store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"x"),
                    length=free, max_bytes=1 << 62)  # free space moves a little; not by the margin
    assert "nothing was stored" in err.value.detail
    session.rollback()
    assert session.scalars(select(EvidenceFile)).all() == [], "a refused upload leaves no row"
    assert store.incomplete_uploads() == []
    # Room enough: the same store takes an upload.
    row = upload_file(session, store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"kit photo"),
                      length=9, max_bytes=1 << 20)
    assert row.status == "stored"


def test_parts_of_a_failed_upload_are_aborted_at_once(session, clock, object_store):
    """The store died under an upload: the row was marked `failed` but the SDK could not abort the parts. The sweep
    aborts them straight away (however recent), and leaves another upload's fresh parts alone."""
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    failed = _pending_row(session, item_id, clock.now())
    failed.status, failed.failure = FileStatus.FAILED, "DependencyUnavailable"
    session.commit()
    _begin_multipart(object_store, failed.object_key)
    running = _pending_row(session, item_id, clock.now())
    _begin_multipart(object_store, running.object_key)
    report = sweep_interrupted_uploads(session, object_store)
    session.commit()
    assert report.aborted_uploads == 1 and report.resolved == {}
    assert {u.key for u in object_store.incomplete_uploads()} == {running.object_key}
