"""Fixity: re-read every stored evidence file, re-hash it, and record what matched, what did not, and orphans."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.clock import utcnow
from core.db import commit_early, transaction
from core.errors import NotFound
from core.ledger import EventKind
from evidence.files import EvidenceFile, FileStatus
from evidence.incidents import IncidentSource, open_incident
from evidence.storage import ObjectStore

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class _FileRef:
    """What the pass needs of one file row, read before the caller's transaction ends."""

    id: str
    item_id: str
    status: str
    object_key: str
    version_id: str | None
    sha256: str | None
    size: int | None


def _record_incident(engine: Engine, *, actor: Actor, item_id: str, reason: str, data: dict[str, object],
                     now: datetime) -> None:
    """Commit one INTEGRITY_INCIDENT in a transaction of its own: nothing later in the pass can roll it back.
    It opens an integrity incident that quarantines the item, with its alert (evidence.incidents)."""
    with transaction(engine) as s:
        open_incident(s, actor=actor, item_id=item_id, reason=reason, data=data, source=IncidentSource.FIXITY,
                      now=now)


def run_fixity(session: Session, store: ObjectStore, *, actor: Actor, now: datetime | None = None) -> FixityReport:
    """Re-verify every stored file; append an INTEGRITY_INCIDENT per bad file and one FIXITY_CHECKED summary.

    The caller's transaction is COMMITTED once the file rows are read (as read_file does): no transaction, and on
    SQLite no write lock, is held while objects stream. Each incident is committed on its own as soon as it is
    found, so nothing that happens later in the pass (a store failure, a crash, the caller rolling back) can
    lose it. A file that cannot be read, whatever the error, is reported unreadable and the pass goes on. The
    FIXITY_CHECKED summary is appended in the caller's session, for the caller to commit.
    """
    now = now or utcnow()
    report = FixityReport()
    rows = [_FileRef(id=r.id, item_id=r.item_id, status=r.status, object_key=r.object_key, version_id=r.version_id,
                     sha256=r.sha256, size=r.size)
            for r in session.execute(
                select(EvidenceFile).order_by(EvidenceFile.started_at, EvidenceFile.id)).scalars()]
    engine = session.get_bind()
    commit_early(session, "end the transaction before streaming: the incident writer needs the database")
    for row in rows:
        if row.status != FileStatus.STORED.value:
            # An upload that never completed: is there an object at its key that no custody entry vouches for?
            try:
                store.stat(row.object_key, None)
                report.orphans.append(row.id)
            except NotFound:
                report.unfinished.append(row.id)
            except Exception as exc:  # the store could not answer for this key: unknown, not unfinished
                log.warning("fixity: an unfinished upload could not be checked (%s)", type(exc).__name__)
                report.unreadable.append(row.id)
            continue
        report.checked += 1
        try:
            digest, size = _hash_object(store, row.object_key, row.version_id)
        except NotFound:
            report.missing.append(row.id)
            _record_incident(engine, actor=actor, item_id=row.item_id, reason="object-missing",
                             data={"file_id": row.id, "sha256": row.sha256}, now=now)
            continue
        except Exception as exc:  # DependencyUnavailable, or anything else failing mid-read: this file only
            log.warning("fixity: a stored file could not be read (%s)", type(exc).__name__)
            report.unreadable.append(row.id)
            continue
        if digest == row.sha256 and size == row.size:
            report.ok += 1
            continue
        report.mismatched.append(row.id)
        _record_incident(engine, actor=actor, item_id=row.item_id, reason="sha256-mismatch",
                         data={"file_id": row.id, "sha256": row.sha256, "observed_sha256": digest}, now=now)
    ledger.append(session, kind=EventKind.FIXITY_CHECKED, actor=actor, at=now, data=report.as_data())
    return report
