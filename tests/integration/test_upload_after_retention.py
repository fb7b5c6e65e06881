"""A file added to an item whose retention date has passed (a backlog kit recorded decades after collection, or
a kit kept past its date): an Object Lock cannot end in the past, so the store would refuse the upload (a 500
before); now it is refused up front with a 409 naming what to do, nothing stored, and once preservation is
extended the file is stored under the new date (SQLite and PostgreSQL, real SeaweedFS)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import as_utc
from core.errors import Conflict
from evidence.files import EvidenceFile, upload_file
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from evidence.preservation import extend_preservation
from tests.evidence_support import EXAMINER, new_case


def test_a_file_for_an_item_past_its_retention_date_waits_for_an_extension(session, clock, object_store):
    case_id = new_case(session)
    item = collect_item(session, actor=EXAMINER, case_id=case_id, data=EvidenceItemCreate(
        kind=ItemKind.KIT, description="backlog kit", collected_at=clock.now() - timedelta(days=7301)))
    session.commit()
    assert as_utc(item.retention_until) < clock.now()
    with pytest.raises(Conflict, match="retention date has passed"):
        upload_file(session, object_store, actor=EXAMINER, item_id=item.id, stream=io.BytesIO(b"scan"),
                    length=4, max_bytes=1024)
    session.rollback()
    assert session.execute(select(func.count()).select_from(EvidenceFile)).scalar_one() == 0
    assert list(object_store.client.list_objects(object_store.bucket, recursive=True, include_version=True)) == []

    until = (clock.now() + timedelta(days=365)).replace(microsecond=0)
    extend_preservation(session, object_store, actor=EXAMINER, item_id=item.id, until=until)
    session.commit()
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item.id, stream=io.BytesIO(b"scan"),
                      length=4, max_bytes=1024)
    session.commit()
    assert as_utc(object_store.stat(row.object_key, row.version_id).retain_until) == until
