"""Evidence files: streamed upload to the object store with SHA-256 in the same pass, verified streamed reads.

Upload protocol (so a failure never leaves custody pointing at a missing or partial object):
  1. an `evidence_file` row is written with status `pending` and COMMITTED before any byte is sent — if the
     process dies mid-upload, fixity finds the pending row and can explain any orphan object at its key;
  2. the body streams through a hashing, counting, size-limiting reader straight into `put_object`;
  3. on success the row becomes `stored` (sha256, size, version id) and FILE_STORED is appended, in the
     caller's transaction; on failure the row becomes `failed` and is committed, and the error propagates.
Object keys are `<item id>/<file id>`: opaque ids only; the uploader's file name is metadata in the row.
Every read re-hashes the bytes as they stream, holding the last chunk back until the whole object verified; a
mismatch commits an INTEGRITY_INCIDENT entry (in its own transaction, so the failing read cannot roll it back)
and raises IntegrityViolation before that chunk goes out (a tampered file is never delivered complete).
The streaming halves (the hashing upload reader, the verifying download stream) are in evidence.file_streams;
this module holds the table and the services.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, String, select
from sqlmodel import Field, Session, SQLModel

from core import crypto, ledger
from core.actors import Actor
from core.clock import as_utc, utcnow
from core.db import commit_early
from core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from core.ledger import EventKind
from evidence.capacity import check_room, full_error, store_full
from evidence.custody.models import CustodyEventKind, Transfer, TransferPurpose, TransferStatus, add_event
from evidence.file_streams import HashingReader, verified_stream
from evidence.file_streams import record_mismatch as record_mismatch  # re-exported
from evidence.incidents import require_not_quarantined
from evidence.items import EvidenceItem, ItemKind, ItemStatus, get_custody, get_item, keep_until, lock_item
from evidence.storage import ObjectStore
from policies import checkpoint
from policies.consent import wake_pathway
from policies.handoffs import Handoff
from policies.permissions import Role

MAX_NAME = 255


class FileStatus(StrEnum):
    """Upload state of a file row."""

    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"
    PURGED = "purged"  # a destroyed item's object version deleted after its lock ended (evidence.purge)


class EvidenceFile(SQLModel, table=True):
    """One uploaded file of an item: where its bytes are (key + version) and their SHA-256."""

    __tablename__ = "evidence_file"

    id: str = Field(primary_key=True, max_length=32)
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    object_key: str = Field(max_length=80)
    status: FileStatus = Field(sa_type=String(16))
    original_name: str | None = Field(default=None, max_length=MAX_NAME)  # metadata only, never in a key
    content_type: str = Field(default="application/octet-stream", max_length=100)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    version_id: str | None = Field(default=None, max_length=128)
    retain_until: datetime = Field(sa_type=DateTime(timezone=True))
    legal_hold: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    started_by: str = Field(max_length=64)
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    failure: str | None = Field(default=None, max_length=200)


class EvidenceFilePublic(SQLModel):
    """A file as shown through the API."""

    id: str
    item_id: str
    status: FileStatus
    original_name: str | None = None
    content_type: str
    size: int | None = None
    sha256: str | None = None
    version_id: str | None = None
    retain_until: datetime
    legal_hold: bool
    started_at: datetime
    completed_at: datetime | None = None


def check_filename(name: str | None) -> str | None:
    """Refuse names with path separators, control characters or dot-only names (the name is metadata only)."""
    if name is None or name == "":
        return None
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"file name is longer than {MAX_NAME} characters")
    if "/" in name or "\\" in name:
        raise ValidationFailed("file name must not contain path separators ('/' or '\\')")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ValidationFailed("file name must not contain control characters")
    if name.strip(". ") == "":
        raise ValidationFailed("file name must not be only dots or spaces")
    return name


def _get_file(session: Session, item_id: str, file_id: str | None) -> EvidenceFile:
    """The requested stored file of the item, or its latest stored one."""
    stmt = select(EvidenceFile).where(EvidenceFile.item_id == item_id,
                                      EvidenceFile.status == FileStatus.STORED.value)
    if file_id:
        stmt = stmt.where(EvidenceFile.id == file_id)
    row = session.execute(stmt.order_by(EvidenceFile.completed_at.desc())).scalars().first()  # type: ignore
    if row is None:
        raise NotFound("this item has no stored file" if not file_id else f"no stored file {file_id!r}")
    return row


def list_files(session: Session, item_id: str) -> list[EvidenceFile]:
    """Every file row of the item (pending and failed included), oldest first."""
    get_item(session, item_id)
    return list(session.execute(
        select(EvidenceFile).where(EvidenceFile.item_id == item_id).order_by(EvidenceFile.started_at)
    ).scalars())


def item_hold_set(session: Session, item_id: str) -> bool:
    """True when the item's last legal-hold entry set the hold: a hold is on the ITEM (a physical kit with no
    file can be held by a court's order), recorded in the ledger by set_legal_hold; its files follow."""
    last = session.execute(select(ledger.LedgerEntry).where(
        ledger.LedgerEntry.item_id == item_id, ledger.LedgerEntry.kind == EventKind.LEGAL_HOLD_SET.value)
        .order_by(ledger.LedgerEntry.seq.desc()).limit(1)).scalars().first()  # type: ignore[attr-defined]
    return last is not None and ledger.decode(last).get("data", {}).get("legal_hold") is True


def has_legal_hold(session: Session, item_id: str) -> bool:
    """True when the item is under legal hold, or any stored file of it is."""
    return item_hold_set(session, item_id) or session.execute(
        select(EvidenceFile.id).where(EvidenceFile.item_id == item_id,
                                      EvidenceFile.legal_hold.is_(True))  # type: ignore[union-attr]
    ).first() is not None


def upload_file(
    session: Session,
    store: ObjectStore,
    *,
    actor: Actor,
    item_id: str,
    stream: BinaryIO | Iterator[bytes],
    filename: str | None = None,
    content_type: str = "application/octet-stream",
    length: int = -1,
    max_bytes: int,
    legal_hold: bool = False,
    now: datetime | None = None,
) -> EvidenceFile:
    """Stream a file into the store (one pass, SHA-256 on the way); COMMITS the pending row first (see module)."""
    now = now or utcnow()
    name = check_filename(filename)
    item = get_item(session, item_id)
    state = get_custody(session, item.id)
    if state.status == ItemStatus.DESTROYED.value:
        raise Conflict("item was destroyed: no file can be added")
    if item.photo_consent_withdrawn:  # nothing more is stored for this photograph
        raise PermissionDenied("photography consent was withdrawn for this case: no file can be added to this item")
    if length > max_bytes:
        raise PayloadTooLarge(f"upload of {length} bytes exceeds the limit of {max_bytes} bytes")
    if length == 0:
        raise ValidationFailed("the upload is empty: an empty file is not evidence")
    check_room(store.free_bytes(), length)  # refused up front, before a row or a byte (507 naming the store)
    file_id = secrets.token_hex(16)
    legal_hold = legal_hold or item_hold_set(session, item.id)  # a file of a held item is held in the store too
    retain_until, _ = keep_until(session, item)  # the item's date, never earlier than the jurisdiction pack's
    if as_utc(retain_until) <= now:  # an Object Lock cannot end in the past: the store would refuse it (500)
        raise Conflict(f"the item's retention date has passed ({as_utc(retain_until).date().isoformat()}): extend "
                       "its preservation first (coc retention extend) to add a file, or destroy it")
    row = EvidenceFile(id=file_id, item_id=item.id, object_key=f"{item.id}/{file_id}", status=FileStatus.PENDING,
                       original_name=crypto.keep_text(session, case_id=item.case_id, text=name, now=now,
                                                      purpose=crypto.TextPurpose.FILE_NAME),
                       content_type=content_type[:100], retain_until=retain_until,
                       legal_hold=legal_hold, started_at=now, started_by=actor.id)
    session.add(row)
    commit_early(session, "the pending row must survive a crash mid-upload, so fixity can explain an orphan")
    reader = HashingReader(stream, max_bytes)
    try:
        # An empty body is refused before anything reaches the store (no 0-byte "evidence" hashed as empty).
        if not reader.has_data():
            raise ValidationFailed("the upload is empty: an empty file is not evidence")
        put = store.put_stream(row.object_key, reader, length=length,
                               retain_until=as_utc(retain_until), legal_hold=legal_hold,
                               content_type="application/octet-stream")
        if length >= 0 and reader.size != length:
            raise ValidationFailed(f"the body had {reader.size} bytes, not the declared {length}")
    except BaseException as exc:
        session.rollback()
        failed = session.get(EvidenceFile, file_id)
        if failed is not None:
            failed.status = FileStatus.FAILED
            failed.failure = (exc.code if isinstance(exc, DomainError) else type(exc).__name__)[:200]
            failed.completed_at = utcnow()
            session.add(failed)
            commit_early(session, "the failed upload is recorded although the request fails")
        if not isinstance(exc, DomainError) and store_full(exc):
            raise full_error(exc) from exc
        raise
    # The item may have been destroyed while the bytes streamed (the check above held no lock): decide under
    # the item's lock, so a FILE_STORED entry never follows a DESTROYED one. The object stays (Object Lock),
    # explained to fixity by the failed row.
    _, state = lock_item(session, item.id)
    if state.status == ItemStatus.DESTROYED.value:
        failed = session.get(EvidenceFile, file_id)
        assert failed is not None
        failed.status, failed.failure, failed.completed_at = FileStatus.FAILED, "item-destroyed", utcnow()
        session.add(failed)
        commit_early(session, "the failed upload is recorded although the request fails")
        raise Conflict("item was destroyed while the file was uploading: the file was not added")
    row = session.get(EvidenceFile, file_id)
    assert row is not None
    if not legal_hold and item_hold_set(session, item.id):  # a hold set while the bytes streamed holds them too
        store.set_legal_hold(row.object_key, put.version_id, True)
        legal_hold = row.legal_hold = True
    row.status = FileStatus.STORED
    row.size = reader.size
    row.sha256 = reader.hash.hexdigest()
    row.version_id = put.version_id
    row.completed_at = utcnow()
    session.add(row)
    session.flush()
    entry = ledger.append(session, kind=EventKind.FILE_STORED, actor=actor, case_id=item.case_id, item_id=item.id,
                          at=now, data={"file_id": row.id, "sha256": row.sha256, "size": row.size,
                                        "version_id": row.version_id, "object_key": row.object_key,
                                        "legal_hold": legal_hold, "retain_until": row.retain_until})
    add_event(session, item_id=item.id, kind=CustodyEventKind.FILE_STORED, actor=actor, at=now, entry=entry)
    return row


def open_file(session: Session, store: ObjectStore, *, actor: Actor, item_id: str, file_id: str | None = None,
              now: datetime | None = None) -> tuple[EvidenceFile, Iterator[bytes]]:
    """Authorize a read (photographs: checkpoint, restriction) and return the row and a verifying stream."""
    now = now or utcnow()
    item: EvidenceItem = get_item(session, item_id)
    require_not_quarantined(session, item.id, "downloaded")  # a quarantined item's files are not handed out
    if actor.role == Role.LAW_ENFORCEMENT:
        _require_released_to(session, actor, item, now)
    if item.kind == ItemKind.PHOTOGRAPH.value:
        if item.photo_consent_withdrawn:
            raise PermissionDenied("photograph consent was withdrawn: this photograph can no longer be viewed")
        checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.PHOTO_VIEW, actor=actor, now=now,
                           subject={"item_id": item.id})
    row = _get_file(session, item.id, file_id)
    return row, verified_stream(store, row, session.get_bind(), actor)


def _require_released_to(session: Session, actor: Actor, item: EvidenceItem, now: datetime) -> None:
    """Law enforcement downloads a file only of an item released to them (an accepted release) and not returned
    since, and only while the release consent holds: the checkpoint decides again at each download (a denial is
    committed and raises ConsentRequired); photographs also need the photography consent (checked by the caller)."""
    released = session.execute(select(Transfer.id).where(
        Transfer.item_id == item.id, Transfer.to_user == actor.id,
        Transfer.purpose == TransferPurpose.RELEASE.value,
        Transfer.status == TransferStatus.ACCEPTED.value).limit(1)).first()
    if released is None:
        raise PermissionDenied("this item was not released to you: its files are not yours to download")
    if not get_custody(session, item.id).released:
        raise PermissionDenied("this item was returned to the centre: its release ended, and with it access to its "
                               "files; the centre can release it again (the consent checkpoint decides)")
    checkpoint.enforce(session, case_id=item.case_id, handoff=Handoff.RELEASE_LAW_ENFORCEMENT, actor=actor, now=now,
                       subject={"item_id": item.id, "item_kind": str(item.kind), "for": "file-download"})


def read_file(session: Session, store: ObjectStore, *, actor: Actor, item_id: str, file_id: str | None = None,
              now: datetime | None = None) -> bytes:
    """Read a whole (small) file into memory, verified — for tests and labels, not for large evidence."""
    _row, stream = open_file(session, store, actor=actor, item_id=item_id, file_id=file_id, now=now)
    commit_early(session, "end the transaction before streaming: the incident writer needs the database")
    return b"".join(stream)


def set_legal_hold(session: Session, store: ObjectStore, *, actor: Actor, item_id: str, on: bool,
                   now: datetime | None = None) -> list[EvidenceFile]:
    """Set or lift the legal hold on the item and every stored file of it (store first, then the record). An
    item with no file (a physical kit) is held all the same: the ledger entry is the hold (item_hold_set), and
    files added later are held. The item's row is locked, so a destruction being approved sees the hold."""
    now = now or utcnow()
    item, _state = lock_item(session, item_id)
    rows = [r for r in list_files(session, item.id) if r.status == FileStatus.STORED.value]
    for r in rows:
        store.set_legal_hold(r.object_key, r.version_id, on)
        r.legal_hold = on
        session.add(r)
    session.flush()
    ledger.append(session, kind=EventKind.LEGAL_HOLD_SET, actor=actor, case_id=item.case_id, item_id=item.id,
                  at=now, data={"legal_hold": on, "file_ids": [r.id for r in rows]})
    wake_pathway(session, item.case_id, "legal hold changed: the retention stage re-reads it", now)
    return rows
