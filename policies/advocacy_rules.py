"""Pure advocacy rules (no Session): the closed sets of outcomes, the follow-up schedule, and when follow-ups end.

Why the follow-ups end on the information-sharing release or the medical-care consent (domain.md):
- the follow-up task is addressed to the case's ADVOCATE, and telling an advocate anything about the survivor's
  clinical follow-up is sharing information with an advocate: it needs the written, time-limited release
  (VAWA/FVPSA). Without it the advocate may not be told, so no task is raised;
- the follow-ups themselves are medical care (PEP adherence, HIV/STI re-tests, pregnancy test): a survivor who
  declines or withdraws medical care has declined them too.
A declined or withdrawn decision on either scope ends the open follow-ups; a release that simply EXPIRED or was
never asked for only pauses them (no task while it is not in force), so renewing it lets them continue.
Declining advocacy never touches any other service: the release is never a condition of service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ReferralOutcome(StrEnum):
    """What came of a referral to an outside service (closed set)."""

    PENDING = "pending"
    ATTENDED = "attended"  # the survivor was seen by the service
    NOT_ATTENDED = "not-attended"
    DECLINED_BY_SURVIVOR = "declined-by-survivor"
    REFUSED_BY_SERVICE = "refused-by-service"  # e.g. no capacity, not eligible
    WAITLISTED = "waitlisted"


class ContactKind(StrEnum):
    """How a contact with the survivor was made."""

    PHONE = "phone"
    IN_PERSON = "in-person"
    TEXT = "text"
    EMAIL = "email"
    VIDEO = "video"


class ContactOutcome(StrEnum):
    """What came of a contact attempt (no free text on record)."""

    REACHED = "reached"
    NO_ANSWER = "no-answer"
    MESSAGE_LEFT = "message-left"
    UNSAFE_TO_CONTACT = "unsafe-to-contact"  # e.g. someone else answered: the advocate stopped
    DECLINED = "declined"  # the survivor did not want to talk now


class FollowUpCheck(StrEnum):
    """What a follow-up visit covers (domain.md: discharge and follow-up at 1 week, 6 weeks, 3 months)."""

    PEP_ADHERENCE = "pep-adherence"
    HIV_RETEST = "hiv-retest"
    STI_RETEST = "sti-retest"
    PREGNANCY_TEST = "pregnancy-test"


class FollowUpOutcome(StrEnum):
    """Whether a follow-up happened; ENDED is written by the system when a consent ends the follow-ups."""

    DONE = "done"
    MISSED = "missed"
    DECLINED = "declined"
    ENDED = "ended"


RECORDABLE_OUTCOMES = frozenset({FollowUpOutcome.DONE, FollowUpOutcome.MISSED, FollowUpOutcome.DECLINED})


@dataclass(frozen=True)
class PlannedFollowUp:
    """One follow-up of the schedule: its name, when it is due and what it covers."""

    name: str
    due_at: datetime
    checks: tuple[FollowUpCheck, ...]


def plan_follow_ups(exam_at: datetime, rules: list[tuple[str, int, tuple[str, ...]]]) -> list[PlannedFollowUp]:
    """The follow-ups due after an exam: one per pack rule (name, days after the exam, checks), by due date."""
    planned = [PlannedFollowUp(name, exam_at + timedelta(days=days), tuple(FollowUpCheck(c) for c in checks))
               for name, days, checks in rules]
    return sorted(planned, key=lambda p: (p.due_at, p.name))


def ends_follow_ups(statuses: dict[str, str]) -> str | None:
    """Why the follow-ups end, or None: `statuses` maps scope value -> consent status value ("declined",
    "withdrawn", "granted", "expired", "open", ...) for share-with-advocate and medical-care."""
    for scope in ("share-with-advocate", "medical-care"):
        status = statuses.get(scope)
        if status in ("declined", "withdrawn"):
            return f"the {scope} consent was {status}: follow-ups end"
    return None


def tasks_may_be_raised(statuses: dict[str, str]) -> bool:
    """A follow-up task reaches the advocate only while the sharing release is in force."""
    return statuses.get("share-with-advocate") == "granted"


def next_due(due_dates: list[datetime], now: datetime) -> datetime | None:
    """The earliest due date still in the future (the pathway waits until then), or None."""
    later = [d for d in due_dates if d > now]
    return min(later) if later else None
