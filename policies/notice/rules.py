"""Pure rules of destruction notices (no Session): notice period, due date, which notice counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.errors import Conflict, ValidationFailed
from policies.notice.models import ChannelKind

DEFAULT_NOTICE_DAYS = 60  # 18 U.S.C. 3772: at least 60 days before destruction


def notice_days(pack: Any) -> int:
    """The pack's notice period in days: `notice_days` wherever the pack keeps it, else the older
    `kit.destruction_notice_days`, else 60."""
    for holder in (pack, getattr(pack, "retention", None), getattr(pack, "kit", None)):
        value = getattr(holder, "notice_days", None) if holder is not None else None
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(getattr(pack, "kit", None), "destruction_notice_days", None)
    return value if isinstance(value, int) and value > 0 else DEFAULT_NOTICE_DAYS


def due_at(destruction_from: datetime, days: int) -> datetime:
    """The notice is due no later than `days` before the destruction date."""
    return destruction_from - timedelta(days=days)


@dataclass(frozen=True)
class Sent:
    """A notice recorded as sent: when, and the destruction date it announced."""

    at: datetime
    announced_until: datetime


def counts(sent: Sent, destruction_from: datetime) -> bool:
    """A notice counts for the item's current destruction date only if it announced that date or a later one:
    after an extension the old notice announced an earlier date, so a new one is due."""
    return sent.announced_until >= destruction_from


def task_state(now: datetime, *, due: datetime, destruction_from: datetime, sent: list[Sent]) -> str:
    """upcoming (not yet due), due (due and not sent for the current date) or sent."""
    if any(counts(s, destruction_from) for s in sent):
        return "sent"
    return "due" if now >= due else "upcoming"


def check_notice_period(now: datetime, *, requested: bool, destruction_from: datetime, days: int,
                        sent: list[Sent]) -> None:
    """Destruction waits for the notice period when the survivor asked for notice: a notice announcing the
    current date must have been sent at least `days` days before now."""
    if not requested:
        return
    valid = [s for s in sent if counts(s, destruction_from)]
    if not valid:
        raise Conflict(f"the survivor asked for notice before destruction: record the notice as sent (coc notice "
                       f"sent) and wait {days} days before destroying the item")
    first = min(s.at for s in valid)
    if first + timedelta(days=days) > now:
        raise Conflict(f"the destruction notice was sent on {first.date().isoformat()}: the item cannot be "
                       f"destroyed before {(first + timedelta(days=days)).date().isoformat()} ({days} days' notice)")


def check_channel(kind: ChannelKind | None, value: str | None, no_contact: bool) -> tuple[ChannelKind, str | None]:
    """A channel with a value, or no contact. Messages never repeat the value."""
    if no_contact:
        if kind not in (None, ChannelKind.NONE) or value:
            raise ValidationFailed("give either a contact channel (kind and value) or no_contact, not both")
        return ChannelKind.NONE, None
    if kind is None or kind is ChannelKind.NONE or not value or not value.strip():
        raise ValidationFailed("give a contact channel kind (email, phone, sms, postal) and its value, "
                               "or no_contact=true")
    value = value.strip()
    if kind is ChannelKind.EMAIL and ("@" not in value or " " in value):
        raise ValidationFailed("the email address does not look like one (name@domain)")
    if kind in (ChannelKind.PHONE, ChannelKind.SMS):
        digits = [c for c in value if c.isdigit()]
        if len(digits) < 6 or any(not (c.isdigit() or c in "+-() .") for c in value):
            raise ValidationFailed("the phone number may hold only digits, spaces and + - ( ) .")
    return kind, value
