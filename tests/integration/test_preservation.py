"""Extension of preservation on both databases against the real SeaweedFS: the item's retention date and the
Object Lock of every stored file move together (never shorter); refusals record nothing; a conversion extends."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from minio.error import S3Error
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, select

from core.actors import system_actor
from core.cases import CaseCreate, Reporting
from core.clock import as_utc
from core.errors import Conflict, ValidationFailed
from core.ledger import EventKind, LedgerEntry
from core.outbox import OutboxKind, OutboxMessage
from evidence.files import upload_file
from evidence.items import EvidenceItem, ItemKind
from evidence.preservation import extend_case_preservation, extend_preservation, sync_object_locks
from policies.cases import change_reporting, open_case
from tests.evidence_support import (
    ALL_SCOPES,
    EXAMINER,
    LAB,
    destroy_by_two,
    ensure_staff,
    grant,
    new_case,
    new_item,
    past_retention,
)

LIMIT = 1024 * 1024


def _upload(session, store, item_id, body=b"scanned consent form"):
    row = upload_file(session, store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(body), length=len(body),
                      max_bytes=LIMIT)
    session.commit()
    return row


def _entries(session, kind, item_id=None):
    q = select(LedgerEntry).where(LedgerEntry.kind == kind)
    if item_id:
        q = q.where(LedgerEntry.item_id == item_id)
    return [json.loads(bytes(e.body))["data"] for e in session.execute(q.order_by(LedgerEntry.seq)).scalars()]


def _counts(session):
    return (session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one(),
            session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())


def _lock(store, row):
    return as_utc(store.stat(row.object_key, row.version_id).retain_until)


def test_extension_moves_the_item_date_and_every_file_lock(session, clock, object_store):
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    first, second = _upload(session, object_store, item_id), _upload(session, object_store, item_id, b"page two")
    before = as_utc(first.retain_until)
    assert _lock(object_store, first) == before  # the lock equals the item's retention date
    until = (before + timedelta(days=5 * 365)).replace(microsecond=0)
    wakes = session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == OutboxKind.WAKE.value)).scalar_one()

    result = extend_preservation(session, object_store, actor=LAB, item_id=item_id, until=until,
                                 requested_by="survivor")
    session.commit()

    assert result.previous_until == before and result.retention_until == until
    assert sorted(result.files_extended) == sorted([first.id, second.id])
    assert as_utc(session.get(EvidenceItem, item_id).retention_until) == until
    for row in (first, second):
        session.refresh(row)
        assert as_utc(row.retain_until) == until
        assert _lock(object_store, row) == until  # the store's own lock, read back from SeaweedFS
    [data] = _entries(session, EventKind.PRESERVATION_EXTENDED, item_id)
    assert data["requested_by"] == "survivor" and data["retention_until"].startswith(until.date().isoformat())
    assert sorted(data["files_extended"]) == sorted([first.id, second.id])
    assert session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == OutboxKind.WAKE.value, OutboxMessage.case_id == case_id)).scalar_one() == wakes + 1
    # a new upload takes the new date
    third = _upload(session, object_store, item_id, b"page three")
    assert as_utc(third.retain_until) == until and _lock(object_store, third) == until


def test_the_store_refuses_to_shorten_a_compliance_lock(object_store, s3_settings):
    """What 'never shortened' rests on: SeaweedFS refuses an earlier retain-until in COMPLIANCE mode."""
    from core.clock import SystemClock

    until = (SystemClock().now() + timedelta(days=30)).replace(microsecond=0)
    put = object_store.put_stream("item-x/file-y", io.BytesIO(b"locked"), length=6, retain_until=until)
    with pytest.raises(S3Error):
        object_store.set_retention(put.key, put.version_id, until - timedelta(days=10))
    object_store.set_retention(put.key, put.version_id, until + timedelta(days=10))
    assert as_utc(object_store.stat(put.key, put.version_id).retain_until) == until + timedelta(days=10)


def test_a_shorter_or_equal_date_is_refused_and_nothing_is_recorded(session, clock, object_store):
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    row = _upload(session, object_store, item_id)
    current = as_utc(row.retain_until)
    counts = _counts(session)
    for bad in (current - timedelta(days=1), current):
        with pytest.raises(ValidationFailed, match="can only be extended"):
            extend_preservation(session, object_store, actor=LAB, item_id=item_id, until=bad)
        session.rollback()
    assert _counts(session) == counts
    assert _lock(object_store, row) == current
    with pytest.raises(ValidationFailed, match="sets no default extension"):  # no date, no default in the pack
        extend_preservation(session, object_store, actor=LAB, item_id=item_id)
    session.rollback()
    with pytest.raises(ValidationFailed, match="requested_by must be one of staff, survivor"):
        extend_preservation(session, object_store, actor=LAB, item_id=item_id,
                            until=current + timedelta(days=1), requested_by="police")
    session.rollback()
    assert _counts(session) == counts


def test_a_destroyed_item_cannot_be_extended_nothing_recorded(session, clock, object_store):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    clock.advance(past_retention(session.get(EvidenceItem, item_id).retention_until))
    # Two different people: the examiner (custodian) proposes, the lab user approves (evidence.destruction).
    destroy_by_two(session, item_id, proposer=EXAMINER, approver=LAB, authority_ref="ORDER-7")
    session.commit()
    counts = _counts(session)
    with pytest.raises(Conflict, match="was destroyed: its preservation cannot be extended"):
        extend_preservation(session, object_store, actor=system_actor("status-lookup"), item_id=item_id,
                            until=clock.now() + timedelta(days=3650), requested_by="survivor")
    session.rollback()
    assert _counts(session) == counts
    with pytest.raises(Conflict, match="no item of this case can be extended"):
        extend_case_preservation(session, object_store, actor=LAB, case_id=case_id,
                                 until=clock.now() + timedelta(days=3650))
    session.rollback()
    assert _counts(session) == counts


def test_case_wide_extension_skips_destroyed_and_longer_kept_items(session, clock, object_store):
    case_id = new_case(session)
    short, long_, gone = (new_item(session, case_id, ItemKind.DOCUMENT) for _ in range(3))
    base = as_utc(session.get(EvidenceItem, short).retention_until)
    extend_preservation(session, object_store, actor=LAB, item_id=long_, until=base + timedelta(days=9000))
    session.commit()
    clock.advance(past_retention(base))
    destroy_by_two(session, gone, proposer=EXAMINER, approver=LAB, authority_ref="ORDER-8")
    session.commit()
    until = base + timedelta(days=1000)
    out = extend_case_preservation(session, object_store, actor=LAB, case_id=case_id, until=until)
    session.commit()
    assert [r.item_id for r in out] == [short]
    assert as_utc(session.get(EvidenceItem, short).retention_until) == until
    assert as_utc(session.get(EvidenceItem, long_).retention_until) == base + timedelta(days=9000)


def test_a_conversion_extends_retention_and_the_sweep_brings_the_locks_along(session, clock, object_store):
    """Idaho: an undecided case's document kept 20 years; converted to anonymous it must be kept 55 years."""
    ensure_staff(session)
    case = open_case(session, actor=EXAMINER, data=CaseCreate(reporting=Reporting.UNDECIDED, jurisdiction="us-id"))
    grant(session, case.id, *ALL_SCOPES)
    session.commit()
    item_id = new_item(session, case.id, ItemKind.DOCUMENT)
    row = _upload(session, object_store, item_id)
    collected = as_utc(session.get(EvidenceItem, item_id).collected_at)
    assert as_utc(row.retain_until) == collected + timedelta(days=7300)

    change_reporting(session, actor=EXAMINER, case_id=case.id, reporting=Reporting.ANONYMOUS)
    session.commit()
    idaho = collected + timedelta(days=20075)
    assert as_utc(session.get(EvidenceItem, item_id).retention_until) == idaho
    [data] = _entries(session, EventKind.PRESERVATION_EXTENDED, item_id)
    assert data["requested_by"] == "conversion"
    assert data["retention_rule"] == ("Idaho (US): anonymous document, 55 years from collection "
                                      "(retention.anonymous_retention_days)")
    # the conversion had no store: the sweep extends the file's lock to the new date
    assert sync_object_locks(session, object_store) == {item_id: [row.id]}
    session.commit()
    [synced] = _entries(session, EventKind.FILE_LOCKS_EXTENDED, item_id)
    assert synced["files"] == [row.id] and synced["retain_until"].startswith(idaho.date().isoformat())
    session.refresh(row)
    assert as_utc(row.retain_until) == idaho and _lock(object_store, row) == idaho
    assert sync_object_locks(session, object_store) == {}  # nothing left to do
    # converting on to a reported case (20 years) never shortens
    change_reporting(session, actor=EXAMINER, case_id=case.id, reporting=Reporting.UNRESTRICTED)
    session.commit()
    assert as_utc(session.get(EvidenceItem, item_id).retention_until) == idaho
    assert len(_entries(session, EventKind.PRESERVATION_EXTENDED, item_id)) == 1


def test_offence_class_is_recorded_at_collection(session, clock):
    from evidence.items import EvidenceItemCreate, collect_item

    case_id = new_case(session)
    item = collect_item(session, actor=EXAMINER, case_id=case_id, data=EvidenceItemCreate(
        kind=ItemKind.KIT, description="kit", offence_class="sexual-assault"))
    session.commit()
    assert session.get(EvidenceItem, item.id).offence_class == "sexual-assault"
    [data] = [d for d in _entries(session, EventKind.ITEM_COLLECTED, item.id)]
    assert data["offence_class"] == "sexual-assault"
    assert data["retention_rule"] == (  # the default pack lists no limitation periods: the cap holds
        "Default (national protocol values): reported kit, statute of limitations or 20 years, whichever is "
        "shorter: 20 years (no limitation period listed for sexual-assault) from collection (retention.cap_days)")
    with pytest.raises(PydanticValidationError, match="offence_class"):
        EvidenceItemCreate(kind=ItemKind.KIT, description="kit", offence_class="burglary")


def test_the_destruction_notice_clock_follows_an_extension(session, clock, object_store):
    from policies import deadlines
    from policies.deadlines import ClockName

    case_id = new_case(session, reporting=Reporting.RESTRICTED)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    until = as_utc(session.get(EvidenceItem, item_id).retention_until) + timedelta(days=400)
    extend_preservation(session, object_store, actor=LAB, item_id=item_id, until=until)
    session.commit()
    notice = next(c for c in deadlines.case_clocks(session, case_id) if c.name is ClockName.DESTRUCTION_NOTICE)
    assert notice.item_id == item_id
    assert notice.deadline == until - timedelta(days=60)  # the pack's notice_days before the NEW date
