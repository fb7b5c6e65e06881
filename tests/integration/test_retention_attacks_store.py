"""Adversarial review of issue 14, the object store's side (services, real SeaweedFS, SQLite and PostgreSQL):
a legal hold that arrives while a file streams, and a legacy item's file locks that the sync must bring up to
the pack's date. See tests/integration/test_retention_attacks.py for the API attacks."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session

from core.cases import Reporting
from core.clock import SystemClock, as_utc
from evidence.files import EvidenceFile, FileStatus, set_legal_hold, upload_file
from evidence.items import EvidenceItem, ItemKind
from evidence.preservation import sync_object_locks
from tests.evidence_support import EXAMINER, LAB, new_case, new_item


def test_a_hold_set_while_a_file_streams_holds_that_file_in_the_store(session, clock, object_store):
    """The hold arrives while a file of the item is still uploading (set_legal_hold only sees stored files): the
    upload, finishing under the item's lock, applies the item's hold to its object version and row."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)

    def chunks():
        yield b"first half "
        with Session(session.get_bind(), expire_on_commit=False) as other:  # the court's order, meanwhile
            set_legal_hold(other, object_store, actor=LAB, item_id=item_id, on=True)
            other.commit()
        yield b"second half"

    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=chunks(), max_bytes=1 << 20)
    session.commit()
    assert row.legal_hold is True
    assert object_store.stat(row.object_key, row.version_id).legal_hold is True


def test_the_lock_sync_brings_a_legacy_files_lock_up_to_the_packs_date(session, clock, object_store):
    """An item recorded with a short date before the pack's rule was enforced is kept until the PACK's date
    (keep_until), so its files must be locked that long too: a file locked only to the item's recorded date
    would leave the store's protection while destruction is still refused. The sync extends it."""
    case_id = new_case(session, reporting=Reporting.RESTRICTED)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    pack_until = as_utc(session.get(EvidenceItem, item_id).retention_until)
    short = clock.now() + timedelta(days=1)
    session.execute(update(EvidenceItem).where(EvidenceItem.id == item_id).values(retention_until=short))
    file_id = secrets.token_hex(16)
    key = f"{item_id}/{file_id}"
    put = object_store.put_stream(key, io.BytesIO(b"old scan"), length=8,
                                  retain_until=(SystemClock().now() + timedelta(hours=1)).replace(microsecond=0))
    session.add(EvidenceFile(id=file_id, item_id=item_id, object_key=key, status=FileStatus.STORED,
                             original_name="scan", size=8, sha256="0" * 64, version_id=put.version_id,
                             retain_until=short, started_at=clock.now(), started_by=EXAMINER.id,
                             completed_at=clock.now()))
    session.commit()
    out = sync_object_locks(session, object_store)
    session.commit()
    assert out == {item_id: [file_id]}
    assert as_utc(session.get(EvidenceFile, file_id).retain_until) == pack_until
    assert as_utc(object_store.stat(key, put.version_id).retain_until) == pack_until
