"""Retention over HTTP: extension of preservation (an item, or every item of a case) and the purge sweep.

Extensions change the item's retention date and its files' Object Lock (evidence.preservation); the sweep deletes
destroyed items' files whose lock has ended (evidence.purge). Ids and dates only in requests and answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import ClockDep, CommitRoute, SessionDep, get_app_store, require
from core.actors import Actor
from evidence import preservation, purge
from evidence.preservation import ExtensionResult, PreservationRequest
from policies.permissions import Permission as P

router = APIRouter(tags=["retention"], route_class=CommitRoute)


class PurgeResult(BaseModel):
    """One sweep's result: ids of what was deleted and of what is still locked, held or missing."""

    deleted: list[dict[str, str | None]]
    still_locked: list[dict[str, str | None]]
    held: list[str]
    missing: list[str]
    locks_extended: dict[str, list[str]]


@router.post("/items/{item_id}/preservation", response_model=ExtensionResult)
def extend_item(item_id: str, body: PreservationRequest, request: Request, session: SessionDep, clock: ClockDep,
                actor: Actor = require(P.PRESERVATION_EXTEND)) -> Any:
    """Keep the item and its files longer: `until`, or the jurisdiction's default extension (never shorter)."""
    return preservation.extend_preservation(session, get_app_store(request), actor=actor, item_id=item_id,
                                            until=body.until, requested_by=body.requested_by, now=clock.now())


@router.post("/cases/{case_id}/preservation", response_model=list[ExtensionResult])
def extend_case(case_id: str, body: PreservationRequest, request: Request, session: SessionDep, clock: ClockDep,
                actor: Actor = require(P.PRESERVATION_EXTEND)) -> Any:
    """Keep every item of the case that is not destroyed (and its files) at least until `until`."""
    return preservation.extend_case_preservation(session, get_app_store(request), actor=actor, case_id=case_id,
                                                 until=body.until, requested_by=body.requested_by, now=clock.now())


@router.post("/admin/purge", response_model=PurgeResult)
def purge_files(request: Request, session: SessionDep, clock: ClockDep,
                actor: Actor = require(P.FILE_PURGE)) -> Any:
    """Run the retention sweep now: file locks kept in step, then destroyed items' unlocked files deleted."""
    store = get_app_store(request)
    synced = preservation.sync_object_locks(session, store, actor=actor, now=clock.now())
    report = purge.purge_destroyed_files(session, store, now=clock.now(), actor=actor)
    return PurgeResult(deleted=report.deleted, still_locked=report.still_locked, held=report.held,
                       missing=report.missing, locks_extended=synced)
