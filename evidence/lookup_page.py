"""What the survivor's status page shows for an authenticated card, and the requests made there.

`kit_view` gathers the timeline (evidence.lookup_timeline), the law's next deadlines for this kit (the pack's
clocks of policies.deadlines, overdue marked) and the history proof (evidence.lookup_proof); nothing else of the
case reaches the page: no item description, no staff, no case data. `request_contact` records "please contact
me about my kit" on the ledger as a request through staff would be (ids only, no personal data); staff list the
open ones and close them with evidence.contact_requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from core import ledger
from core.actors import system_actor
from core.clock import utcnow
from core.ledger import EventKind
from evidence.contact_requests import open_request
from evidence.custody.models import CustodyEvent
from evidence.items import get_item, keep_until
from evidence.lookup_models import KitLookup
from evidence.lookup_proof import HistoryProof, verify_kit_history
from evidence.lookup_timeline import Step, timeline
from policies.deadlines import ClockName, ClockStatus, case_clocks

SURVIVOR = system_actor("status-page")  # the page acts for an anonymous card holder: no identity, no staff id

# The law's clocks about the kit itself (the clinical and case-wide ones are not the page's).
KIT_CLOCKS = (ClockName.FACILITY_NOTIFY_POLICE, ClockName.POLICE_PICKUP, ClockName.LAB_SUBMISSION,
              ClockName.LAB_ANALYSIS, ClockName.DESTRUCTION_NOTICE)


@dataclass(frozen=True)
class NextStep:
    """A deadline of the law about the kit: which, by when, and whether it has passed without happening."""

    clock: str
    deadline: datetime
    overdue: bool


@dataclass(frozen=True)
class KitView:
    """Everything the page shows for one card."""

    steps: list[Step]
    next_steps: list[NextStep]
    proof: HistoryProof


def kit_view(session: Session, row: KitLookup, *, data_dir: Path | None = None,
             now: datetime | None = None) -> KitView:
    """The page's content for an authenticated card."""
    now = now or utcnow()
    item = get_item(session, row.item_id)
    events = session.execute(select(CustodyEvent.kind, CustodyEvent.at)
                             .where(CustodyEvent.item_id == item.id).order_by(CustodyEvent.id)).all()
    until, _rule = keep_until(session, item)
    steps = timeline([(str(k), at) for k, at in events], until, now)
    clocks = [c for c in case_clocks(session, item.case_id, now)
              if c.item_id == item.id and c.name in KIT_CLOCKS
              and c.status in (ClockStatus.RUNNING, ClockStatus.EXPIRED)]
    next_steps = [NextStep(str(c.name), c.deadline, c.status is ClockStatus.EXPIRED)
                  for c in sorted(clocks, key=lambda c: c.deadline)]
    return KitView(steps=steps, next_steps=next_steps,
                   proof=verify_kit_history(session, item_id=item.id, data_dir=data_dir, now=now))


def request_contact(session: Session, row: KitLookup, *, now: datetime | None = None) -> bool:
    """Record the card holder's "please contact me about my kit" (ledger; the centre calls them back on the
    contact they gave at the exam). While an earlier request of the kit is open (not handled by staff yet), a
    second one records nothing (False): one request, one call back. Flushes; the caller commits."""
    now = now or utcnow()
    item = get_item(session, row.item_id)
    if open_request(session, case_id=item.case_id, item_id=item.id, lock=True) is not None:
        return False
    ledger.append(session, kind=EventKind.STATUS_CONTACT_REQUESTED, actor=SURVIVOR, case_id=item.case_id,
                  item_id=item.id, at=now, data={"request": "contact-me", "channel": "status-page"})
    return True
