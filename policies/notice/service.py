"""Destruction-notice requests and delivery records: state change + ledger entry in the caller's transaction.

The contact value is sealed under the case's own key (core.crypto.seal_text, bound to its row: table
"notice_request", column "contact_enc", the row id) before it touches a row, so a lawful erasure shreds it with
the rest of the case; rows written before that under the centre-wide key (Fernet) still open. The ledger gets the
channel KIND only.
Item dates (when a notice is due) are evidence's business: evidence.notice_tasks reads them and calls here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import utcnow
from core.errors import NotFound
from core.ledger import EventKind
from policies.consent import wake_pathway
from policies.notice.models import (
    ChannelKind,
    DeliveryOutcome,
    FailureReason,
    NoticeDelivery,
    NoticeRequest,
    RequestSource,
)
from policies.notice.rules import Sent, check_channel
from policies.notice.shapes import NoticeContact, NoticeRequestCreate, NoticeRequestPublic


def request_notice(session: Session, *, actor: Actor, case_id: str, data: NoticeRequestCreate,
                   source: RequestSource = RequestSource.STAFF, now: datetime | None = None,
                   key: crypto.KeyringLike = None) -> NoticeRequestPublic:
    """Record the survivor's request for notice before destruction (a channel, or no contact); the contact is
    sealed under the case key (Erased after a lawful erasure: nothing can be stored for the case any more)."""
    now = now or utcnow()
    data = NoticeRequestCreate.model_validate(data.model_dump())
    get_case(session, case_id)
    kind, value = check_channel(data.kind, data.value, data.no_contact)
    source_value = RequestSource(source).value
    ledger.append(session, kind=EventKind.NOTICE_REQUESTED, actor=actor, case_id=case_id, at=now,
                  data={"channel_kind": kind.value, "source": source_value})
    row_id = crypto.next_row_id(session, NoticeRequest.__table__)  # the ciphertext names its row
    sealed = None if value is None else crypto.seal_text(
        session, case_id=case_id, table=CONTACT_TABLE, column=CONTACT_COLUMN, row_id=row_id, plaintext=value,
        keyring=key, now=now)
    row = NoticeRequest(id=row_id, case_id=case_id, channel_kind=kind.value, contact_enc=sealed,
                        source=source_value, made_by=actor.id, made_at=now)
    session.add(row)
    session.flush()
    wake_pathway(session, case_id, "notice request: the retention stage's notice date may change", now)
    return to_public(row)


CONTACT_TABLE, CONTACT_COLUMN = "notice_request", "contact_enc"  # the AAD of a sealed contact (with the row id)


def to_public(row: NoticeRequest) -> NoticeRequestPublic:
    return NoticeRequestPublic(case_id=row.case_id, channel_kind=ChannelKind(row.channel_kind), source=row.source,
                               made_by=row.made_by, made_at=row.made_at)


def current_request(session: Session, case_id: str) -> NoticeRequest | None:
    """The case's request in force (its newest), or None."""
    return session.execute(select(NoticeRequest).where(NoticeRequest.case_id == case_id)
                           .order_by(NoticeRequest.id.desc()).limit(1)).scalars().first()  # type: ignore[union-attr]


def notice_requested(session: Session, case_id: str) -> bool:
    """True when the request in force asks for notice through a channel (not none, not no request)."""
    row = current_request(session, case_id)
    return row is not None and row.channel_kind != ChannelKind.NONE.value


def requests_with_contact(session: Session) -> list[NoticeRequest]:
    """The request in force of every case whose survivor asked for notice through a channel."""
    rows = session.execute(select(NoticeRequest).order_by(NoticeRequest.id)).scalars().all()
    latest: dict[str, NoticeRequest] = {}
    for row in rows:
        latest[row.case_id] = row
    return [r for r in latest.values() if r.channel_kind != ChannelKind.NONE.value]


def notice_contact(session: Session, *, case_id: str, key: crypto.KeyringLike = None) -> NoticeContact:
    """The contact of the request in force, decrypted, for the staff who send the notice; Erased (410) after a
    lawful erasure (the case key is gone), whatever format the row was written in."""
    get_case(session, case_id)
    if (erased := crypto.erased_at(session, case_id)) is not None:
        raise crypto.erased_error(erased)
    row = current_request(session, case_id)
    if row is None:
        raise NotFound("no notice request is recorded for this case")
    value = None if row.contact_enc is None else crypto.open_text(
        session, case_id=case_id, table=CONTACT_TABLE, column=CONTACT_COLUMN, row_id=row.id, token=row.contact_enc,
        keyring=key)
    return NoticeContact(case_id=case_id, channel_kind=ChannelKind(row.channel_kind), value=value)


def record_delivery(session: Session, *, actor: Actor, case_id: str, item_id: str, announced_until: datetime,
                    channel_kind: str, reason: FailureReason | None = None,
                    now: datetime | None = None) -> NoticeDelivery:
    """Record one notice sent (reason None) or one failed delivery (a reason), for one item."""
    now = now or utcnow()
    outcome = DeliveryOutcome.SENT if reason is None else DeliveryOutcome.FAILED
    row = NoticeDelivery(case_id=case_id, item_id=item_id, announced_until=announced_until, outcome=outcome.value,
                         reason=FailureReason(reason).value if reason is not None else None,
                         channel_kind=channel_kind, recorded_by=actor.id, at=now)
    session.add(row)
    session.flush()
    data = {"channel_kind": channel_kind, "announced_until": announced_until}
    if reason is not None:
        data["reason"] = row.reason
    ledger.append(session, kind=EventKind.NOTICE_SENT if reason is None else EventKind.NOTICE_FAILED, actor=actor,
                  case_id=case_id, item_id=item_id, at=now, data=data)
    return row


def deliveries(session: Session, *, item_id: str) -> list[NoticeDelivery]:
    """Every delivery record of an item, oldest first."""
    return list(session.execute(select(NoticeDelivery).where(NoticeDelivery.item_id == item_id)
                                .order_by(NoticeDelivery.id)).scalars())  # type: ignore[arg-type]


def sent_notices(session: Session, *, item_id: str) -> list[Sent]:
    """The notices recorded as sent for an item (for the pure rules)."""
    return [Sent(at=d.at, announced_until=d.announced_until) for d in deliveries(session, item_id=item_id)
            if d.outcome == DeliveryOutcome.SENT.value]
