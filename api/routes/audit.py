"""The ledger over HTTP: entries, verification, signed tree heads, proofs and audit bundles (JSON and PDF)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, require
from core import ledger
from core.actors import Actor
from core.db import commit_early
from core.errors import ValidationFailed
from core.ledger import LedgerEntry, signing
from evidence import audit, verification
from evidence.verification import VerificationTrigger
from policies.permissions import Permission as P

router = APIRouter(tags=["audit"], route_class=CommitRoute)

Id = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
MAX_SEQ = 2**31 - 1  # ledger_entry.seq is an INTEGER column


class LedgerEntryPublic(BaseModel):
    """One ledger entry: its exact bytes' hash and their decoded view (no personal data is ever stored)."""

    seq: int
    kind: str
    case_id: str | None
    item_id: str | None
    recorded_at: datetime
    entry_hash: str
    body: dict[str, Any]


class VerifyReport(BaseModel):
    """Result of recomputing the hash chain and the Merkle tree from the database."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: str | None
    root_hash: str | None
    tree_head: dict[str, Any] | None
    verified_at: datetime | None = None  # when this run finished (it is recorded: /health reports the last)


class TreeHead(BaseModel):
    """A signed tree head (see core.ledger.signing for the signed bytes)."""

    tree_size: int
    root_hash: str
    timestamp: str
    signature: str
    algorithm: str
    key_fingerprint: str


class PublicKey(BaseModel):
    """The ledger's signing public key."""

    algorithm: str
    public_key_pem: str
    fingerprint: str


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof of entry `seq` (leaf index seq-1) in a tree of `tree_size` entries."""

    seq: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    path: list[str]


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof between two tree sizes."""

    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]


@router.get("/audit/log", response_model=list[LedgerEntryPublic])
def audit_log(session: SessionDep, actor: Actor = require(P.LEDGER_READ), case_id: Id = None, item_id: Id = None,
              kind: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z:\-]+$")] = None,
              after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[LedgerEntryPublic]:
    """Ledger entries in sequence order after `after_seq`, optionally for one case, item or kind."""
    stmt = select(LedgerEntry).where(LedgerEntry.seq > after_seq).order_by(LedgerEntry.seq).limit(limit)
    if case_id:
        stmt = stmt.where(LedgerEntry.case_id == case_id)
    if item_id:
        stmt = stmt.where(LedgerEntry.item_id == item_id)
    if kind:
        stmt = stmt.where(LedgerEntry.kind == kind)
    return [LedgerEntryPublic(seq=e.seq, kind=e.kind, case_id=e.case_id, item_id=e.item_id, recorded_at=e.recorded_at,
                              entry_hash=e.entry_hash, body=json.loads(e.body))
            for e in session.execute(stmt).scalars()]


@router.get("/audit/verify", response_model=VerifyReport)
def audit_verify(session: SessionDep, clock: ClockDep, settings: SettingsDep, actor: Actor = require(P.LEDGER_VERIFY),
                 deep: bool = False) -> VerifyReport:
    """Recompute the whole chain and tree, record the run (a failure raises the ledger alert); on success also
    sign the verified tree head."""
    outcome = verification.verify_and_record(session, actor=actor, trigger=VerificationTrigger.API, deep=deep,
                                             now=clock.now())
    report = outcome.report
    sth = ledger.signed_tree_head(session, tree_size=report.entries, now=clock.now(),
                                   data_dir=settings.data_dir) if report.ok else None
    return VerifyReport(ok=report.ok, entries=report.entries, first_bad_seq=report.first_bad_seq,
                        reason=report.reason, root_hash=report.root_hash, tree_head=sth,
                        verified_at=outcome.record.finished_at)


@router.get("/audit/tree-head", response_model=TreeHead)
def tree_head(session: SessionDep, clock: ClockDep, settings: SettingsDep,
              actor: Actor = require(P.LEDGER_READ)) -> dict[str, Any]:
    """The current signed tree head."""
    return ledger.signed_tree_head(session, now=clock.now(), data_dir=settings.data_dir)


@router.get("/audit/public-key", response_model=PublicKey)
def public_key(settings: SettingsDep, actor: Actor = require(P.LEDGER_READ)) -> PublicKey:
    """The Ed25519 public key that verifies tree heads and audit bundles."""
    pem = signing.public_key_pem(settings.data_dir)
    return PublicKey(algorithm=signing.ALGORITHM, public_key_pem=pem.decode("ascii"),
                     fingerprint=signing.fingerprint(pem))


@router.get("/audit/proofs/inclusion", response_model=InclusionProof)
def inclusion(session: SessionDep, seq: Annotated[int, Query(ge=1, le=MAX_SEQ)], actor: Actor = require(P.LEDGER_READ),
              tree_size: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None) -> dict[str, Any]:
    """Inclusion proof of entry `seq` in the tree of `tree_size` entries (default: the current tree)."""
    return ledger.inclusion_proof(session, seq, tree_size)


@router.get("/audit/proofs/consistency", response_model=ConsistencyProof)
def consistency(session: SessionDep, first: Annotated[int, Query(ge=1, le=MAX_SEQ)],
                actor: Actor = require(P.LEDGER_READ),
                second: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None) -> dict[str, Any]:
    """Consistency proof that the tree of `first` entries is a prefix of the tree of `second` entries."""
    return ledger.consistency_proof(session, first, second)


AllowUnverified = Annotated[bool, Query(description="Export even when the ledger does not verify: the report "
                                                     "is then marked LEDGER NOT INTACT on every page and in the "
                                                     "bundle.")]


def _bundle(session, clock, settings, actor: Actor, case_id: str | None, item_id: str | None,
            allow_unverified: bool) -> dict[str, Any]:
    if not case_id and not item_id:
        raise ValidationFailed("give case_id or item_id")
    # Cost: the WHOLE ledger is verified at every export, O(ledger) not O(bundle) — about 10 s per million entries
    # (README, benchmarks/ledger.py), and on SQLite the write lock is held meanwhile. A report must never look
    # sound while the ledger is not; fine at a centre's export rate for now. If it is not, verify only the
    # entries appended since the last recorded good run (its tree head pins the rest).
    outcome = verification.verify_and_record(session, actor=actor, trigger=VerificationTrigger.EXPORT,
                                             now=clock.now())
    if not outcome.record.ok:
        commit_early(session, "the failed run and its alert stand even though the export is refused")
    verification.require_intact(outcome, allow_unverified=allow_unverified)
    return audit.export_bundle(session, case_id=case_id, item_id=item_id, now=clock.now(), data_dir=settings.data_dir,
                               verification=verification.statement(outcome.record))


@router.get("/audit/export")
def export(session: SessionDep, clock: ClockDep, settings: SettingsDep,
           actor: Actor = require(P.AUDIT_EXPORT), case_id: Id = None, item_id: Id = None,
           allow_unverified: AllowUnverified = False) -> dict[str, Any]:
    """Audit bundle (JSON): entries, an inclusion proof each, the signed tree head, the staff directory, a signed
    scope head listing every entry of the scope (completeness), the ledger's verification; verifiable offline.
    Refused (409) when the ledger does not verify, unless allow_unverified=true."""
    return _bundle(session, clock, settings, actor, case_id, item_id, allow_unverified)


@router.get("/audit/export.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "Chain-of-custody report"}})
def export_pdf(session: SessionDep, clock: ClockDep, settings: SettingsDep,
               actor: Actor = require(P.AUDIT_EXPORT), case_id: Id = None, item_id: Id = None,
               allow_unverified: AllowUnverified = False) -> Response:
    """Chain-of-custody report (PDF) of the same bundle: per item who handed it over and who received it (names,
    roles, agencies), consent decisions, gaps, how to verify offline; every page states the ledger's verification."""
    pdf = audit.render_custody_pdf(_bundle(session, clock, settings, actor, case_id, item_id, allow_unverified))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="chain-of-custody.pdf"'})
