"""Evidence files against real SeaweedFS and both databases: streamed upload, verified reads, fixity."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from core import ledger
from core.errors import (
    Conflict,
    ConsentRequired,
    IntegrityViolation,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from evidence.files import EvidenceFile, FileStatus, list_files, open_file, read_file, set_legal_hold, upload_file
from evidence.fixity import run_fixity
from evidence.items import ItemKind
from evidence.storage import CANARY_PREFIX
from policies.consent import Decision
from policies.handoffs import ConsentScope
from tests.evidence_support import EXAMINER, grant, new_case, new_item

LIMIT = 64 * 1024 * 1024


def _chunks(data: bytes, size: int = 1 << 20):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _kinds(session) -> list[str]:
    return [e.kind for e in session.execute(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.seq)).scalars()]


def _versions(store) -> list:
    """Every object version in the bucket except the store's own conformance canaries (Object Lock check,
    payload-hash probe), which live under CANARY_PREFIX; evidence keys start with an item id, never there."""
    return [o for o in store.client.list_objects(store.bucket, recursive=True, include_version=True)
            if not o.object_name.startswith(CANARY_PREFIX)]


def test_streamed_upload_round_trip(session, clock, object_store):
    """A 20 MiB body of unknown length streams in (multipart), is hashed once, and reads back verified."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    data = os.urandom(20 * 1024 * 1024 + 123)
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=_chunks(data),
                      filename="phone dump (1).bin", max_bytes=LIMIT)
    session.commit()
    assert row.status == FileStatus.STORED and row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.object_key == f"{item_id}/{row.id}" and "phone" not in row.object_key
    info = object_store.stat(row.object_key, row.version_id)
    assert info.retention_mode == "COMPLIANCE" and info.version_id == row.version_id
    stored = [ledger.decode(e)["data"] for e in session.execute(select(ledger.LedgerEntry)).scalars()
              if e.kind == ledger.EventKind.FILE_STORED]
    assert stored == [{"file_id": row.id, "sha256": row.sha256, "size": len(data), "version_id": row.version_id,
                       "object_key": row.object_key, "legal_hold": False, "retain_until": stored[0]["retain_until"]}]
    assert read_file(session, object_store, actor=EXAMINER, item_id=item_id) == data
    assert ledger.verify_chain(session).ok
    report = run_fixity(session, object_store, actor=EXAMINER)
    assert report.clean and report.ok == 1


@pytest.mark.parametrize("case", ["oversized", "oversized-declared", "empty", "slash", "backslash", "control",
                                  "dots", "unknown-item"])
def test_bad_uploads_store_nothing(session, clock, object_store, case):
    """Bad inputs raise domain errors; no FILE_STORED entry, no stored row, no object in the bucket."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    before = _kinds(session)
    kwargs = {"stream": io.BytesIO(b"x" * 100), "filename": "ok.bin", "max_bytes": 1000, "item_id": item_id}
    expected = {
        "oversized": (PayloadTooLarge, {"stream": io.BytesIO(b"x" * 5000)}),
        "oversized-declared": (PayloadTooLarge, {"stream": io.BytesIO(b"x" * 5000), "length": 5000}),
        "empty": (ValidationFailed, {"stream": io.BytesIO(b"")}),
        "slash": (ValidationFailed, {"filename": "../etc/passwd"}),
        "backslash": (ValidationFailed, {"filename": "a\\b.jpg"}),
        "control": (ValidationFailed, {"filename": "a\nb.jpg"}),
        "dots": (ValidationFailed, {"filename": ".."}),
        "unknown-item": (NotFound, {"item_id": "E0000000000000000"}),
    }
    exc_type, change = expected[case]
    with pytest.raises(exc_type):
        upload_file(session, object_store, actor=EXAMINER, **{**kwargs, **change})
    session.rollback()
    assert _kinds(session) == before
    rows = session.execute(select(EvidenceFile)).scalars().all()
    assert all(r.status != FileStatus.STORED for r in rows)
    assert _versions(object_store) == []


def test_upload_failing_halfway_leaves_no_custody_entry(session, clock, object_store):
    """A body that breaks mid-stream leaves a failed row (explained by fixity) and no FILE_STORED entry."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    before = _kinds(session)

    def broken():
        yield os.urandom(20 * 1024 * 1024)  # more than one part has gone to the store
        raise ConnectionResetError("client went away")

    with pytest.raises(ValidationFailed, match="interrupted"):
        upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=broken(), max_bytes=LIMIT)
    session.rollback()
    assert _kinds(session) == before
    (row,) = list_files(session, item_id)
    assert row.status == FileStatus.FAILED and row.sha256 is None
    report = run_fixity(session, object_store, actor=EXAMINER)
    assert report.checked == 0 and (row.id in report.unfinished or row.id in report.orphans)


def test_mismatch_on_read_records_incident_even_though_read_fails(session, engine, clock, object_store):
    """A record pointing at other bytes than were hashed: the read fails and the incident stays committed."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"original" * 99),
                      max_bytes=LIMIT)
    session.commit()
    # Substitute bytes in the store (a new version under the same key) and point the record at them, as a
    # tampering insider or a buggy migration would: the recorded SHA-256 no longer matches what is read.
    other = object_store.put_stream(row.object_key, io.BytesIO(b"substitute" * 80), length=800)
    session.execute(text("UPDATE evidence_file SET version_id = :v WHERE id = :i"),
                    {"v": other.version_id, "i": row.id})
    session.commit()
    session.expire_all()
    with pytest.raises(IntegrityViolation):
        read_file(session, object_store, actor=EXAMINER, item_id=item_id)
    session.rollback()
    with Session(engine) as fresh:
        incidents = fresh.execute(select(func.count()).select_from(ledger.LedgerEntry).where(
            ledger.LedgerEntry.kind == ledger.EventKind.INTEGRITY_INCIDENT)).scalar_one()
        assert incidents == 1
        report = run_fixity(fresh, object_store, actor=EXAMINER)
        assert report.mismatched == [row.id] and not report.clean
        fresh.commit()
        assert ledger.verify_chain(fresh).ok
    # The original version is still there, intact: the evidence itself was never lost.
    original = b"".join(object_store.get_stream(row.object_key, ledger.decode(
        next(e for e in session.execute(select(ledger.LedgerEntry)).scalars()
             if e.kind == ledger.EventKind.FILE_STORED))["data"]["version_id"]))
    assert original == b"original" * 99


def test_photograph_views_pass_the_checkpoint_and_stop_after_withdrawal(session, clock, object_store):
    """Viewing a photograph needs photography consent; withdrawal restricts the item."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.PHOTOGRAPH)
    upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"\x89PNG..."),
                max_bytes=LIMIT, filename="img.png")
    session.commit()
    assert read_file(session, object_store, actor=EXAMINER, item_id=item_id) == b"\x89PNG..."
    grant(session, case_id, ConsentScope.PHOTO_RECORD, decision=Decision.WITHDRAWN)
    session.commit()
    with pytest.raises(PermissionDenied) as err:
        open_file(session, object_store, actor=EXAMINER, item_id=item_id)
    assert not isinstance(err.value, ConsentRequired)  # refused by the restriction flag itself
    # Nor can more photographs be stored for the item, or the item leave the centre.
    session.rollback()
    before = _versions(object_store)
    with pytest.raises(PermissionDenied, match="withdrawn"):
        upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"\x89PNG.2"),
                    max_bytes=LIMIT, filename="img2.png")
    session.rollback()
    assert _versions(object_store) == before
    from evidence.custody import TransferCreate, offer_release
    from tests.evidence_support import OFFICER

    with pytest.raises(PermissionDenied, match="withdrawn"):
        offer_release(session, actor=EXAMINER, item_id=item_id,
                     data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    session.rollback()


def test_legal_hold_recorded_and_enforced(session, clock, object_store):
    """A legal hold is set on the stored version and recorded in the ledger."""
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"doc"),
                      max_bytes=LIMIT)
    set_legal_hold(session, object_store, actor=EXAMINER, item_id=item_id, on=True)
    session.commit()
    assert object_store.stat(row.object_key, row.version_id).legal_hold is True
    assert ledger.EventKind.LEGAL_HOLD_SET in _kinds(session)


def test_item_destroyed_while_uploading_gets_no_file_stored_entry(session, clock, object_store, engine):
    """Destruction that lands while the bytes stream wins: the upload is refused, its row failed, no entry."""
    from datetime import timedelta

    from sqlmodel import Session as Sess

    from tests.evidence_support import LAB, destroy_by_two

    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    before = _kinds(session)

    def body():
        yield b"first part of the document"
        with Sess(engine) as other:  # another member of staff destroys the item meanwhile
            destroy_by_two(other, item_id, proposer=EXAMINER, approver=LAB, now=clock.now() + timedelta(days=7301))
            other.commit()
        yield b"rest of it"

    with pytest.raises(Conflict, match="destroyed while"):
        upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=body(), max_bytes=LIMIT)
    session.rollback()
    assert _kinds(session) == [*before, "custody:destruction:proposed", "custody:item:destroyed"]
    rows = session.execute(select(EvidenceFile)).scalars().all()
    assert [(r.status, r.failure) for r in rows] == [("failed", "item-destroyed")]
