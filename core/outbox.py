"""Transactional outbox: the only way a change reaches Prefect (start a case's pathway, wake a waiting run).

A row is written in the same transaction as the change that needs Prefect to act, and delivered after
commit. Prefect only wakes flows; the database stays the truth. If Prefect is down nothing is lost: the row
stays undelivered and is retried (after the next commit, at start-up, and by the scheduled drain flow).

Wake protocol with the pathway flow (flows/pathway.py):
  1. before looking for a decision, the flow records `pathway_wait(case_id, key, flow_run_id)` and commits;
  2. it reads the database; if the decision is there it goes on (and clears the wait), else it suspends
     with `key` and waits for a run input `{"case_id": ..., "checkpoint": key}` (opaque ids only).
  3. a wake for the case resumes every run that waits for it and is suspended; a run that has written its
     wait but is not suspended yet keeps the row undelivered (retried); with no waiting or active run for
     the case a new pathway run is started, so a case can move again after its run ended.
  4. a resumed wake is delivered only once its run has moved on: the row remembers the waits it resumed
     (`resumed`) and stays undelivered until that wait is gone (the run re-ran: it suspended at a later key or
     completed). A run found dead — Crashed/Failed/Cancelled, or Scheduled/Pending/Running for longer than
     its threshold (core.reconcile.Thresholds) — is retired and replaced by ONE fresh run, whose idempotency
     key names the case and the dead run (the reconciler, flows/reconcile.py, uses the same key).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Column, DateTime, Integer, String, UniqueConstraint, delete, select
from sqlmodel import Field, Session, SQLModel

from core.clock import SystemClock, utcnow
from core.db import transaction
from core.reconcile import Liveness, RunInfo, Thresholds, after_dead_key, liveness, row_key

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)

PATHWAY_DEPLOYMENT = "survivor-pathway/survivor-pathway"
MAX_ERROR_LEN = 500
MAX_RESUMED_LEN = 400


# Set in Session.info by enqueue(): whoever commits that session should call drain_soon() afterwards.
PENDING_FLAG = "coc_outbox_pending"


class OutboxKind(StrEnum):
    """What a row asks Prefect to do."""

    START_PATHWAY = "start-pathway"
    WAKE = "wake"


class OutboxMessage(SQLModel, table=True):
    """One pending (or delivered) request to Prefect; opaque case id only."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    kind: OutboxKind = Field(sa_type=String(16))
    key: str | None = Field(default=None, max_length=64)  # the checkpoint key a wake is meant for, if known
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LEN)
    # "run_id:key" tokens (space-separated) of the waits this row's wake resumed; the row stays undelivered
    # until those waits are gone (the run moved on) or their run is found dead (then replaced).
    resumed: str | None = Field(default=None, max_length=MAX_RESUMED_LEN)


class PathwayWait(SQLModel, table=True):
    """A pathway run that waits (or is about to wait) at a checkpoint of a case."""

    __tablename__ = "pathway_wait"
    __table_args__ = (UniqueConstraint("case_id", "key", "flow_run_id", name="uq_pathway_wait_run"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    key: str = Field(max_length=64)
    flow_run_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


def enqueue(session: Session, *, case_id: str, kind: OutboxKind | str, key: str | None = None,
            now: datetime | None = None) -> OutboxMessage:
    """Add an outbox row in the caller's transaction (delivered only if that transaction commits)."""
    msg = OutboxMessage(case_id=case_id, kind=OutboxKind(kind), key=key, created_at=now or utcnow())
    session.add(msg)
    session.flush()
    session.info[PENDING_FLAG] = True  # the committer (api.deps.get_session) then calls drain_soon()
    return msg


def record_wait(session: Session, *, case_id: str, key: str, flow_run_id: str, now: datetime | None = None) -> None:
    """Note that `flow_run_id` waits at checkpoint `key` of the case (idempotent; caller commits)."""
    exists = session.execute(
        select(PathwayWait.id).where(PathwayWait.case_id == case_id, PathwayWait.key == key,
                                     PathwayWait.flow_run_id == flow_run_id)
    ).first()
    if exists is None:
        session.add(PathwayWait(case_id=case_id, key=key, flow_run_id=flow_run_id, created_at=now or utcnow()))
        session.flush()


def clear_wait(session: Session, *, case_id: str, key: str | None = None, flow_run_id: str | None = None) -> None:
    """Forget waits of the case (for one checkpoint and/or one run, when given); caller commits."""
    stmt = delete(PathwayWait).where(PathwayWait.case_id == case_id)
    if key is not None:
        stmt = stmt.where(PathwayWait.key == key)
    if flow_run_id is not None:
        stmt = stmt.where(PathwayWait.flow_run_id == flow_run_id)
    session.execute(stmt)


def waits_for(session: Session, case_id: str) -> list[PathwayWait]:
    """The recorded waits of a case."""
    return list(session.scalars(select(PathwayWait).where(PathwayWait.case_id == case_id)))


def pending(session: Session, limit: int = 100) -> list[OutboxMessage]:
    """Undelivered rows, oldest first."""
    stmt = (select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.id).limit(limit))
    return list(session.scalars(stmt))


RunStatus = Literal["waiting", "active", "finished"]


class Waker(Protocol):
    """What the outbox needs from the orchestrator (Prefect in production; anything in a test)."""

    def start_pathway(self, case_id: str, *, idempotency_key: str) -> str:
        """Create a pathway run for the case (idempotent on the key); return its run id."""
        ...

    def run_info(self, flow_run_id: str) -> RunInfo | None:
        """The run's state and since when; None when the orchestrator does not know the run."""
        ...

    def case_runs(self, case_id: str, *, limit: int = 20) -> list[RunInfo]:
        """The case's pathway runs, newest first."""
        ...

    def retire(self, flow_run_id: str, reason: str) -> None:
        """Mark a stuck (dead but not final) run Crashed, so that nothing picks it up again."""
        ...

    def resume(self, flow_run_id: str, run_input: dict[str, str]) -> bool:
        """Resume a suspended run; False when the orchestrator refused (e.g. already resumed)."""
        ...


class NotYetDeliverable(Exception):
    """The row cannot be delivered yet (a run is about to suspend, or has not moved on from a resume)."""


def _tokens(text: str | None) -> set[tuple[str, str]]:
    """Parse a row's `resumed` column into (flow_run_id, key) pairs."""
    pairs = set()
    for token in (text or "").split():
        run_id, _, key = token.partition(":")
        if run_id and key:
            pairs.add((run_id, key))
    return pairs


def _format_tokens(pairs: set[tuple[str, str]]) -> str | None:
    text = " ".join(f"{r}:{k}" for r, k in sorted(pairs))
    while len(text) > MAX_RESUMED_LEN:  # keep what fits (a case has one waiting run in practice)
        text = text.split(" ", 1)[1] if " " in text else ""
    return text or None


def replace_dead_run(waker: Waker, case_id: str, run: RunInfo) -> str:
    """Retire a dead run (if Prefect still shows it moving) and start its one replacement; return its id."""
    if not run.final:
        waker.retire(run.id, "no progress within its threshold; a fresh run replaces it")
    return waker.start_pathway(case_id, idempotency_key=after_dead_key(case_id, run.id))


def _deliver_case(session_factory: Callable[[], Session], waker: Waker, case_id: str,
                  batch: list[OutboxMessage], now: datetime, th: Thresholds) -> set[tuple[str, str]]:
    """Deliver every pending row of one case at once; never holds a transaction open while calling Prefect.

    Start and wake rows of a case mean the same thing — "look at this case again" — because a run reads the
    database from the top: resume the runs that wait for the case, else start one unless one is active.
    Returns the waits resumed now (the rows then stay undelivered, naming them); raises NotYetDeliverable
    while a run has not suspended yet or has not moved on from a wait resumed before.
    """
    with transaction(session_factory) as session:
        waits = waits_for(session, case_id)
    resumed_before: set[tuple[str, str]] = set()
    for msg in batch:
        resumed_before |= _tokens(msg.resumed)
    unresumed = any(not msg.resumed for msg in batch)
    resumed_now: set[tuple[str, str]] = set()
    live = 0
    not_ready = False
    dead: dict[str, RunInfo] = {}
    for wait in waits:
        pair = (wait.flow_run_id, wait.key)
        info = waker.run_info(wait.flow_run_id)
        state = liveness(info, now, th) if info is not None else Liveness.COMPLETED
        if state is Liveness.WAITING:
            live += 1
            if unresumed or pair in resumed_before:
                # A refused resume means someone else resumed it first: either way, wait for it to move on.
                waker.resume(wait.flow_run_id, {"case_id": case_id, "checkpoint": wait.key})
                resumed_now.add(pair)
        elif state is Liveness.ACTIVE:
            live += 1
            if unresumed or pair in resumed_before:
                not_ready = True  # it wrote its wait but has not suspended yet, or not moved on from our resume
        else:
            if state is Liveness.DEAD and info is not None:
                dead[info.id] = info
            with transaction(session_factory) as session:
                clear_wait(session, case_id=case_id, key=wait.key, flow_run_id=wait.flow_run_id)
    for info in dead.values():
        # The run died at (or after resuming from) a wait: ONE fresh run replaces it and reads the database.
        replace_dead_run(waker, case_id, info)
        live += 1
    if resumed_now:
        return resumed_now
    if not_ready:
        raise NotYetDeliverable("a pathway run of the case has not suspended yet or not moved on from a wake")
    if not live and unresumed:  # rows that resumed a run whose wait is gone were seen by it (or its replacement)
        runs = waker.case_runs(case_id, limit=1)
        latest = runs[0] if runs else None
        state = liveness(latest, now, th) if latest is not None else None
        if state is Liveness.DEAD:
            replace_dead_run(waker, case_id, latest)
        elif state not in (Liveness.ACTIVE, Liveness.WAITING):
            # No run for the case (never started, or it ended, e.g. after a decline): start one. The key names
            # the case and its oldest pending row, so concurrent drainers reading the same rows start one run
            # between them; the case id keeps keys apart when row ids repeat (a rebuilt database).
            waker.start_pathway(case_id, idempotency_key=row_key(case_id, batch[0].id or 0))
    # else: an active run reads the database itself when it reaches its next checkpoint
    return set()


def drain(session_factory: Callable[[], Session], waker: Waker, now: datetime | None = None,
          *, limit: int = 100, thresholds: Thresholds | None = None) -> tuple[int, int]:
    """Deliver undelivered rows; return (delivered, left). Failures stay for a later drain."""
    th = thresholds or Thresholds()
    with transaction(session_factory) as session:
        rows = pending(session, limit)
        session.expunge_all()
    # All rows of a case read in one batch are delivered together: the run that is resumed or started reads
    # every decision committed before this drain began.
    groups: dict[str, list[OutboxMessage]] = {}
    for msg in rows:
        groups.setdefault(msg.case_id, []).append(msg)
    delivered = 0
    for case_id, batch in groups.items():
        error: str | None = None
        resumed: set[tuple[str, str]] = set()
        try:
            # Run ages are measured against the wall clock: Prefect stamps states with it (a test's manual
            # clock would make every run look dead or newborn).
            resumed = _deliver_case(session_factory, waker, case_id, batch, SystemClock().now(), th)
        except Exception as exc:  # noqa: BLE001 - any failure means: keep the rows, retry later
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LEN]
            if not isinstance(exc, NotYetDeliverable):
                log.warning("outbox rows of a case not delivered (first row %s): %s", batch[0].id, error)
        with transaction(session_factory) as session:
            for msg in batch:
                row = session.get(OutboxMessage, msg.id)
                if row is None or row.delivered_at is not None:
                    continue  # another drainer got there first
                row.attempts += 1
                if resumed:  # stays until the resumed run is seen past its wait (or dead and replaced)
                    row.resumed = _format_tokens(_tokens(row.resumed) | resumed)
                    row.last_error = None
                elif error is None:
                    row.delivered_at = now or utcnow()
                    row.last_error = None
                    delivered += 1
                else:
                    row.last_error = error
    with transaction(session_factory) as session:
        left = len(pending(session, limit))
    return delivered, left


QUICK_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4)  # seconds between quick retries of a 503 (see PrefectWaker)


class PrefectWaker:
    """Waker backed by a Prefect server's API (synchronous client; safe in any thread)."""

    def __init__(self, api_url: str | None = None, *, auth_string: str | None = None,
                 deployment: str = PATHWAY_DEPLOYMENT) -> None:
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

        self.api_url = api_url or PREFECT_API_URL.value()
        self.auth_string = auth_string or PREFECT_API_AUTH_STRING.value()
        self.deployment = deployment
        self._deployment_id = None

    def _client(self):
        from prefect.client.orchestration import SyncPrefectClient

        if not self.api_url:
            raise RuntimeError("no Prefect API URL: set COC_PREFECT_API_URL")
        return SyncPrefectClient(self.api_url, auth_string=self.auth_string, httpx_settings={"timeout": 10.0})

    def start_pathway(self, case_id: str, *, idempotency_key: str) -> str:
        """Create a run of the pathway deployment named after the case (opaque id only)."""
        with self._client() as client:
            if self._deployment_id is None:
                self._deployment_id = client.read_deployment_by_name(self.deployment).id
            run = client.create_flow_run_from_deployment(
                self._deployment_id, parameters={"case_id": case_id}, name=case_id, idempotency_key=idempotency_key
            )
        if run.name != case_id:  # Prefect returned another case's run for this key: never act on it
            raise RuntimeError(f"idempotency key {idempotency_key!r} belongs to another run")
        return str(run.id)

    def run_info(self, flow_run_id: str) -> RunInfo | None:
        """The run's state type and since when (None when Prefect does not know the run)."""
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        with self._client() as client:
            try:
                return _run_info(client.read_flow_run(UUID(flow_run_id)))
            except ObjectNotFound:
                return None

    def case_runs(self, case_id: str, *, limit: int = 20) -> list[RunInfo]:
        """The case's pathway runs, newest first."""
        return self.runs_of_cases([case_id]).get(case_id, [])[:limit]

    def runs_of_cases(self, case_ids: list[str], *, per_query: int = 50) -> dict[str, list[RunInfo]]:
        """Every pathway run of the given cases (runs are named by the case id), newest first per case."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterName,
        )

        _, dep_name = self.deployment.split("/", 1)
        found: dict[str, list[tuple[Any, RunInfo]]] = {}
        with self._client() as client:
            for i in range(0, len(case_ids), per_query):
                names = case_ids[i:i + per_query]
                offset = 0
                while True:
                    runs = client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)),
                        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
                        limit=200, offset=offset)
                    for run in runs:
                        found.setdefault(run.name, []).append((run.created, _run_info(run)))
                    if len(runs) < 200:
                        break
                    offset += len(runs)
        return {case: [info for _, info in sorted(pairs, key=lambda p: (p[0] is not None, p[0]), reverse=True)]
                for case, pairs in found.items()}

    def retire(self, flow_run_id: str, reason: str) -> None:
        """Force the run Crashed (it is stuck: nothing runs it); a runner then never picks it up again."""
        from uuid import UUID

        from prefect.states import Crashed

        with self._client() as client:
            client.set_flow_run_state(UUID(flow_run_id), Crashed(message=reason), force=True)

    def run_status(self, flow_run_id: str) -> RunStatus:
        """Map the run's Prefect state onto waiting / active / finished."""
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        with self._client() as client:
            try:
                run = client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                return "finished"
        state = run.state
        if state is None:
            return "active"
        if state.is_paused():
            return "waiting"
        return "finished" if state.is_final() else "active"

    def resume(self, flow_run_id: str, run_input: dict[str, str]) -> bool:
        """Resume the run with `run_input`; a refusal (already resumed, not paused) returns False."""
        from uuid import UUID

        from prefect.client.schemas import OrchestrationResult

        run_id = UUID(flow_run_id)
        answer = self._post_retrying_503(f"flow_runs/{run_id}/resume", {"run_input": run_input})
        if answer is not None:
            result = OrchestrationResult.model_validate(answer)
        else:  # anything but success or 503: Prefect's own client (CSRF, its retries, its errors)
            with self._client() as client:
                result = client.resume_flow_run(run_id, run_input=run_input)
        return str(result.status.value).upper() == "ACCEPT"

    def _post_retrying_503(self, path: str, body: dict[str, Any]) -> Any | None:
        """POST to the Prefect API, retrying HTTP 503 after 0.05, 0.1, 0.2, 0.4 s; the JSON answer, or None.

        Why: a Prefect server on SQLite answers 503 when a write meets another write ("database is locked"),
        and Prefect's client sleeps 2 s before each retry whatever its retry setting: that was the slowest part
        of a consent-to-handoff. Only calls that are safe to repeat come here: a 503 means the server's
        transaction rolled back, and a repeated resume of a run already resumed is refused, not applied twice.
        None (any other status, a transport error, 503 after the last quick retry) means: make the call
        through Prefect's client instead.
        """
        import base64

        import httpx
        from prefect.client.constants import SERVER_API_VERSION

        if not self.api_url:
            raise RuntimeError("no Prefect API URL: set COC_PREFECT_API_URL")
        headers = {"X-PREFECT-API-VERSION": SERVER_API_VERSION}
        if self.auth_string:  # as Prefect's client sends it
            headers["Authorization"] = "Basic " + base64.b64encode(self.auth_string.encode()).decode()
        with httpx.Client(base_url=self.api_url.rstrip("/") + "/", headers=headers, timeout=10.0) as http:
            for delay in (*QUICK_RETRY_DELAYS, None):
                try:
                    response = http.post(path, json=body)
                except httpx.TransportError:
                    return None
                if response.status_code != 503:
                    return response.json() if response.is_success else None
                if delay is None:
                    return None
                time.sleep(delay)
        return None

    def case_has_active_run(self, case_id: str) -> bool:
        """True when a non-final run of the pathway named after the case exists."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterName,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        active = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED,
                  StateType.CANCELLING]
        flow_name, dep_name = self.deployment.split("/", 1)
        with self._client() as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[case_id]),
                                              state=FlowRunFilterState(type=FlowRunFilterStateType(any_=active))),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
                limit=1,
            )
        return bool(runs)


def _run_info(run: Any) -> RunInfo:
    """A Prefect flow run as the reconciler's RunInfo."""
    from core.clock import as_utc

    state = run.state
    since = as_utc(state.timestamp) if state is not None and state.timestamp else None
    return RunInfo(id=str(run.id), state=str(state.type.value) if state is not None else "SCHEDULED", since=since,
                   created=as_utc(run.created) if run.created else None)


def thresholds_for(settings: Settings) -> Thresholds:
    """The reconciler's thresholds from COC_PATHWAY_* settings."""
    return Thresholds(scheduled_s=settings.pathway_stale_scheduled_s, pending_s=settings.pathway_stale_pending_s,
                      running_s=settings.pathway_stale_running_s, row_s=settings.pathway_stale_row_s,
                      max_restarts=settings.pathway_max_restarts)


def waker_for(settings: Settings) -> PrefectWaker:
    """The Prefect waker configured by COC_PREFECT_API_URL (and PREFECT_API_AUTH_STRING if set)."""
    return PrefectWaker(settings.prefect_api_url)


def session_factory_for(settings: Settings) -> Callable[[], Session]:
    """A factory of sessions on the configured database."""
    from core.db import get_engine

    engine = get_engine(settings.database_url)
    return lambda: Session(engine, expire_on_commit=False)


class _Drainer:
    """One background thread per (database, Prefect) pair; calls coalesce; retries soon-deliverable rows."""

    RETRY_INTERVAL_S = 0.25
    RETRY_WINDOW_S = 30.0  # after that the scheduled drain flow takes over

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wanted = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="coc-outbox-drain", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        factory = session_factory_for(self.settings)
        waker = waker_for(self.settings)
        while True:
            self.wanted.wait()
            self.wanted.clear()
            deadline = time.monotonic() + self.RETRY_WINDOW_S
            while True:
                try:
                    _, left = drain(factory, waker, thresholds=thresholds_for(self.settings))
                except Exception:  # noqa: BLE001 - the database itself may be down; retried next time
                    log.exception("outbox drain failed")
                    left = 1
                if not left or time.monotonic() > deadline:
                    break
                self.wanted.wait(self.RETRY_INTERVAL_S)  # a new commit interrupts the back-off
                self.wanted.clear()


_drainers: dict[tuple[str | None, str | None], _Drainer] = {}
_drainers_lock = threading.Lock()


def drain_soon(settings: Settings) -> None:
    """Ask for a drain in the background (returns at once); call it after committing an enqueue."""
    key = (settings.database_url, settings.prefect_api_url)
    with _drainers_lock:
        drainer = _drainers.get(key)
        if drainer is None or not drainer.thread.is_alive():
            drainer = _drainers[key] = _Drainer(settings)
    drainer.wanted.set()
