"""The signed-in person's work queue (`coc tasks`, GET /tasks): what is waiting for them, across their cases.

The queue is the concatenation of SOURCES, a plain tuple of functions `source(session, actor, now) -> [Task]`
(nothing registers itself at import time). Each source shows only the caller's own work: follow-ups due on
the cases they are assigned to (advocates), transfer offers addressed to them, survivors' open "please contact me"
requests on their cases (evidence.contact_requests). To add a kind of task (e.g.
"notices due"), write one source function and append it to SOURCES. Tasks carry opaque ids, closed names and
times: no survivor data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from core.actors import Actor
from core.clock import as_utc, utcnow
from evidence.contact_requests import ContactOutcome, list_contact_requests
from evidence.custody.inbox import open_offers_for
from evidence.notice_tasks import notice_tasks
from policies.advocacy_followups import follow_ups_due_for
from policies.permissions import Permission, Role, role_allows


class Task(BaseModel):
    """One thing waiting for the signed-in person."""

    kind: str  # follow-up-due | offer-waiting | notice-due | contact-requested
    case_id: str
    ref: str  # the follow-up id, transfer id, ...: what the task's verb takes
    due_at: datetime  # when it came due / was offered
    what: str  # a closed name: the follow-up's name and checks, the offered item's kind and purpose
    verb: str  # the command that closes it


TaskSource = Callable[[Session, Actor, datetime], list[Task]]


def follow_ups_due(session: Session, actor: Actor, now: datetime) -> list[Task]:
    """Follow-ups due on the advocate's assigned cases (while each case's sharing release is in force)."""
    if actor.role != Role.ADVOCATE.value:
        return []
    return [Task(kind="follow-up-due", case_id=f.case_id, ref=str(f.id), due_at=as_utc(f.due_at),
                 what=f"{f.name}: {f.checks.replace(',', ', ')}",
                 verb=f"coc advocacy followup-outcome {f.case_id} {f.id} --outcome done|missed|declined")
            for f in follow_ups_due_for(session, actor.id, now)]


def offers_waiting(session: Session, actor: Actor, now: datetime) -> list[Task]:
    """Transfer offers addressed to the person, not yet accepted or declined."""
    return [Task(kind="offer-waiting", case_id=o.case_id, ref=o.transfer_id, due_at=as_utc(o.offered_at),
                 what=f"{o.item_kind} ({o.purpose}) from {o.from_username or o.from_user}",
                 verb=f"coc custody accept {o.transfer_id}")
            for o in open_offers_for(session, actor.id)]


def notices_due(session: Session, actor: Actor, now: datetime) -> list[Task]:
    """Destruction notices due now and not sent, for whoever may send them (centre-wide, like GET /notices/due)."""
    if not role_allows(actor.role, Permission.NOTICE_SEND):
        return []
    return [Task(kind="notice-due", case_id=t.case_id, ref=t.item_id, due_at=as_utc(t.due_at),
                 what=f"destruction notice by {t.channel_kind.value} (destruction from "
                      f"{as_utc(t.destruction_from).date().isoformat()}, {t.notice_days} days' notice)",
                 verb=f"coc notice sent {t.case_id} --item {t.item_id}")
            for t in notice_tasks(session, now=now)]


CONTACT_OUTCOMES = "|".join(o.value for o in ContactOutcome)


def contacts_requested(session: Session, actor: Actor, now: datetime) -> list[Task]:
    """Open "please contact me" requests from the status page, for staff assigned to the case (and coordinators),
    who close them with the call-back's outcome."""
    if not role_allows(actor.role, Permission.CONTACT_HANDLE):
        return []
    return [Task(kind="contact-requested", case_id=r.case_id, ref=str(r.seq), due_at=as_utc(r.requested_at),
                 what=f"the survivor asked on the status page to be contacted about item {r.item_id}",
                 verb=f"coc evidence contact-handled {r.seq} --outcome {CONTACT_OUTCOMES}")
            for r in list_contact_requests(session, actor=actor, limit=1000)]


# The queue's sources, in display order.
SOURCES: tuple[TaskSource, ...] = (follow_ups_due, offers_waiting, notices_due, contacts_requested)


def work_queue(session: Session, *, actor: Actor, now: datetime | None = None,
               sources: tuple[TaskSource, ...] = SOURCES) -> list[Task]:
    """Every task of every source for `actor`, oldest first."""
    now = now or utcnow()
    tasks = [t for source in sources for t in source(session, actor, now)]
    return sorted(tasks, key=lambda t: (t.due_at, t.kind, t.ref))
