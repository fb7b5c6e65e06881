"""Fixity: re-read every stored evidence file, re-hash it, and record what matched, what did not, and orphans."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.clock import utcnow
from core.errors import DependencyUnavailable, NotFound
from core.ledger import EventKind
from evidence.files import EvidenceFile, FileStatus
from evidence.storage import ObjectStore


@dataclass
class FixityReport:
    """Outcome of one fixity run; lists hold opaque file ids only."""

    checked: int = 0
    ok: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # pending/failed uploads whose key holds an object
    unfinished: list[str] = field(default_factory=list)  # pending/failed uploads with nothing stored

    @property
    def clean(self) -> bool:
        """True when every stored file verified."""
        return not (self.mismatched or self.missing or self.unreadable)

    def as_data(self) -> dict[str, object]:
        """The report as ledger data (ints and id lists)."""
        return {"checked": self.checked, "ok": self.ok, "mismatched": self.mismatched, "missing": self.missing,
                "unreadable": self.unreadable, "orphans": self.orphans, "unfinished": self.unfinished}


def _hash_object(store: ObjectStore, key: str, version_id: str | None) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for chunk in store.get_stream(key, version_id):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def run_fixity(session: Session, store: ObjectStore, *, actor: Actor, now: datetime | None = None) -> FixityReport:
    """Re-verify every stored file; append an INTEGRITY_INCIDENT per bad file and one FIXITY_CHECKED summary."""
    from evidence.custody import record_integrity_incident

    now = now or utcnow()
    report = FixityReport()
    rows = session.execute(select(EvidenceFile).order_by(EvidenceFile.started_at, EvidenceFile.id)).scalars().all()
    for row in rows:
        if row.status != FileStatus.STORED.value:
            # An upload that never completed: is there an object at its key that no custody entry vouches for?
            try:
                store.stat(row.object_key, None)
                report.orphans.append(row.id)
            except NotFound:
                report.unfinished.append(row.id)
            continue
        report.checked += 1
        try:
            digest, size = _hash_object(store, row.object_key, row.version_id)
        except NotFound:
            report.missing.append(row.id)
            record_integrity_incident(session, actor=actor, item_id=row.item_id, reason="object-missing",
                                      data={"file_id": row.id, "sha256": row.sha256}, now=now)
            continue
        except DependencyUnavailable:
            report.unreadable.append(row.id)
            continue
        if digest == row.sha256 and size == row.size:
            report.ok += 1
            continue
        report.mismatched.append(row.id)
        record_integrity_incident(session, actor=actor, item_id=row.item_id, reason="sha256-mismatch",
                                  data={"file_id": row.id, "sha256": row.sha256, "observed_sha256": digest},
                                  now=now)
    ledger.append(session, kind=EventKind.FIXITY_CHECKED, actor=actor, at=now, data=report.as_data())
    return report
