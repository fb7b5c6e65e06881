"""The purge sweep on both databases against the real SeaweedFS: a destroyed item's files go once their Object
Lock has ended (the store's answer decides), what was deleted is ledgered (ids only), locked files stay and are
reported; the scheduled flow runs it on a real Prefect server."""

from __future__ import annotations

import io
import json
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.clock import SystemClock, as_utc
from core.errors import NotFound
from core.ledger import EventKind, LedgerEntry
from core.settings import reset_settings
from evidence.files import EvidenceFile, FileStatus, upload_file
from evidence.items import EvidenceItem, ItemKind
from evidence.purge import purge_destroyed_files
from tests.evidence_support import EXAMINER, LAB, destroy_by_two, new_case, new_item, past_retention


def _file(session, store, item_id, *, lock_for: timedelta | None, row_until, legal_hold=False) -> EvidenceFile:
    """A stored file whose object is locked for `lock_for` of the STORE's clock (None: not locked, i.e. its lock
    has ended): the short retention of a test, since the pack's periods are decades."""
    file_id = secrets.token_hex(16)
    key = f"{item_id}/{file_id}"
    until = (SystemClock().now() + lock_for).replace(microsecond=0) if lock_for else None
    put = store.put_stream(key, io.BytesIO(b"old scan"), length=8, retain_until=until)
    row = EvidenceFile(id=file_id, item_id=item_id, object_key=key, status=FileStatus.STORED,
                       original_name="survivor-named-scan.pdf", size=8, sha256="0" * 64, version_id=put.version_id,
                       retain_until=row_until, legal_hold=legal_hold, started_at=row_until, started_by=EXAMINER.id,
                       completed_at=row_until)
    session.add(row)
    session.commit()
    return row


def _purged_entries(session):
    return [(e.item_id, json.loads(bytes(e.body))["data"]) for e in session.execute(
        select(LedgerEntry).where(LedgerEntry.kind == EventKind.FILES_PURGED).order_by(LedgerEntry.seq)).scalars()]


def _destroyed_item_with_files(session, clock, store):
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    locked = upload_file(session, store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"20-year lock"),
                         length=12, max_bytes=1024)
    session.commit()
    clock.advance(past_retention(session.get(EvidenceItem, item_id).retention_until))
    ended = _file(session, store, item_id, lock_for=None, row_until=clock.now() - timedelta(days=1))
    store_locked = _file(session, store, item_id, lock_for=timedelta(hours=1),  # the row says ended, the store not
                         row_until=clock.now() - timedelta(days=1))
    destroy_by_two(session, item_id, proposer=EXAMINER, approver=LAB, authority_ref="ORDER-9", now=clock.now())
    session.commit()
    # a hold placed after destruction (e.g. a court's order reaching the centre late) keeps the file
    held = _file(session, store, item_id, lock_for=None, row_until=clock.now() - timedelta(days=1), legal_hold=True)
    return case_id, item_id, locked, ended, store_locked, held


def test_sweep_deletes_only_unlocked_files_of_destroyed_items_and_records_them(session, clock, object_store):
    case_id, item_id, locked, ended, store_locked, held = _destroyed_item_with_files(session, clock, object_store)
    kept_item = new_item(session, case_id, ItemKind.DOCUMENT)  # not destroyed: its unlocked file stays
    not_destroyed = _file(session, object_store, kept_item, lock_for=None, row_until=clock.now())

    report = purge_destroyed_files(session, object_store, now=clock.now())
    session.commit()

    assert report.deleted == [{"item_id": item_id, "file_id": ended.id, "version_id": ended.version_id}]
    assert {r["file_id"] for r in report.still_locked} == {locked.id, store_locked.id}
    assert report.held == [held.id] and report.missing == []
    with pytest.raises(NotFound):
        object_store.stat(ended.object_key, ended.version_id)
    for row in (locked, store_locked, held, not_destroyed):  # still in the store
        assert object_store.stat(row.object_key, row.version_id).size > 0
    session.expire_all()
    assert session.get(EvidenceFile, ended.id).status == FileStatus.PURGED
    assert session.get(EvidenceFile, locked.id).status == FileStatus.STORED
    [(entry_item, data)] = _purged_entries(session)
    assert entry_item == item_id
    assert data == {"files": [{"file_id": ended.id, "version_id": ended.version_id}]}
    assert "survivor-named" not in json.dumps(data)  # ids only, never file names

    again = purge_destroyed_files(session, object_store, now=clock.now())  # nothing new: no new record
    session.commit()
    assert again.deleted == [] and len(_purged_entries(session)) == 1


def test_a_lock_not_yet_ended_by_the_sweeps_clock_is_not_even_tried(session, clock, object_store):
    _, item_id, locked, ended, _, _ = _destroyed_item_with_files(session, clock, object_store)
    lock_end = as_utc(object_store.stat(locked.object_key, locked.version_id).retain_until)
    report = purge_destroyed_files(session, object_store, now=lock_end - timedelta(days=1))
    session.commit()
    row = next(r for r in report.still_locked if r["file_id"] == locked.id)
    assert row["retain_until"].startswith(lock_end.date().isoformat())
    assert [d["file_id"] for d in report.deleted] == [ended.id]


@pytest.fixture
def flow_env(monkeypatch, db_url, tmp_path, object_store, s3_settings, prefect_api):
    env = {"COC_DATABASE_URL": db_url, "COC_DATA_DIR": str(tmp_path), "COC_S3_ENDPOINT": s3_settings.endpoint,
           "COC_S3_ACCESS_KEY": s3_settings.access_key, "COC_S3_SECRET_KEY": s3_settings.secret_key,
           "COC_S3_BUCKET": object_store.bucket, "PREFECT_API_URL": prefect_api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield
    reset_settings()


def test_the_scheduled_flow_runs_the_sweep(flow_env, engine, clock, object_store):
    from flows.purge import retention_purge

    with Session(engine, expire_on_commit=False) as s:
        _, item_id, _, ended, _, _ = _destroyed_item_with_files(s, clock, object_store)
    summary = retention_purge()
    assert summary == {"locks_extended": 0, "deleted": 1, "still_locked": 2, "held": 1, "missing": 0}
    with Session(engine) as s:
        assert [d["files"][0]["file_id"] for _, d in _purged_entries(s)] == [ended.id]
