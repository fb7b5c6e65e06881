"""The survivor's requests on the status page, recorded exactly like the same requests made through staff.

- Notice before destruction (a channel and its value, or no contact): `policies.notice.request_notice` with
  source survivor-lookup and the lookup's system actor (as `evidence.notice_tasks.request_notice_by_lookup`);
  the value is encrypted there, and never reaches the ledger, a log, an error message or the page.
- Extension of preservation ("keep my kit N more years", evidence.lookup_rules): `evidence.preservation.
  extend_preservation` with requested_by survivor, so the item's date, its files' Object Lock and the ledger
  entry are the ones a staff extension writes.

`requests_view` gives the page what it shows about them: the notice request in force and its state
(no contact / requested / sent), and the kit's extensions. Services flush; the route commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.clock import as_utc, utcnow
from core.errors import Conflict, ValidationFailed
from core.ledger import EventKind, LedgerEntry
from evidence import preservation
from evidence.custody.rules import ItemStatus
from evidence.items import ItemCustody, get_item, keep_until, lock_item
from evidence.lookup_models import KitLookup
from evidence.lookup_rules import NOTICE_KINDS, survivor_extension_until
from evidence.notice_tasks import LOOKUP_ACTOR, notice_tasks
from evidence.preservation import ExtensionResult, Requester
from evidence.storage import ObjectStore
from policies import notice
from policies.notice import ChannelKind, NoticeRequestCreate, NoticeRequestPublic, RequestSource

MAX_CONTACT = 320  # NoticeRequestCreate's limit, checked here so that no validation message can carry the value


class KitDestroyed(Conflict):
    """The kit was destroyed: nothing can keep it longer."""


def request_notice_from_page(session: Session, row: KitLookup, *, kind: str, value: str | None,
                             now: datetime | None = None) -> NoticeRequestPublic:
    """Record (or change) the card holder's notice request for the kit's case: `kind` one of the form's channel
    kinds with `value`, or "none" (do not contact me). Raises ValidationFailed with a message that never
    repeats the value."""
    now = now or utcnow()
    if kind not in NOTICE_KINDS:
        raise ValidationFailed("choose how you want to be told, or that you do not want to be contacted")
    if value is not None and len(value) > MAX_CONTACT:
        raise ValidationFailed(f"the contact is longer than {MAX_CONTACT} characters")
    data = (NoticeRequestCreate(no_contact=True) if kind == ChannelKind.NONE.value
            else NoticeRequestCreate(kind=ChannelKind(kind), value=value))
    case_id = get_item(session, row.item_id).case_id
    return notice.request_notice(session, actor=LOOKUP_ACTOR, case_id=case_id, data=data,
                                 source=RequestSource.SURVIVOR, now=now)


def request_extension_from_page(session: Session, store: ObjectStore, row: KitLookup, *, years: int,
                                now: datetime | None = None) -> ExtensionResult:
    """Keep the card's kit `years` more years (evidence.lookup_rules); a destroyed kit: KitDestroyed; a choice
    not offered or too far ahead: lookup_rules.ExtensionRefused."""
    now = now or utcnow()
    item, state = lock_item(session, row.item_id)
    if state.status == ItemStatus.DESTROYED.value:
        raise KitDestroyed("the kit was destroyed: it cannot be kept longer")
    current, _rule = keep_until(session, item)
    until = survivor_extension_until(as_utc(current), as_utc(now), years)
    return preservation.extend_preservation(session, store, actor=LOOKUP_ACTOR, item_id=item.id, until=until,
                                            requested_by=Requester.SURVIVOR, now=now)


@dataclass(frozen=True)
class NoticeState:
    """The notice request in force for the kit, as the page tells it (never the contact value)."""

    channel_kind: str  # email | sms | phone | postal | none
    requested_at: datetime
    by_survivor: bool
    state: str  # none (no contact) | requested (not yet due) | due | sent
    due_at: datetime | None = None  # when the notice is due at the latest (channel requests of a live kit)
    destruction_from: datetime | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Extension:
    """One extension of the kit's preservation: when, until when, and whether the survivor asked on the page."""

    at: datetime
    until: datetime
    by_survivor: bool


@dataclass(frozen=True)
class RequestsView:
    notice: NoticeState | None
    extensions: list[Extension]
    destroyed: bool


def _notice_state(session: Session, item_id: str, case_id: str, now: datetime) -> NoticeState | None:
    request = notice.current_request(session, case_id)
    if request is None:
        return None
    base = {"channel_kind": request.channel_kind, "requested_at": as_utc(request.made_at),
            "by_survivor": request.source == RequestSource.SURVIVOR.value}
    if request.channel_kind == ChannelKind.NONE.value:
        return NoticeState(state="none", **base)
    tasks = [t for t in notice_tasks(session, case_id=case_id, states=frozenset({"due", "upcoming", "sent"}),
                                     now=now) if t.item_id == item_id]
    if not tasks:  # the kit is destroyed: the request stands, no notice is pending
        return NoticeState(state="requested", **base)
    task = tasks[0]
    sent = [as_utc(d.at) for d in notice.deliveries(session, item_id=item_id)
            if d.outcome == notice.DeliveryOutcome.SENT.value and as_utc(d.announced_until) >= task.destruction_from]
    return NoticeState(state="sent" if task.state == "sent" else "requested" if task.state == "upcoming" else "due",
                       due_at=task.due_at, destruction_from=task.destruction_from,
                       sent_at=max(sent) if sent else None, **base)


def requests_view(session: Session, row: KitLookup, *, now: datetime | None = None) -> RequestsView:
    """What the page shows about the card holder's requests for the kit (and the centre's extensions)."""
    now = now or utcnow()
    item = get_item(session, row.item_id)
    entries = session.execute(select(LedgerEntry).where(LedgerEntry.item_id == item.id,
                                                        LedgerEntry.kind == EventKind.PRESERVATION_EXTENDED)
                              .order_by(LedgerEntry.seq)).scalars().all()  # type: ignore[arg-type]
    extensions = []
    for entry in entries:
        body = ledger.decode(entry)
        extensions.append(Extension(at=as_utc(datetime.fromisoformat(body["at"].replace("Z", "+00:00"))),
                                    until=as_utc(datetime.fromisoformat(
                                        body["data"]["retention_until"].replace("Z", "+00:00"))),
                                    by_survivor=body["data"].get("requested_by") == Requester.SURVIVOR.value))
    status = session.execute(select(ItemCustody.status).where(ItemCustody.item_id == item.id)).scalar_one_or_none()
    return RequestsView(notice=_notice_state(session, item.id, item.case_id, now), extensions=extensions,
                        destroyed=status == ItemStatus.DESTROYED.value)


def kept_until(session: Session, row: KitLookup) -> datetime:
    """The kit's current retention date (after an extension: the new one)."""
    return as_utc(keep_until(session, get_item(session, row.item_id))[0])
