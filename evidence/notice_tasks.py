"""Destruction-notice tasks: when each item's notice is due, read from its retention date NOW (so an extension
reschedules it), and the records of notices sent or failed; the survivor's own request through the lookup.

The due date is `keep_until(item) - notice_days` (the pack's notice period); a notice counts only if it
announced the item's current destruction date (policies.notice.rules.counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import crypto
from core.actors import Actor, system_actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, ValidationFailed
from evidence.custody.rules import ItemStatus
from evidence.destruction import destruction_date
from evidence.files import has_legal_hold
from evidence.items import EvidenceItem, ItemCustody, get_item
from evidence.lookup import check_credential
from policies import notice
from policies.deadlines import Alert, ClockName, ClockState, ClockStatus, raise_alert
from policies.jurisdictions import get_pack
from policies.notice import (
    ChannelKind,
    FailureReason,
    NoticeDelivery,
    NoticeRequest,
    NoticeRequestCreate,
    NoticeRequestPublic,
    NoticeTask,
    RequestSource,
)

LOOKUP_ACTOR = system_actor("status-lookup")  # the survivor acting through the lookup: no identity, no staff id


def _live_items(session: Session, case_id: str) -> list[EvidenceItem]:
    """The case's items that are not destroyed, oldest first."""
    return list(session.execute(
        select(EvidenceItem).join(ItemCustody, ItemCustody.item_id == EvidenceItem.id)
        .where(EvidenceItem.case_id == case_id, ItemCustody.status != ItemStatus.DESTROYED.value)
        .order_by(EvidenceItem.collected_at, EvidenceItem.id)).scalars())


def _task(session: Session, request: NoticeRequest, item: EvidenceItem, now: datetime) -> NoticeTask:
    days = notice.notice_days(get_pack(get_case(session, item.case_id).jurisdiction))
    until, _rule = destruction_date(session, item)
    due = notice.due_at(until, days)
    records = notice.deliveries(session, item_id=item.id)
    failures = [d for d in records if d.outcome == notice.DeliveryOutcome.FAILED.value
                and as_utc(d.announced_until) >= until]
    state = notice.task_state(now, due=due, destruction_from=until, sent=[
        notice.Sent(at=as_utc(d.at), announced_until=as_utc(d.announced_until)) for d in records
        if d.outcome == notice.DeliveryOutcome.SENT.value])
    return NoticeTask(case_id=item.case_id, item_id=item.id, destruction_from=until, due_at=due, notice_days=days,
                      state=state, channel_kind=ChannelKind(request.channel_kind),
                      last_failure=failures[-1].reason if failures and state != "sent" else None)


def notice_tasks(session: Session, *, case_id: str | None = None, states: frozenset[str] = frozenset({"due"}),
                 now: datetime | None = None) -> list[NoticeTask]:
    """Notice tasks of every item whose survivor asked for notice (of one case, if given), in `states`
    (due: due now and not sent for the current date; upcoming; sent), soonest due first."""
    now = now or utcnow()
    requests = notice.requests_with_contact(session)
    if case_id is not None:
        get_case(session, case_id)
        requests = [r for r in requests if r.case_id == case_id]
    tasks = [_task(session, r, item, now) for r in requests for item in _live_items(session, r.case_id)]
    return sorted((t for t in tasks if t.state in states), key=lambda t: (t.due_at, t.item_id))


def _targets(session: Session, case_id: str, item_id: str | None, now: datetime) -> tuple[NoticeRequest, list]:
    get_case(session, case_id)  # an unknown case: 404
    request = notice.current_request(session, case_id)
    if request is None or request.channel_kind == ChannelKind.NONE.value:
        raise Conflict("the survivor of this case did not ask for notice through a channel: nothing to send")
    if item_id is not None:
        item = get_item(session, item_id)
        if item.case_id != case_id:
            raise ValidationFailed("the item does not belong to this case")
        tasks = [t for t in notice_tasks(session, case_id=case_id, states=frozenset({"due", "upcoming", "sent"}),
                                         now=now) if t.item_id == item_id]
        if not tasks:
            raise Conflict("the item is destroyed: no notice can be sent for it")
    else:
        tasks = notice_tasks(session, case_id=case_id, now=now)
        if not tasks:
            raise Conflict("no notice of this case is due now: name the item (--item) to send one early")
    return request, tasks


def record_notice_sent(session: Session, *, actor: Actor, case_id: str, item_id: str | None = None,
                       now: datetime | None = None) -> list[NoticeDelivery]:
    """Record the notice as sent for one item, or for every item of the case whose notice is due now."""
    now = now or utcnow()
    request, tasks = _targets(session, case_id, item_id, now)
    return [notice.record_delivery(session, actor=actor, case_id=case_id, item_id=t.item_id,
                                   announced_until=t.destruction_from, channel_kind=request.channel_kind, now=now)
            for t in tasks]


def record_notice_failed(session: Session, *, actor: Actor, case_id: str, reason: FailureReason,
                         item_id: str | None = None, now: datetime | None = None) -> list[NoticeDelivery]:
    """Record a failed delivery (closed reason) for one item, or every item whose notice is due now."""
    now = now or utcnow()
    request, tasks = _targets(session, case_id, item_id, now)
    return [notice.record_delivery(session, actor=actor, case_id=case_id, item_id=t.item_id,
                                   announced_until=t.destruction_from, channel_kind=request.channel_kind,
                                   reason=FailureReason(reason), now=now)
            for t in tasks]


def request_notice_by_lookup(session: Session, *, code: str, password: str, data: NoticeRequestCreate,
                             now: datetime | None = None, key: crypto.KeyringLike = None,
                             max_failures: int = 5) -> NoticeRequestPublic:
    """The survivor records (or changes) their notice request with the status-lookup code and password (a
    failure counts towards the card's lock at `max_failures`: the caller commits it although the request fails)."""
    item_id = check_credential(session, code=code, password=password, max_failures=max_failures, now=now)
    case_id = get_item(session, item_id).case_id
    return notice.request_notice(session, actor=LOOKUP_ACTOR, case_id=case_id, data=data,
                                 source=RequestSource.SURVIVOR, now=now, key=key)


# --- the pathway's retention stage and the scheduled sweep -------------------------------------------------

NOTICE_ALERT = "destruction notice due: the survivor asked for notice; send it (coc notice due) and record it"


@dataclass(frozen=True)
class RetentionDates:
    """What the case's retention stage waits for: the next notice date and the next destruction date (future
    only; None when none), and whether a legal hold keeps an item whose destruction date has passed."""

    notice_at: datetime | None
    destruction_at: datetime | None
    held: bool


def retention_dates(session: Session, *, case_id: str, now: datetime | None = None) -> RetentionDates:
    """The dates of the case's live items the pathway waits for (read now: an extension moves them)."""
    now = now or utcnow()
    requested = notice.notice_requested(session, case_id)
    days = notice.notice_days(get_pack(get_case(session, case_id).jurisdiction))
    notices, destructions, held = [], [], False
    for item in _live_items(session, case_id):
        until, _rule = destruction_date(session, item)
        if requested and notice.due_at(until, days) > now:
            notices.append(notice.due_at(until, days))
        if until > now:
            destructions.append(until)
        elif has_legal_hold(session, item.id):
            held = True
    return RetentionDates(notice_at=min(notices, default=None), destruction_at=min(destructions, default=None),
                          held=held)


def raise_due_notice_alerts(session: Session, *, actor: Actor, case_id: str | None = None,
                            now: datetime | None = None) -> list[Alert]:
    """Raise a `destruction-notice` alert (policies.deadlines) for every notice due now and not sent, once per
    item and destruction date (an extension gives a new date, hence a new alert when that one comes due)."""
    now = now or utcnow()
    raised = []
    for task in notice_tasks(session, case_id=case_id, now=now):
        key = f"notice:{task.item_id}:{task.destruction_from.date().isoformat()}"
        if session.execute(select(Alert.id).where(Alert.dedupe_key == key)).first() is not None:
            continue
        clock = ClockState(name=ClockName.DESTRUCTION_NOTICE, starts_at=task.due_at, deadline=task.destruction_from,
                           status=ClockStatus.RUNNING, item_id=task.item_id)
        alert = raise_alert(session, actor, get_case(session, task.case_id), clock, key, NOTICE_ALERT, now)
        if alert is not None:
            raised.append(alert)
    return raised
