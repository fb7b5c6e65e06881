"""Pure rules of the pathway reconciler: is a case's pathway run alive, and what to do about a case.

No Session, no Prefect: the facts come from the database (core.outbox, flows.steps) and from Prefect
(core.outbox.PrefectWaker), and flows/reconcile.py acts on the answer. The database is the truth; a Prefect
run is only the thing that moves a case along, so a dead run is replaced by a fresh one that reads the database
from the top (every pathway step is idempotent against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

# Prefect state types (prefect.client.schemas.objects.StateType values), kept as strings so this stays pure.
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
DEAD_FINAL_STATES = frozenset({"FAILED", "CANCELLED", "CRASHED"})


class Liveness(StrEnum):
    """What a pathway run is doing, as far as waking the case goes."""

    WAITING = "waiting"  # suspended (PAUSED): a resume moves it
    ACTIVE = "active"  # scheduled, pending, running, cancelling — and not for too long
    COMPLETED = "completed"  # ended normally
    DEAD = "dead"  # crashed, failed, cancelled, or stuck in a non-final state for longer than its threshold


@dataclass(frozen=True)
class RunInfo:
    """One Prefect run of a case's pathway: its id, state type (e.g. "RUNNING"), since when, and when created."""

    id: str
    state: str
    since: datetime | None = None
    created: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class Thresholds:
    """How long a run may stay in a non-final state before it counts as dead (seconds), how old an undelivered
    outbox row must be before the reconciler (not only the outbox) acts on it, and how many dead runs in a row
    the reconciler replaces before it gives up on a case (a flow that fails every time must not loop)."""

    scheduled_s: float = 300.0
    pending_s: float = 120.0
    running_s: float = 300.0
    row_s: float = 60.0
    max_restarts: int = 5

    def limit_for(self, state: str) -> float | None:
        """The seconds a run may stay in `state`; None when no limit applies (paused or final)."""
        return {"SCHEDULED": self.scheduled_s, "PENDING": self.pending_s, "RUNNING": self.running_s,
                "CANCELLING": self.pending_s}.get(state)


def age_s(since: datetime | None, now: datetime) -> float | None:
    """Seconds from `since` to `now` (None when unknown)."""
    return None if since is None else (now - since).total_seconds()


def liveness(run: RunInfo, now: datetime, th: Thresholds) -> Liveness:
    """Classify a run. A state with no timestamp counts as fresh (it was just created)."""
    if run.state == "PAUSED":
        return Liveness.WAITING
    if run.state == "COMPLETED":
        return Liveness.COMPLETED
    if run.state in DEAD_FINAL_STATES:
        return Liveness.DEAD
    limit = th.limit_for(run.state)
    age = age_s(run.since, now)
    if limit is not None and age is not None and age > limit:
        return Liveness.DEAD
    return Liveness.ACTIVE


def after_dead_key(case_id: str, dead_run_id: str) -> str:
    """The idempotency key of the one fresh run that replaces `dead_run_id` (reconciler and outbox alike)."""
    return f"coc-pathway-{case_id}-after-{dead_run_id}"


def row_key(case_id: str, first_row_id: int) -> str:
    """The idempotency key of the run that an outbox batch starts (its oldest pending row names it)."""
    return f"coc-pathway-{case_id}-{first_row_id}"


def first_run_key(case_id: str) -> str:
    """The idempotency key of a case's run when Prefect has none for it and nothing is pending."""
    return f"coc-pathway-{case_id}-first"


@dataclass(frozen=True)
class CaseFacts:
    """What the database says about one case."""

    case_id: str
    closed: bool = False
    pathway_complete: bool = False  # the last step ("retention") is recorded
    first_pending_row: int | None = None  # the oldest undelivered row that has resumed no run yet, if any
    oldest_pending_age_s: float | None = None
    waits: tuple[tuple[str, str], ...] = ()  # (flow_run_id, key) the case's runs wait at

    @property
    def unfinished(self) -> bool:
        """An open case whose pathway has not done its last step."""
        return not self.closed and not self.pathway_complete


@dataclass(frozen=True)
class Action:
    """What to do about a case: nothing, start a fresh run (retiring a stuck one first), or resume a run."""

    kind: Literal["nothing", "start", "resume"]
    reason: str
    idempotency_key: str | None = None
    retire: str | None = None  # a non-final dead run to mark Crashed before starting its replacement
    run_id: str | None = None  # the run to resume
    key: str | None = None  # the checkpoint key it waits at


def consecutive_dead(runs: Sequence[RunInfo], now: datetime, th: Thresholds) -> int:
    """How many of the newest runs (newest first) are dead, counting until the first one that is not."""
    n = 0
    for run in runs:
        if liveness(run, now, th) is not Liveness.DEAD:
            break
        n += 1
    return n


def decide(facts: CaseFacts, runs: Sequence[RunInfo], now: datetime, th: Thresholds) -> Action:
    """Given the case's database facts and its pathway runs (newest first), what the reconciler does."""
    stale_rows = facts.first_pending_row is not None and (facts.oldest_pending_age_s or 0.0) >= th.row_s
    if not runs:
        if facts.first_pending_row is not None and stale_rows:
            return Action("start", "no run and undelivered rows", row_key(facts.case_id, facts.first_pending_row))
        if facts.unfinished:
            return Action("start", "no run for an unfinished pathway", first_run_key(facts.case_id))
        return Action("nothing", "no run and nothing to do")
    latest = runs[0]
    state = liveness(latest, now, th)
    if state is Liveness.ACTIVE:
        return Action("nothing", "the run is moving")
    if state is Liveness.WAITING:
        if stale_rows:
            key = next((k for run_id, k in facts.waits if run_id == latest.id), None)
            if key is not None:
                return Action("resume", "suspended with a wake undelivered", run_id=latest.id, key=key)
        return Action("nothing", "suspended at a checkpoint")
    if state is Liveness.DEAD:
        if facts.closed and facts.first_pending_row is None:
            return Action("nothing", "the run died but the case is closed")
        if consecutive_dead(runs, now, th) > th.max_restarts:
            return Action("nothing", f"gave up: more than {th.max_restarts} dead runs in a row")
        return Action("start", f"the run is dead ({latest.state})", after_dead_key(facts.case_id, latest.id),
                      retire=None if latest.final else latest.id)
    # COMPLETED
    if stale_rows and facts.first_pending_row is not None:
        return Action("start", "completed with undelivered rows", row_key(facts.case_id, facts.first_pending_row))
    if facts.unfinished:
        return Action("start", "completed but the pathway is unfinished", after_dead_key(facts.case_id, latest.id))
    return Action("nothing", "the pathway is done")
