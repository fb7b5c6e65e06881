"""The survivor's pathway as a Prefect flow: intake → examination → evidence and custody → advocacy referral →
optional legal referral (release) → retention.

The database is the truth; Prefect only wakes the flow. A resumed run re-runs from the top, so every step
first looks in the database (pathway_step rows, written with a PATHWAY_STEP ledger entry in the same
transaction as the step's effects) and does nothing twice. Where a decision is missing the run records a
pathway_wait row, looks once more, and suspends with an explicit key; recording the decision enqueues a wake
in core.outbox, which resumes the run. Parameters and run inputs carry the case's opaque id only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from prefect import flow, get_run_logger
from prefect.input import RunInput
from prefect.runtime import flow_run as runtime_flow_run
from pydantic import field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core import outbox
from core.actors import system_actor
from core.cases import Reporting, get_case
from core.db import get_engine, transaction
from core.errors import ConsentRequired, ValidationFailed
from core.ids import is_valid_id
from evidence import custody
from evidence.bootstrap import wire
from evidence.incidents import open_incident_ids
from evidence.items import get_custody, list_items
from flows.followups import follow_up_timers
from flows.retention_stage import retention_stage
from flows.steps import completed_step, completed_steps, mark_step
from policies import checkpoint
from policies.authz import User, list_assignments
from policies.consent import Status, consent_state
from policies.handoffs import (
    RELEASABLE_KINDS,  # the one definition of the kinds a release offers
    ConsentScope,
    Handoff,
)
from policies.permissions import Role

ACTOR = system_actor("pathway")
T = TypeVar("T")

# Checkpoint names (also the prefix of each suspend key: "<checkpoint>-<n>").
CP_MEDICAL = "medical-consent"
CP_FORENSIC = "forensic-consent"
CP_EVIDENCE = "evidence-collection"
CP_ADVOCACY = "advocacy-consent"
CP_RELEASE = "release-consent"
CP_RECIPIENT = "law-enforcement-assignment"

# Only physical evidence (RELEASABLE_KINDS) is offered by the pathway: photographs, documents and digital files
# are released by staff explicitly (`coc custody release`), after which the officer may download them.


class PathwayWake(RunInput):
    """The run input that resumes a suspended pathway: opaque ids only (Prefect shows it in its UI)."""

    case_id: str
    checkpoint: str

    @field_validator("case_id")
    @classmethod
    def _opaque(cls, v: str) -> str:
        if not is_valid_id(v, "case"):
            raise ValueError("case_id must be an opaque case id")
        return v


@dataclass(frozen=True)
class Timer:
    """A date a stage waits for (a follow-up, a notice date): `key` names it (also the prefix of the suspend key,
    at most ~50 characters, no personal data), `at` is when the stage has work to do."""

    key: str
    at: datetime


@dataclass
class PassResult:
    """What one pass over the pathway found: checkpoints still waiting for a decision, dates stages wait for
    (`timers`: only future ones; a stage does what is due during the pass), and what happened."""

    open: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    recorded: frozenset[str] = frozenset()  # steps already recorded when the pass began (read once)
    timers: list[Timer] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        """True while the run has something to wait for: a decision or a date."""
        return bool(self.open or self.timers)

    def wait_key(self, n: int) -> str:
        """The suspend key of pass `n`: the first open checkpoint, else the earliest timer."""
        first = self.open[0] if self.open else min(self.timers, key=lambda t: t.at).key
        return f"{first}-{n}"

    def wake_at(self) -> datetime | None:
        """When the earliest timer comes due (None: wait for a decision only)."""
        return min((t.at for t in self.timers), default=None)


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def _in_tx(fn: Callable[[Session], T]) -> T:
    """Run `fn` in its own transaction: committed on success, rolled back on any error."""
    with transaction(_session) as session:
        return fn(session)


def _once(case_id: str, step: str, effect: Callable[[Session], dict | None], run_id: str | None,
          outcome: str = "done") -> bool:
    """Do `effect` and record `step` in one transaction, unless the step is already recorded.

    Returns True when the step is (now or already) recorded. A concurrent run doing the same step fails on
    the unique (case_id, step) constraint and its whole transaction — the effect included — rolls back.
    """
    def work(session: Session) -> bool:
        if completed_step(session, case_id, step) is not None:
            return True
        data = effect(session) or {}
        mark_step(session, case_id=case_id, step=step, actor=ACTOR, outcome=outcome, data=data,
                  flow_run_id=run_id)
        return True

    try:
        return _in_tx(work)
    except IntegrityError:
        with _session() as session:
            return completed_step(session, case_id, step) is not None


# -- the steps ------------------------------------------------------------------------------------------

def _decision(status: Status) -> str:
    """'open' (no decision yet), 'granted', or 'ended' (declined, withdrawn or expired)."""
    if status is Status.NONE:
        return "open"
    return "granted" if status is Status.GRANTED else "ended"


def _checkpoint_step(case_id: str, step: str, handoff: Handoff, consent_seq: int | None, run_id: str | None,
                     result: PassResult) -> bool:
    """Pass a handoff through the consent checkpoint once per consent decision; True when it was allowed."""
    if _step_done(result, step):
        result.done.append(step)
        return True
    refused_step = f"{step}:refused:{consent_seq}"
    if _step_done(result, refused_step):
        result.ended.append(step)
        return False

    def effect(session: Session) -> dict:
        decision = checkpoint.decide(session, case_id=case_id, handoff=handoff, actor=ACTOR)
        if not decision.allowed:
            raise _Refused(decision.reason)
        return {"handoff": str(handoff), "checkpoint_seq": decision.ledger_seq}

    try:
        _once(case_id, step, effect, run_id)
        result.done.append(step)
        return True
    except _Refused as exc:
        reason = str(exc)

        # Record the refusal (and its checkpoint entry) once per consent decision, not on every re-run.
        def refusal(session: Session) -> dict:
            decision = checkpoint.decide(session, case_id=case_id, handoff=handoff, actor=ACTOR)
            return {"handoff": str(handoff), "checkpoint_seq": decision.ledger_seq, "reason": reason}

        _once(case_id, refused_step, refusal, run_id, outcome="refused")
        result.ended.append(step)
        return False


class _Refused(Exception):
    """The checkpoint refused inside a step: roll that step back."""


def _step_done(result: PassResult, step: str) -> bool:
    """Whether the step was recorded when the pass began; `_once` re-checks inside its own transaction."""
    return step in result.recorded


def _law_enforcement_recipient(session: Session, case_id: str) -> str | None:
    """The active law-enforcement liaison assigned to the case, who receives a release."""

    for assignment in list_assignments(session, case_id):
        if assignment.revoked_at is not None:
            continue
        user = session.get(User, assignment.user_id)
        if user is not None and user.active and str(user.role) == Role.LAW_ENFORCEMENT.value:
            return user.id
    return None


def _release_items(case_id: str, run_id: str | None, result: PassResult) -> None:
    """Offer every releasable item to the case's law-enforcement liaison through the evidence service, once."""

    with _session() as session:
        recipient = _law_enforcement_recipient(session, case_id)
        items = []
        for item in list_items(session, case_id):
            state = get_custody(session, item.id)
            # A quarantined item (open integrity incident) is not offered: its resolution wakes the pathway.
            held_back = item.photo_consent_withdrawn or open_incident_ids(session, item.id)
            items.append((item.id, str(item.kind), bool(held_back),
                          str(state.status), state.custodian, state.pending_transfer_id))
    if recipient is None:
        result.open.append(CP_RECIPIENT)
        return
    for item_id, kind, held_back, status, custodian, pending in items:
        step = f"release:{item_id}"
        if _step_done(result, step):
            continue
        if kind not in RELEASABLE_KINDS or held_back or status != "held" or pending or custodian == recipient:
            continue  # checked-in items are checked out by staff first; photographs and files are not released

        def effect(session: Session, item_id: str = item_id, custodian: str = custodian) -> dict:
            # The pathway offers the item on the custodian's behalf (the ledger names this flow as the actor and
            # the custodian as from_user); the officer's acceptance completes it, after a second checkpoint.
            transfer = custody.offer_release(
                session, actor=ACTOR, item_id=item_id,
                data=custody.TransferCreate(to_user=recipient, reason="release consented: legal referral",
                                            condition="as sealed"))
            return {"item": item_id, "transfer": transfer.id, "offered_for": custodian, "to_user": recipient}

        try:
            _once(case_id, step, effect, run_id)
            result.done.append(step)
        except ConsentRequired:
            # enforce() committed the denial entry; the release branch ends until a new decision wakes us.
            result.ended.append(step)
            return


def run_pass(case_id: str, run_id: str | None) -> PassResult:
    """Do every step whose decision is on record; return the checkpoints still waiting for one."""
    with _session() as session:
        result = PassResult(recorded=frozenset(s.step for s in completed_steps(session, case_id)))
        case = get_case(session, case_id)
        state = consent_state(session, case_id)
        reporting = Reporting(case.reporting)

        item_count = len(list_items(session, case_id))

    def status(scope: ConsentScope) -> tuple[str, int | None]:
        st = state[scope]
        return _decision(st.status), st.ledger_seq

    # Examination: medical care and forensic examination are separate consents.
    medical, medical_seq = status(ConsentScope.MEDICAL_CARE)
    if medical == "open":
        result.open.append(CP_MEDICAL)
    elif medical == "granted":
        _checkpoint_step(case_id, "examination:medical-care", Handoff.MEDICAL_CARE, medical_seq, run_id, result)
    else:
        result.ended.append("examination:medical-care")

    forensic, forensic_seq = status(ConsentScope.FORENSIC_EXAM)
    forensic_ok = False
    if forensic == "open":
        result.open.append(CP_FORENSIC)
    elif forensic == "granted":
        forensic_ok = _checkpoint_step(case_id, "examination:forensic", Handoff.FORENSIC_EXAM, forensic_seq,
                                       run_id, result)
    else:
        result.ended.append("examination:forensic")

    # Evidence collection and custody: staff collect; the pathway notes when the case has evidence.
    evidence_ok = False
    if forensic_ok:
        if _step_done(result, "evidence-custody"):
            evidence_ok = True
        elif item_count:
            evidence_ok = _once(case_id, "evidence-custody", lambda s: {"items": item_count}, run_id)
            result.done.append("evidence-custody")
        else:
            result.open.append(CP_EVIDENCE)

    # Advocacy referral: needs a written, time-limited information-sharing release.
    advocacy, advocacy_seq = status(ConsentScope.SHARE_ADVOCATE)
    if advocacy == "open":
        result.open.append(CP_ADVOCACY)
    elif advocacy == "granted":
        _checkpoint_step(case_id, "advocacy-referral", Handoff.ADVOCATE_SHARE, advocacy_seq, run_id, result)
    else:
        result.ended.append("advocacy-referral")
    # Follow-ups after the exam (1 w, 6 w, 3 m): raised for the advocate when due; the run waits for the next.
    result.timers.extend(Timer(key, at) for key, at in follow_up_timers(case_id, run_id))

    # Legal referral (optional): release to law enforcement; report and testing consents are noted.
    if evidence_ok:
        release, _ = status(ConsentScope.RELEASE_LAW_ENFORCEMENT)
        if release == "open":
            result.open.append(CP_RELEASE)
        elif release == "granted":
            _release_items(case_id, run_id, result)
            report, _ = status(ConsentScope.REPORT_POLICE)
            testing, _ = status(ConsentScope.LAB_TESTING)
            _once(case_id, "legal-referral", lambda s: {"reporting": str(reporting), "report": report,
                                                        "testing": testing}, run_id)
        else:
            result.ended.append("legal-referral")
    result.timers += [Timer(key, at) for key, at in retention_stage(case_id, run_id, result)]
    return result


def _retention(case_id: str, run_id: str | None) -> None:
    """The last step: every branch is done or ended; the evidence stays under its retention dates."""
    _once(case_id, "retention", lambda s: {}, run_id)


@flow(name="survivor-pathway", flow_run_name="{case_id}", persist_result=False, log_prints=False)
def survivor_pathway(case_id: str) -> str:
    """Move a case along its pathway, suspending at each checkpoint that has no decision yet."""
    wire()
    if not is_valid_id(case_id, "case"):
        raise ValidationFailed("survivor_pathway needs an opaque case id")
    from prefect.flow_runs import suspend_flow_run

    logger = get_run_logger()
    run_id = str(runtime_flow_run.id) if runtime_flow_run.id else None
    _once(case_id, "intake", lambda s: {"jurisdiction": get_case(s, case_id).jurisdiction}, run_id)
    for n in itertools.count(1):
        result = run_pass(case_id, run_id)
        if not result.waiting:
            break
        # The key names the checkpoint (or the timer) and the pass: a suspend key that was already resumed
        # returns at once on a re-run (Prefect refuses to suspend twice on one key), so replays fall through to
        # a fresh pass. A timed wait is woken by core.outbox.wake_due when the clock reaches its time.
        key = result.wait_key(n)
        if run_id is not None:
            def note(session: Session, key: str = key, wake_at: datetime | None = result.wake_at()) -> None:
                outbox.clear_wait(session, case_id=case_id, flow_run_id=run_id)
                outbox.record_wait(session, case_id=case_id, key=key, flow_run_id=run_id, wake_at=wake_at)

            _in_tx(note)
        # Look again now that the wait is visible: a decision committed before it was written is seen here,
        # one committed after it finds the wait and resumes us.
        if run_pass(case_id, run_id).waiting:
            logger.info("waiting at %s", key)
            wake = suspend_flow_run(wait_for_input=PathwayWake, key=key, timeout=None)
            if wake is not None and wake.case_id != case_id:
                raise ValidationFailed("the wake was meant for another case")
    _retention(case_id, run_id)
    _in_tx(lambda s: outbox.clear_wait(s, case_id=case_id, flow_run_id=run_id) if run_id else None)
    return "completed"
