"""Destruction notices (18 U.S.C. 3772) and the second step of two-person destruction over HTTP.

The survivor's contact value goes in request bodies only (never a URL) and comes out only through the
sensitive, access-logged GET /cases/{case_id}/notice-contact. The survivor's own request comes through the
status-lookup credential (POST /status/requests: public, rate-limited like /status/lookup).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, require
from api.ratelimit import client_key
from core import crypto
from core.actors import Actor
from core.db import commit_early
from core.errors import AuthenticationFailed, ValidationFailed
from evidence import destruction, notice_tasks
from evidence.custody import CustodyEventPublic
from evidence.lookup_rules import typed_code
from policies import notice
from policies.notice import (
    ChannelKind,
    NoticeContact,
    NoticeDeliveryCreate,
    NoticeDeliveryPublic,
    NoticeFailureCreate,
    NoticeRequestCreate,
    NoticeRequestPublic,
    NoticeTask,
)
from policies.permissions import Permission as P

router = APIRouter(tags=["notice"], route_class=CommitRoute)

TASK_STATES = frozenset({"due", "upcoming", "sent"})


def _delivery(row: Any) -> NoticeDeliveryPublic:
    return NoticeDeliveryPublic.model_validate(row, from_attributes=True)


@router.post("/cases/{case_id}/notice-request", status_code=201, response_model=NoticeRequestPublic)
def request_notice(case_id: str, body: NoticeRequestCreate, session: SessionDep, clock: ClockDep,
                   settings: SettingsDep, actor: Actor = require(P.NOTICE_REQUEST)) -> Any:
    """Record the survivor's request for notice before destruction: a channel (kind + value), or no contact."""
    return notice.request_notice(session, actor=actor, case_id=case_id, data=body, now=clock.now(),
                                 key=crypto.keyring_from_settings(settings))


@router.get("/cases/{case_id}/notice-contact", response_model=NoticeContact)
def notice_contact(case_id: str, session: SessionDep, settings: SettingsDep,
                   actor: Actor = require(P.NOTICE_CONTACT_READ)) -> Any:
    """The contact the survivor gave for the notice (sensitive: access-logged; 410 after a lawful erasure)."""
    return notice.notice_contact(session, case_id=case_id, key=crypto.keyring_from_settings(settings))


@router.get("/cases/{case_id}/notices", response_model=list[NoticeTask])
def case_notices(case_id: str, session: SessionDep, clock: ClockDep,
                 actor: Actor = require(P.NOTICE_SEND)) -> list[Any]:
    """Every notice task of the case (upcoming, due, sent), soonest due first."""
    return notice_tasks.notice_tasks(session, case_id=case_id, states=TASK_STATES, now=clock.now())


@router.get("/notices/due", response_model=list[NoticeTask])
def due_notices(session: SessionDep, clock: ClockDep, within_days: int = Query(default=0, ge=0, le=3650),
                actor: Actor = require(P.NOTICE_SEND)) -> list[Any]:
    """Notices due now (and, with within_days, those coming due within that many days), soonest first."""
    horizon = clock.now()
    tasks = notice_tasks.notice_tasks(session, states=frozenset({"due", "upcoming"}), now=horizon)
    limit = horizon.timestamp() + within_days * 86400
    return [t for t in tasks if t.state == "due" or t.due_at.timestamp() <= limit]


@router.post("/cases/{case_id}/notices/sent", status_code=201, response_model=list[NoticeDeliveryPublic])
def notice_sent(case_id: str, body: NoticeDeliveryCreate, session: SessionDep, clock: ClockDep,
                actor: Actor = require(P.NOTICE_SEND)) -> list[Any]:
    """Record the notice as sent (by you, now, through the survivor's channel) for the item or every due item."""
    return [_delivery(r) for r in notice_tasks.record_notice_sent(session, actor=actor, case_id=case_id,
                                                                   item_id=body.item_id, now=clock.now())]


@router.post("/cases/{case_id}/notices/failed", status_code=201, response_model=list[NoticeDeliveryPublic])
def notice_failed(case_id: str, body: NoticeFailureCreate, session: SessionDep, clock: ClockDep,
                  actor: Actor = require(P.NOTICE_SEND)) -> list[Any]:
    """Record a failed delivery (closed reason); the notice stays due."""
    return [_delivery(r) for r in notice_tasks.record_notice_failed(session, actor=actor, case_id=case_id,
                                                                     reason=body.reason, item_id=body.item_id,
                                                                     now=clock.now())]


@router.post("/items/{item_id}/destruction/approve", response_model=CustodyEventPublic)
def approve_destruction(item_id: str, session: SessionDep, clock: ClockDep,
                        actor: Actor = require(P.DESTRUCTION_APPROVE)) -> Any:
    """Second person: approve the proposed destruction; the item is destroyed now (a different person only)."""
    event = destruction.approve_destruction(session, actor=actor, item_id=item_id, now=clock.now())
    return CustodyEventPublic.model_validate(event, from_attributes=True)


@router.get("/items/{item_id}/destruction", response_model=destruction.DestructionProposalPublic | None)
def pending_destruction(item_id: str, session: SessionDep, actor: Actor = require(P.DESTRUCTION_APPROVE)) -> Any:
    """The item's destruction proposal awaiting approval, or null."""
    return destruction.pending_proposal(session, item_id=item_id)


# --- the survivor, through the status-lookup credential (no auth, rate-limited) ----------------------------

class SurvivorNoticeRequest(BaseModel):
    """The lookup code + password, and the notice request (a channel, or no_contact)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32)
    password: str = Field(max_length=128)
    kind: ChannelKind | None = None
    value: str | None = Field(default=None, max_length=320)
    no_contact: bool = False


class SurvivorNoticeRecorded(BaseModel):
    """What the survivor is told: the kind recorded and when; no case id, no value."""

    channel_kind: ChannelKind
    recorded_at: datetime


@router.post("/status/requests", status_code=201, response_model=SurvivorNoticeRecorded)
def survivor_request(body: SurvivorNoticeRequest, request: Request, session: SessionDep, clock: ClockDep,
                     settings: SettingsDep) -> Any:
    """The survivor asks for notice before destruction (or records no contact) with the lookup credential."""
    client = client_key(request)
    if not body.code or not body.password:
        raise ValidationFailed("give the lookup code and the password")
    code = typed_code(body.code)  # as the page reads it: one code, one window, one failure count
    request.app.state.lookup_limiter.hit(f"lookup-ip:{client}", f"lookup-code:{code}")
    try:
        out = notice_tasks.request_notice_by_lookup(
            session, code=code, password=body.password, now=clock.now(),
            key=crypto.keyring_from_settings(settings), max_failures=settings.lookup_max_failures,
            data=NoticeRequestCreate(kind=body.kind, value=body.value, no_contact=body.no_contact))
    except AuthenticationFailed:
        commit_early(session, "a failed credential counts towards the card's lock even though the request fails")
        raise
    return SurvivorNoticeRecorded(channel_kind=out.channel_kind, recorded_at=out.made_at)
