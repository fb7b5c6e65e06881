"""The consent checkpoint's services: decide every handoff from the consent state at that instant, and record it.

`decide` loads the case's consent decisions and overrides as they stood at `now`, applies the pure rule
(policies.checkpoint.rules.evaluate: the jurisdiction's pack and the fail-closed requirement table), and
appends CHECKPOINT_ALLOWED or CHECKPOINT_DENIED to the ledger in the caller's transaction. The entry cites the
hashes of the consent/override entries relied on, so the ledger shows why each handoff happened. `enforce`
commits a denial (so it is never lost with the caller's rollback) and raises ConsentRequired.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import utcnow
from core.db import commit_early, start_writing
from core.errors import ConsentRequired
from core.ledger import EventKind
from policies.checkpoint.rules import CaseFacts, evaluate
from policies.consent import active_overrides, consent_state
from policies.handoffs import Handoff
from policies.jurisdictions import get_pack


@dataclass(frozen=True)
class CheckpointDecision:
    """The outcome of one checkpoint decision and the ledger entry that records it."""

    allowed: bool
    handoff: Handoff
    reason: str  # readable by a person, no survivor identity
    consent_hash: str | None  # hash of the (first) consent/override entry relied on; None on a denial
    ledger_seq: int
    ledger_hash: str
    relied_on: tuple[str, ...] = field(default=())  # every consent/override entry hash relied on


def decide(
    session: Session,
    *,
    case_id: str,
    handoff: Handoff,
    actor: Actor,
    now: datetime | None = None,
    subject: dict[str, Any] | None = None,
) -> CheckpointDecision:
    """Decide `handoff` from the consent state at `now` and append the decision to the ledger (no commit)."""
    now = now or utcnow()
    subject = dict(subject or {})
    # A read request's deferred SQLite session (api.deps.get_session) takes the write lock here, before the
    # consent state the entry rests on is read: the decision and its entry are serialized with consent changes.
    start_writing(session, "the decision is taken from the consent state read after this point", reload=True)
    case = get_case(session, case_id)
    with suppress(ValueError):  # evaluate denies an unknown handoff by default
        handoff = Handoff(handoff)
    result = evaluate(handoff, state=consent_state(session, case.id, now),
                      overrides=active_overrides(session, case.id, now),
                      facts=CaseFacts.of(case, get_pack(case.jurisdiction)), kit_reported=subject.get("reported"))
    item_id = subject.pop("item_id", None)
    entry = ledger.append(
        session, kind=EventKind.CHECKPOINT_ALLOWED if result.allowed else EventKind.CHECKPOINT_DENIED, actor=actor,
        case_id=case.id, item_id=item_id, at=now,
        data={"handoff": str(handoff), "reason": result.reason, "relied_on": [h for h, _ in result.relied],
              "relied_on_seq": [s for _, s in result.relied], "subject": subject},
    )
    hashes = tuple(h for h, _ in result.relied)
    return CheckpointDecision(result.allowed, handoff, result.reason, hashes[0] if hashes else None, entry.seq,
                              entry.entry_hash, hashes)


def enforce(
    session: Session,
    *,
    case_id: str,
    handoff: Handoff,
    actor: Actor,
    now: datetime | None = None,
    subject: dict[str, Any] | None = None,
) -> CheckpointDecision:
    """Return the allowing decision, or commit the denial entry and raise ConsentRequired (call it first)."""
    decision = decide(session, case_id=case_id, handoff=handoff, actor=actor, now=now, subject=subject)
    if not decision.allowed:
        commit_early(session, "the denial must be on record even though the caller's change will not happen")
        raise ConsentRequired(decision.reason, handoff=str(decision.handoff), ledger_seq=decision.ledger_seq)
    return decision
