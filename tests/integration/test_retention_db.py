"""Retention at the service level, on both databases: collection records the pack's date and rule; an item
recorded with a short date before the rule was enforced (a legacy row) still cannot be destroyed early."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.cases import Reporting
from core.errors import Conflict, ValidationFailed
from evidence.custody import DestroyCreate
from evidence.destruction import propose_destruction
from evidence.items import EvidenceItem, EvidenceItemCreate, ItemKind, ItemStatus, collect_item, get_custody
from tests.evidence_support import EXAMINER, LAB, destroy_by_two, new_case, new_item

DESTROY = DestroyCreate(reason="retention ended", authority_ref="ORDER-7")


def test_collection_records_the_packs_date_and_refuses_a_shorter_one(session, clock):
    case_id = new_case(session, reporting=Reporting.ANONYMOUS)
    with pytest.raises(ValidationFailed, match="unreported kit, 20 years from collection"):
        collect_item(session, actor=EXAMINER, case_id=case_id, data=EvidenceItemCreate(
            kind=ItemKind.KIT, description="kit", retention_until=clock.now() + timedelta(days=7299)))
    session.rollback()
    earlier = clock.now() - timedelta(hours=3)  # recorded after the exam: retention counts from collection
    item = collect_item(session, actor=EXAMINER, case_id=case_id, data=EvidenceItemCreate(
        kind=ItemKind.KIT, description="kit", collected_at=earlier))
    assert item.retention_until == earlier + timedelta(days=7300)


def test_a_legacy_item_with_a_short_date_is_still_kept_for_the_packs_period(session, clock):
    case_id = new_case(session, reporting=Reporting.RESTRICTED)
    item_id = new_item(session, case_id)
    # a row written before collection enforced the pack (the exact report: retention now + 90 s)
    session.execute(update(EvidenceItem).where(EvidenceItem.id == item_id)
                    .values(retention_until=clock.now() + timedelta(seconds=90)))
    session.commit()
    clock.advance(timedelta(seconds=100))
    with pytest.raises(Conflict, match=r"kept until .*unreported kit, 20 years from collection"):
        propose_destruction(session, actor=EXAMINER, item_id=item_id, data=DESTROY)
    session.rollback()
    clock.advance(timedelta(days=7300))
    destroy_by_two(session, item_id, proposer=EXAMINER, approver=LAB)
    session.commit()
    assert get_custody(session, item_id).status == ItemStatus.DESTROYED


def test_a_file_of_a_legacy_item_is_locked_until_the_packs_date(session, clock, object_store):
    """Uploading to an item recorded with a short date locks the object in S3 until the pack's date anyway."""
    import io

    from evidence.files import upload_file

    case_id = new_case(session, reporting=Reporting.RESTRICTED)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    session.execute(update(EvidenceItem).where(EvidenceItem.id == item_id)
                    .values(retention_until=clock.now() + timedelta(seconds=90)))
    session.commit()
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"scanned form"),
                      length=12, max_bytes=1024)
    session.commit()
    pack_date = (clock.now() + timedelta(days=7300)).date()
    assert row.retain_until.date() == pack_date
    assert object_store.stat(row.object_key, row.version_id).retain_until.date() == pack_date
