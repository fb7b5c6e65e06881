"""Extension of preservation: an item (or every item of a case) kept longer, its files' Object Lock with it.

`extend_preservation` records the new retention date on the item, extends the COMPLIANCE retention of every
stored file of the item in the object store to that date (never shortening it: S3 refuses that anyway), appends
`custody:item:preservation-extended` and queues a pathway wake-up (the waiting pathway re-reads its dates). New
uploads take the item's date (evidence.files: keep_until). A destroyed item, a date not later than the current
one, or no date where the jurisdiction sets no default extension: refused, nothing recorded.

A conversion of a restricted/anonymous report to a reported one recomputes retention (extend only) through the
reporting hook `recompute_on_conversion` (registered in evidence.bootstrap.wire); that hook has no object store,
so `sync_object_locks` (run with the purge sweep and by every extension) brings file locks up to the item's date.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, field_validator
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from core import ledger, outbox
from core.actors import Actor, system_actor
from core.cases import Reporting, get_case
from core.clock import as_utc, require_offset, utcnow
from core.errors import Conflict, DependencyUnavailable, ValidationFailed
from core.ledger import EventKind
from evidence.files import EvidenceFile, FileStatus
from evidence.items import EvidenceItem, ItemCustody, ItemStatus, get_item, keep_until, list_items, lock_item
from evidence.storage import ObjectStore
from policies.jurisdictions import get_pack
from policies.retention import extended_until, minimum_retention


class Requester(StrEnum):
    """Who asked for the extension: staff on their own or the survivor's behalf, or the survivor (status page)."""

    STAFF = "staff"
    SURVIVOR = "survivor"


class PreservationRequest(SQLModel):
    """Request body of an extension: the new date (None: the jurisdiction's default extension) and who asked."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    until: datetime | None = None
    requested_by: Requester = Requester.STAFF

    @field_validator("until")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)


class ExtensionResult(SQLModel):
    """What one extension did to one item (opaque ids and dates only)."""

    item_id: str
    previous_until: datetime
    retention_until: datetime
    files_extended: list[str] = []  # file ids whose Object Lock now ends at retention_until


def _requester(value: Requester | str) -> Requester:
    try:
        return Requester(str(value))
    except ValueError:
        raise ValidationFailed(f"requested_by must be one of {', '.join(r.value for r in Requester)}") from None


def extend_file_locks(session: Session, store: ObjectStore, item_id: str, until: datetime) -> list[str]:
    """Extend the Object Lock of every stored file of the item whose lock ends before `until`; returns their ids.

    The store is changed before the caller's transaction commits: a failure after this leaves a longer lock,
    never a shorter one, and the item's date (the truth) is only recorded if the transaction commits."""
    until = as_utc(until)
    rows = session.execute(select(EvidenceFile).where(
        EvidenceFile.item_id == item_id, EvidenceFile.status == FileStatus.STORED.value).order_by(
        EvidenceFile.started_at)).scalars().all()
    extended = []
    for row in rows:
        if as_utc(row.retain_until) >= until:
            continue
        try:
            store.set_retention(row.object_key, row.version_id, until)
        except Exception as exc:  # the store's own errors (S3Error) or transport: nothing is recorded
            raise DependencyUnavailable(f"object store refused to extend the lock of file {row.id}: "
                                        f"{getattr(exc, 'code', type(exc).__name__)}") from exc
        row.retain_until = until
        session.add(row)
        extended.append(row.id)
    session.flush()
    return extended


def _extend_item(session: Session, store: ObjectStore, *, actor: Actor, item: EvidenceItem, state: ItemCustody,
                 until: datetime | None, requested_by: Requester, now: datetime) -> ExtensionResult:
    if state.status == ItemStatus.DESTROYED.value:
        raise Conflict(f"item {item.id} was destroyed: its preservation cannot be extended")
    current, _ = keep_until(session, item)  # the item's date, or the pack's if that is later
    pack = get_pack(get_case(session, item.case_id).jurisdiction)
    new = extended_until(current, until=until, default_days=pack.retention.default_extension_days, now=now)
    item.retention_until = new
    session.add(item)
    session.flush()
    files = extend_file_locks(session, store, item.id, new)
    ledger.append(session, kind=EventKind.PRESERVATION_EXTENDED, actor=actor, case_id=item.case_id,
                  item_id=item.id, at=now,
                  data={"previous_until": current, "retention_until": new, "requested_by": requested_by,
                        "files_extended": files, **({} if until else {"default_extension": True})})
    return ExtensionResult(item_id=item.id, previous_until=current, retention_until=new, files_extended=files)


def extend_preservation(session: Session, store: ObjectStore, *, actor: Actor, item_id: str,
                        until: datetime | None = None, requested_by: Requester | str = Requester.STAFF,
                        now: datetime | None = None) -> ExtensionResult:
    """Keep the item (and its files' Object Lock) until `until`, or the pack's default extension if None."""
    now = now or utcnow()
    who = _requester(requested_by)
    item, state = lock_item(session, item_id)
    result = _extend_item(session, store, actor=actor, item=item, state=state, until=until, requested_by=who,
                          now=now)
    outbox.enqueue(session, case_id=item.case_id, kind=outbox.OutboxKind.WAKE, now=now)
    return result


def extend_case_preservation(session: Session, store: ObjectStore, *, actor: Actor, case_id: str,
                             until: datetime | None = None, requested_by: Requester | str = Requester.STAFF,
                             now: datetime | None = None) -> list[ExtensionResult]:
    """Extend every item of the case that is not destroyed and kept until before `until` (all of them, with the
    pack's default extension when `until` is None); refused when no item would be extended."""
    now = now or utcnow()
    who = _requester(requested_by)
    out: list[ExtensionResult] = []
    for listed in list_items(session, case_id):
        item, state = lock_item(session, listed.id)
        if state.status == ItemStatus.DESTROYED.value:
            continue
        if until is not None and keep_until(session, item)[0] >= as_utc(until):
            continue
        out.append(_extend_item(session, store, actor=actor, item=item, state=state, until=until,
                                requested_by=who, now=now))
    if not out:
        raise Conflict("no item of this case can be extended to that date: every item is destroyed or already "
                       "kept at least that long")
    outbox.enqueue(session, case_id=case_id, kind=outbox.OutboxKind.WAKE, now=now)
    return out


def recompute_on_conversion(session: Session, actor: Actor, case_id: str, reporting: Reporting,
                            now: datetime) -> None:
    """Reporting hook: after a conversion, extend (never shorten) each kept item to the pack's date for the new
    reporting choice, ledgered as an extension requested by the conversion. File locks follow through
    `sync_object_locks` (this hook has no object store)."""
    pack = get_pack(get_case(session, case_id).jurisdiction)
    for listed in list_items(session, case_id):
        item, state = lock_item(session, listed.id)
        if state.status == ItemStatus.DESTROYED.value:
            continue
        required = minimum_retention(pack, reporting=reporting, kind=str(item.kind),
                                     collected_at=as_utc(item.collected_at), offence_class=item.offence_class)
        current = as_utc(item.retention_until)
        if required.until <= current:
            continue
        item.retention_until = required.until
        session.add(item)
        session.flush()
        ledger.append(session, kind=EventKind.PRESERVATION_EXTENDED, actor=actor, case_id=case_id,
                      item_id=item.id, at=now,
                      data={"previous_until": current, "retention_until": required.until,
                            "requested_by": "conversion", "reporting": reporting, "retention_rule": required.rule,
                            "files_extended": []})


def sync_object_locks(session: Session, store: ObjectStore, *, actor: Actor | None = None,
                      now: datetime | None = None) -> dict[str, list[str]]:
    """Extend the lock of every stored file whose lock ends before its (not destroyed) item's retention date
    (keep_until: never earlier than the pack's): files of items extended by a conversion, uploaded while an
    extension committed, or of a legacy item recorded with a date shorter than the pack's; each item's catch-up is
    ledgered (`custody:file:lock-extended`, file ids and the date). Returns item -> file ids."""
    now = now or utcnow()
    actor = actor or system_actor("retention")
    # Against keep_until (the item's date, or the pack's if later: a legacy item's short recorded date does not
    # shorten its files' locks), so every live item with a stored file is read; only those behind are locked.
    rows = session.execute(
        select(EvidenceFile.item_id, func.min(EvidenceFile.retain_until))
        .join(ItemCustody, ItemCustody.item_id == EvidenceFile.item_id)
        .where(EvidenceFile.status == FileStatus.STORED.value, ItemCustody.status != ItemStatus.DESTROYED.value)
        .group_by(EvidenceFile.item_id)).all()
    out: dict[str, list[str]] = {}
    for item_id, earliest in sorted(rows, key=lambda r: r[0]):
        if as_utc(earliest) >= keep_until(session, get_item(session, item_id))[0]:
            continue
        item, _ = lock_item(session, item_id)
        until, _ = keep_until(session, item)
        files = extend_file_locks(session, store, item.id, until)
        if files:
            ledger.append(session, kind=EventKind.FILE_LOCKS_EXTENDED, actor=actor, case_id=item.case_id,
                          item_id=item.id, at=now, data={"files": files, "retain_until": until})
            out[item.id] = files
    return out
