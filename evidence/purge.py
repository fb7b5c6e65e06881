"""The purge sweep: a destroyed item's files leave the object store once their Object Lock has ended.

Destruction (evidence.custody) records the item as destroyed; its files stay, COMPLIANCE-locked, until their
retain-until date. `purge_destroyed_files` (the scheduled flow flows/purge.py and `coc retention purge`) deletes
the object versions whose lock has ended, marks their rows `purged` and appends `custody:file:purged` per item
with the file ids and object version ids deleted (no names). Files still locked (by the store's answer: its clock
decides, and a refused delete counts as locked), under legal hold or missing are left and reported.

Each item's deletions are committed as soon as they are done (`commit_early`): the store's deletions cannot be
rolled back, so their record must not be lost with a later item's failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.actors import Actor, system_actor
from core.clock import as_utc, utcnow
from core.db import commit_early
from core.errors import NotFound
from core.ledger import EventKind
from evidence.files import EvidenceFile, FileStatus
from evidence.items import EvidenceItem, ItemCustody, ItemStatus
from evidence.storage import ObjectStore


@dataclass
class PurgeReport:
    """What one sweep did: ids only (file ids, object version ids, item ids)."""

    deleted: list[dict[str, str | None]] = field(default_factory=list)  # {item_id, file_id, version_id}
    still_locked: list[dict[str, str | None]] = field(default_factory=list)  # {item_id, file_id, retain_until}
    held: list[str] = field(default_factory=list)  # file ids under legal hold
    missing: list[str] = field(default_factory=list)  # file ids whose version is not in the store

    def summary(self) -> dict[str, int]:
        """Counts only (for logs and flow results)."""
        return {"deleted": len(self.deleted), "still_locked": len(self.still_locked), "held": len(self.held),
                "missing": len(self.missing)}


def _destroyed_files(session: Session) -> list[tuple[EvidenceFile, str]]:
    """Stored files of destroyed items, with their case id, by item then upload time."""
    rows = session.execute(
        select(EvidenceFile, EvidenceItem.case_id).join(EvidenceItem, EvidenceItem.id == EvidenceFile.item_id)
        .join(ItemCustody, ItemCustody.item_id == EvidenceFile.item_id)
        .where(ItemCustody.status == ItemStatus.DESTROYED.value, EvidenceFile.status == FileStatus.STORED.value)
        .order_by(EvidenceFile.item_id, EvidenceFile.started_at)).all()
    return [(r[0], r[1]) for r in rows]


def _try_delete(store: ObjectStore, row: EvidenceFile, now: datetime) -> tuple[str, datetime | None]:
    """'deleted', 'locked' (with the lock's end when known) or 'missing'."""
    try:
        info = store.stat(row.object_key, row.version_id)
    except NotFound:
        return "missing", None
    if info.legal_hold:
        return "held", info.retain_until
    if info.retain_until is not None and as_utc(info.retain_until) > now:
        return "locked", info.retain_until
    try:
        store.delete_version(row.object_key, row.version_id or "null")
    except Exception as exc:  # the store's refusal (its clock says the lock holds): leave it for the next sweep
        if getattr(exc, "code", None) in ("AccessDenied", "ObjectLocked", "InvalidRequest"):
            return "locked", info.retain_until
        raise
    return "deleted", None


def purge_destroyed_files(session: Session, store: ObjectStore, *, now: datetime | None = None,
                          actor: Actor | None = None) -> PurgeReport:
    """Delete the object versions of destroyed items whose Object Lock has ended; record and report (see module)."""
    now = as_utc(now or utcnow())
    actor = actor or system_actor("purge")
    report = PurgeReport()
    by_item: dict[str, tuple[str, list[EvidenceFile]]] = {}
    for row, case_id in _destroyed_files(session):
        if row.legal_hold:
            report.held.append(row.id)
            continue
        by_item.setdefault(row.item_id, (case_id, []))[1].append(row)
    for item_id, (case_id, rows) in by_item.items():
        deleted: list[dict[str, str | None]] = []
        for row in rows:
            outcome, until = _try_delete(store, row, now)
            if outcome == "deleted":
                row.status = FileStatus.PURGED
                session.add(row)
                deleted.append({"file_id": row.id, "version_id": row.version_id})
            elif outcome == "held":
                report.held.append(row.id)
            elif outcome == "missing":
                report.missing.append(row.id)
            else:
                report.still_locked.append({"item_id": item_id, "file_id": row.id,
                                            "retain_until": (until or row.retain_until).isoformat()})
        if deleted:
            session.flush()
            ledger.append(session, kind=EventKind.FILES_PURGED, actor=actor, case_id=case_id, item_id=item_id,
                          at=now, data={"files": deleted})
            commit_early(session, "the store's deletions cannot be undone: their record must not roll back")
            report.deleted.extend({"item_id": item_id, **d} for d in deleted)
    return report
