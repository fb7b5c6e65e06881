"""The checks after every fault (issue #17): the ledger verifies; every acknowledged request has its effect exactly
once; nothing refused left a row, a ledger entry or a custody change; no upload is left pending or half-stored,
and fixity can explain every object that no stored file row vouches for."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.actors import system_actor
from core.crypto.texts import show_text
from core.ledger import EventKind, LedgerEntry, verify_ledger
from evidence.custody.models import CustodyEvent, CustodyEventKind
from evidence.files import EvidenceFile, FileStatus
from evidence.fixity import run_fixity
from evidence.items import EvidenceItem, ItemCustody
from evidence.storage import ObjectStore
from policies.consent.models import ConsentDecision
from tests.faults.procs import Outcome


def assert_ledger_verifies(engine: Engine) -> int:
    """The whole chain and tree verify (deep); returns the number of entries."""
    with Session(engine) as s:
        report = verify_ledger(s, deep=True)
    assert report.ok, f"the ledger does not verify after the fault: seq {report.first_bad_seq}: {report.reason}"
    return report.entries


def _seqs(s: Session, kind: EventKind) -> set[int]:
    return set(s.scalars(select(LedgerEntry.seq).where(LedgerEntry.kind == kind.value)))


def assert_consents(engine: Engine, outcomes: list[Outcome]) -> None:
    """Consent decisions (tagged by form_ref): acknowledged → exactly one row with its ledger entry; refused →
    none; lost (no answer) → at most one, and then complete. No decision row without its entry, or entry without
    its row."""
    with Session(engine) as s:
        rows = s.scalars(select(ConsentDecision)).all()
        assert {r.ledger_seq for r in rows} == _seqs(s, EventKind.CONSENT_RECORDED), \
            "a consent ledger entry without its decision row, or a row without its entry"
        # the form reference is kept sealed under the case key (the row holds its commitment)
        refs = [(show_text(s, r.case_id, r.form_ref), r.id) for r in rows]
    by_ref = Counter(ref for ref, _ in refs)
    ids = dict(refs)
    for o in outcomes:
        if o.tag.startswith("I-"):
            continue
        if o.acknowledged:
            assert by_ref[o.tag] == 1, f"acknowledged decision {o.tag} is present {by_ref[o.tag]} times"
            assert ids[o.tag] == o.body["id"]
        elif o.refused:
            assert by_ref[o.tag] == 0, f"refused decision {o.tag} ({o.status}) left a row behind"
        else:
            assert by_ref[o.tag] <= 1, f"lost decision {o.tag} is present {by_ref[o.tag]} times"


def assert_items(engine: Engine, outcomes: list[Outcome]) -> None:
    """Collected items (tagged by description): acknowledged → exactly one item with its custody row, its
    COLLECTED custody event and ledger entry; refused → none; lost → at most one, and then whole."""
    with Session(engine) as s:
        items = s.scalars(select(EvidenceItem)).all()
        held = set(s.scalars(select(ItemCustody.item_id)))
        collected = set(s.scalars(select(CustodyEvent.item_id).where(CustodyEvent.kind == CustodyEventKind.COLLECTED)))
        entries = set(s.scalars(select(LedgerEntry.item_id).where(LedgerEntry.kind == EventKind.ITEM_COLLECTED.value)))
        # the description is kept sealed under the case key (the row holds its commitment)
        described = [(show_text(s, i.case_id, i.description), i.id) for i in items]
    assert {i.id for i in items} == held == collected == entries, "an item without its custody row, event or entry"
    by_tag = Counter(d for d, _ in described)
    ids = dict(described)
    for o in outcomes:
        if not o.tag.startswith("I-"):
            continue
        if o.acknowledged:
            assert by_tag[o.tag] == 1 and ids[o.tag] == o.body["id"], f"acknowledged item {o.tag}: {by_tag[o.tag]}"
        elif o.refused:
            assert by_tag[o.tag] == 0, f"refused item {o.tag} ({o.status}) left an item behind"
        else:
            assert by_tag[o.tag] <= 1, f"lost item {o.tag} is present {by_tag[o.tag]} times"


def assert_custody_matches_ledger(engine: Engine) -> None:
    """Every custody event points at its own ledger entry (same item), and stored files, FILE_STORED entries and
    FILE_STORED custody events agree one to one."""
    with Session(engine) as s:
        events = s.scalars(select(CustodyEvent)).all()
        seqs = Counter(e.ledger_seq for e in events)
        assert all(n == 1 for n in seqs.values()), "two custody events share one ledger entry"
        entries = {e.seq: e for e in s.scalars(select(LedgerEntry).where(LedgerEntry.seq.in_(list(seqs))))}
        for ev in events:
            assert ev.ledger_seq in entries and entries[ev.ledger_seq].item_id == ev.item_id, \
                f"custody event {ev.id} has no ledger entry of its item"
        stored = s.scalars(select(EvidenceFile).where(EvidenceFile.status == FileStatus.STORED.value)).all()
        file_events = {e.ledger_seq for e in events if e.kind == CustodyEventKind.FILE_STORED}
        assert file_events == _seqs(s, EventKind.FILE_STORED), "a FILE_STORED entry without its custody event"
        assert len(stored) == len(file_events), "a stored file without its ledger entry, or an entry without a file"


def assert_files_settled(engine: Engine, store: ObjectStore) -> dict[str, list[str]]:
    """No upload left pending, no multipart parts in the store, fixity clean; every object without a stored row
    is explained by a failed row (an orphan fixity names). Returns fixity's orphans and unfinished ids."""
    assert store.incomplete_uploads() == [], "half an object (incomplete multipart upload) is left in the store"
    with Session(engine, expire_on_commit=False) as s:
        pending = s.scalar(select(func.count()).select_from(EvidenceFile)
                           .where(EvidenceFile.status == FileStatus.PENDING.value))
        assert pending == 0, f"{pending} upload(s) left pending"
        failed = set(s.scalars(select(EvidenceFile.id).where(EvidenceFile.status == FileStatus.FAILED.value)))
        report = run_fixity(s, store, actor=system_actor("fault-check"))
        s.commit()
    assert report.clean, f"fixity after the fault: {report}"
    assert set(report.orphans) | set(report.unfinished) == failed
    return {"orphans": report.orphans, "unfinished": report.unfinished}


def assert_consistent(engine: Engine, store: ObjectStore | None = None, *,
                      consents: list[Outcome] | None = None) -> int:
    """All of the above (`consents`: a burst's outcomes, consent decisions and item collections); returns the
    number of ledger entries."""
    entries = assert_ledger_verifies(engine)
    assert_consents(engine, consents or [])
    assert_items(engine, consents or [])
    assert_custody_matches_ledger(engine)
    if store is not None:
        assert_files_settled(engine, store)
    return entries
