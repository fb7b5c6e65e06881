"""`python -m flows.serve`: serve every deployment from one long-running process (the embedded stack).

Tuned for latency (benchmarks/consent_to_handoff.py, goal p95 < 3 s from a consent to the handoff):
- the runner asks the server for scheduled runs every POLL_S seconds instead of every 10, so a resumed
  pathway run is picked up quickly; those frequent polls are reads (see `install_quiet_polls`);
- the runner holds the flow objects (Runner.add_flow, as flow.serve() does) and starts each run from a warm
  forkserver instead of a fresh interpreter (see `install_warm_start`): a resumed run no longer pays ~1.5 s
  of CPU re-importing Prefect and our code before it can act.
The outbox is drained at start-up (wakes recorded while nothing was serving) and, as a backstop for the
API's after-commit drain, every few seconds in this process; the scheduled outbox-drain deployment is the
backstop when the drain loop is not running.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

POLL_S = float(os.environ.get("COC_RUNNER_POLL_S", "0.2"))
DEADLINE_EVERY = timedelta(minutes=15)
FIXITY_EVERY = timedelta(hours=24)
LEDGER_CHECK_EVERY = timedelta(hours=1)
OUTBOX_EVERY = timedelta(minutes=5)  # the scheduled backstop; the in-process loop below runs every few seconds
OUTBOX_LOOP_S = float(os.environ.get("COC_OUTBOX_LOOP_S", "5"))
# The loop leaves rows younger than this to the API's after-commit drain: two drainers resuming the same run
# at once make one of them fail on the Prefect server's SQLite ("database is locked" -> HTTP 503) and back
# off 2 s, which delays every wake queued behind it.
OUTBOX_LOOP_MIN_AGE_S = float(os.environ.get("COC_OUTBOX_LOOP_MIN_AGE_S", "2"))

log = logging.getLogger("flows.serve")

# -- how flow-run processes start ----------------------------------------------------------------------------
# WHY: given flow objects, Prefect's runner starts every flow run (a new one, or a suspended pathway resumed
# by a consent) with prefect.flow_engine.run_flow_in_subprocess, which uses multiprocessing's "spawn": a
# brand-new interpreter that re-imports prefect and flows.pathway, about 1.5 s of CPU on a 2-core machine,
# most of the consent-to-handoff latency (goal p95 < 3 s). (Given only deployments, it is worse: a
# `python -m prefect.engine` process that also re-reads the deployment and imports the code by file path.)
# With "forkserver" a clean helper process imports those modules once and each run is a fork of it.
#
# SAFETY: forking the runner itself would be unsafe (it has threads: the event loop's workers, the outbox
# loop, httpx pools), but the forkserver is not a fork of the runner: multiprocessing starts it by fork+exec,
# it imports only WARM_MODULES and is single-threaded whenever it forks. That relies on WARM_MODULES doing
# nothing at import beyond defining things: no threads, event loops, database engines/connections, HTTP
# clients or sockets (core.db makes engines on first use; tests/unit/test_flow_start.py checks it). What a
# spawned child got, a forked one still gets: Prefect's run_flow_with_env applies the runner's environment and
# builds a fresh Settings context in the child, multiprocessing's prepare() copies the runner's cwd, sys.path
# and argv, and CPython reseeds `random` after fork. Differences: a variable the runner *unsets* after
# start-up stays set in the children (we unset none); a run process ends with os._exit after
# multiprocessing's bootstrap has run threading's exit hooks, where Prefect drains its log and event workers,
# but plain `atexit` handlers do not run and open database connections are dropped rather than closed.
# Only the runner's user can ask the forkserver for a process (its socket is in a private 0700 temp dir).
# Process cleanup: the forkserver and the runs it forks stay in the runner's process group (nothing calls
# setsid), so `coc up`'s stop (SIGTERM, then SIGKILL, to the group) reaches them all; on its own the
# forkserver exits once the runner and every run it forked have exited (they hold its "alive" pipe).
#
# COC_RUNNER_START=spawn keeps Prefect's default. Prefect is pinned (3.8.8): the patch point is checked here
# at start-up (falling back to spawn with a warning) and by a unit test that fails loudly when it changes.
START_ENV = "COC_RUNNER_START"
# What a flow-run process needs, imported once in the forkserver (an ImportError there is ignored; the child
# would then import the module itself, as before).
WARM_MODULES = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.flow_runs",
    "prefect.input",
    "prefect.client.orchestration",
    "prefect._internal.observers",
    "anyio.streams.memory",
    "rich._emoji_codes",
    "encodings.idna",
    "sqlite3",
    "psycopg",
    "flows.pathway",
    "flows.deadline_watch",
    "flows.fixity",
    "flows.outbox",
    "evidence.custody",
    "evidence.items",
    "policies.authz",
)
_PATCH_POINT = 'multiprocessing.get_context("spawn")'  # in prefect.flow_engine.run_flow_in_subprocess


class _SpawnAsForkserver:
    """Stands in for the `multiprocessing` module in prefect.flow_engine's globals (and nowhere else):
    `get_context("spawn")` answers the preloaded forkserver context; everything else is the real module."""

    def __init__(self, real, context) -> None:
        self._real = real
        self._context = context

    def get_context(self, method=None):
        return self._context if method == "spawn" else self._real.get_context(method)

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def patch_point_intact() -> bool:
    """True when prefect.flow_engine still starts flow runs with `multiprocessing.get_context("spawn")` on its
    module-global `multiprocessing` (the one call this module redirects)."""
    import multiprocessing

    import prefect.flow_engine as flow_engine

    if isinstance(flow_engine.multiprocessing, _SpawnAsForkserver):
        return True  # installed already
    if flow_engine.multiprocessing is not multiprocessing:
        return False
    try:
        source = inspect.getsource(flow_engine.run_flow_in_subprocess)
    except (OSError, TypeError):  # no source to check: do not patch blind
        return False
    return source.count(_PATCH_POINT) == 1


def install_warm_start() -> str:
    """Make Prefect start flow-run processes from a preloaded forkserver; returns the start method in use.

    Call once in the runner process before it starts runs. The forkserver is started here, so its imports
    happen while the runner registers deployments rather than when the first consent arrives.
    """
    method = os.environ.get(START_ENV, "forkserver").strip().lower() or "forkserver"
    if method == "spawn":
        return "spawn"
    if method != "forkserver":
        log.warning("%s=%r is not 'forkserver' or 'spawn': flow runs start with Prefect's spawn", START_ENV, method)
        return "spawn"
    if not patch_point_intact():
        log.warning("prefect.flow_engine no longer starts runs with %s: flow runs start with Prefect's own "
                    "method (slower); check flows/serve.py against this Prefect version", _PATCH_POINT)
        return "spawn"
    import multiprocessing
    import multiprocessing.forkserver

    import prefect.flow_engine as flow_engine

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WARM_MODULES))
    if not isinstance(flow_engine.multiprocessing, _SpawnAsForkserver):
        flow_engine.multiprocessing = _SpawnAsForkserver(multiprocessing, context)
    multiprocessing.forkserver.ensure_running()
    return "forkserver"


# -- how the runner polls -------------------------------------------------------------------------------------
# WHY: every call of the runner's poll (POST /deployments/get_scheduled_flow_runs) also makes the Prefect
# server write deployment.last_polled (a background mark_deployments_ready); at POLL_S = 0.2 that is ~5
# writes a second on the server's SQLite database. Resuming a run (POST /flow_runs/{id}/resume) reads, then
# writes, in a deferred transaction: a write committed in between fails it with "database is locked", the
# server answers 503, and the client retries after 2 s. Traced on the benchmark, most such failures lined up
# with a mark_deployments_ready commit; each cost that consent ~2 s. So the poller's call is answered by an
# equivalent read (POST /flow_runs/filter: SCHEDULED runs of the runner's deployments, due before
# `scheduled_before`, soonest first, the same query the server runs), and the real call is made once every
# MARK_READY_EVERY_S, which keeps the deployments READY (the server marks them NOT_READY after 60 s unpolled).
# The patch is on PrefectClient in the runner process only (the forkserver and the runs forked from it never
# run main()); the poller's call and the method's signature are checked here at start-up (falling back to
# Prefect's polls with a warning) and by a unit test.
QUIET_POLLS_ENV = "COC_RUNNER_QUIET_POLLS"  # "0" turns the patch off
MARK_READY_EVERY_S = 10.0
_POLL_PARAMS = ["self", "deployment_ids", "scheduled_before", "limit"]


def quiet_poll(original: Callable, every_s: float = MARK_READY_EVERY_S,
               clock: Callable[[], float] = time.monotonic) -> Callable:
    """A drop-in for PrefectClient.get_scheduled_flow_runs_for_deployments that calls `original` at most
    once every `every_s` seconds and otherwise reads the same runs with read_flow_runs (no server write)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterNextScheduledStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    last_real: list[float | None] = [None]

    async def get_scheduled_flow_runs_for_deployments(self, deployment_ids, scheduled_before=None, limit=None):
        if last_real[0] is None or clock() - last_real[0] >= every_s:
            runs = await original(self, deployment_ids, scheduled_before, limit)
            last_real[0] = clock()
            return runs
        return await self.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(deployment_ids))),
            flow_run_filter=FlowRunFilter(
                next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=scheduled_before),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            ),
            sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
            limit=limit,
        )

    get_scheduled_flow_runs_for_deployments.coc_quiet_poll = True
    return get_scheduled_flow_runs_for_deployments


def poll_patch_point_intact() -> bool:
    """True when the runner still polls through PrefectClient.get_scheduled_flow_runs_for_deployments with the
    signature quiet_poll() mirrors."""
    from prefect.client.orchestration import PrefectClient
    from prefect.runner._scheduled_run_poller import ScheduledRunPoller

    method = PrefectClient.get_scheduled_flow_runs_for_deployments
    if getattr(method, "coc_quiet_poll", False):
        return True  # installed already
    try:
        poller_source = inspect.getsource(ScheduledRunPoller._get_scheduled_flow_runs)
    except (OSError, TypeError):
        return False
    return ("self._client.get_scheduled_flow_runs_for_deployments(" in poller_source
            and list(inspect.signature(method).parameters) == _POLL_PARAMS)


def install_quiet_polls() -> bool:
    """Make the runner's frequent polls reads (see above); returns whether the patch is in place."""
    if os.environ.get(QUIET_POLLS_ENV, "1").strip() == "0":
        return False
    if not poll_patch_point_intact():
        log.warning("the Prefect runner no longer polls as flows/serve.py expects: every poll also writes to the "
                    "Prefect database (slower resumes on SQLite); check flows/serve.py against this Prefect")
        return False
    from prefect.client.orchestration import PrefectClient

    method = PrefectClient.get_scheduled_flow_runs_for_deployments
    if not getattr(method, "coc_quiet_poll", False):
        PrefectClient.get_scheduled_flow_runs_for_deployments = quiet_poll(method)
    return True


def served_flows() -> list[tuple[Any, str, timedelta | None]]:
    """(flow, deployment name, interval or None): the pathway (started by the outbox) and the three scheduled
    jobs. main() hands the flow objects themselves to the runner (Runner.add_flow, as flow.serve() does), so
    Prefect starts each run from the object in a subprocess (run_flow_in_subprocess) instead of launching
    `python -m prefect.engine`, which re-reads the deployment and re-imports the code from its file path."""
    from flows.deadline_watch import deadline_watch
    from flows.fixity import fixity_check
    from flows.ledger_check import ledger_check
    from flows.outbox import outbox_drain
    from flows.pathway import survivor_pathway

    return [
        (survivor_pathway, "survivor-pathway", None),
        (deadline_watch, "deadline-watch", DEADLINE_EVERY),
        (fixity_check, "fixity", FIXITY_EVERY),
        (outbox_drain, "outbox-drain", OUTBOX_EVERY),
        (ledger_check, "ledger-check", LEDGER_CHECK_EVERY),
    ]


def drain_once() -> None:
    """Deliver undelivered outbox rows (best effort: failures stay in the outbox and are retried)."""
    from flows.outbox import drain_now

    try:
        delivered, left = drain_now()
        if delivered or left:
            log.info("outbox: %d delivered, %d left", delivered, left)
    except Exception as exc:  # noqa: BLE001 - Prefect or the database may be down; the rows wait for the next drain
        log.warning("outbox drain failed (%s); will retry", type(exc).__name__)


def backstop_due(created: Iterable[datetime], now: datetime, min_age_s: float = OUTBOX_LOOP_MIN_AGE_S) -> bool:
    """True when an undelivered row is old enough that the after-commit drain has evidently not delivered it
    (or is stamped in the future, by another clock: then age says nothing, so deliver)."""
    from core.clock import as_utc

    for when in created:
        age = (now - as_utc(when)).total_seconds()
        if age >= min_age_s or age < 0:
            return True
    return False


def backstop_needed() -> bool:
    """Whether the loop should drain now: some undelivered row is older than OUTBOX_LOOP_MIN_AGE_S."""
    from core import outbox
    from core.clock import utcnow
    from core.settings import get_settings

    try:
        with outbox.session_factory_for(get_settings())() as session:
            created = [row.created_at for row in outbox.pending(session)]
    except Exception as exc:  # noqa: BLE001 - the database may be down; drain_once will report it
        log.debug("outbox check failed (%s)", type(exc).__name__)
        return True
    return backstop_due(created, utcnow())


def drain_loop(stop: threading.Event) -> None:
    """Every OUTBOX_LOOP_S seconds, drain the outbox in this process if a row has waited too long (a flow run
    per drain would cost a process; fresh rows are the API's after-commit drain's, see OUTBOX_LOOP_MIN_AGE_S)."""
    while not stop.wait(OUTBOX_LOOP_S):
        if backstop_needed():
            drain_once()


def reconcile_loop(stop: threading.Event) -> None:
    """Reconcile pathway runs at once (start-up: runs that died with the last stack are replaced) and then every
    COC_RECONCILE_EVERY_S seconds (flows/reconcile.py); failures are logged and retried on the next pass."""
    from core.settings import get_settings
    from flows.reconcile import reconcile_now

    every = get_settings().reconcile_every_s
    while True:
        try:
            taken = reconcile_now()
            if taken:
                log.info("reconciler: %d case(s) given a fresh pathway run", len(taken))
        except Exception as exc:  # noqa: BLE001 - Prefect or the database may be down; the next pass retries
            log.warning("pathway reconcile failed (%s: %s); will retry", type(exc).__name__, exc)
        if stop.wait(every):
            return


def prepare_process() -> None:
    """What the flow runner does first: Prefect defaults, logging, and the composition root (every hook wired;
    runs forked from here inherit them, and each flow wires again anyway)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")  # an int setting; query_seconds below is finer
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the run logs
    from evidence.bootstrap import wire

    wire()


def main() -> None:
    """Register and serve all deployments until interrupted (SIGTERM/SIGINT stop it cleanly)."""
    prepare_process()
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    log.info("flow runs start with %s; runner polls every %.1f s (%s)", install_warm_start(), POLL_S,
             "reads" if install_quiet_polls() else "Prefect's own")
    runner = Runner(name="coc-flows", query_seconds=POLL_S, prefetch_seconds=10,
                    limit=int(os.environ.get("COC_RUNNER_LIMIT", "20")))
    for flow, name, interval in served_flows():
        runner.add_flow(flow, name=name, interval=interval)  # registers the deployment with the server now
    # The pathway deployment exists from here on, so start-pathway rows left from before can be delivered.
    drain_once()
    stop = threading.Event()
    threading.Thread(target=drain_loop, args=(stop,), name="coc-outbox-loop", daemon=True).start()
    threading.Thread(target=reconcile_loop, args=(stop,), name="coc-reconcile-loop", daemon=True).start()
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        log.info("flow runner stopping")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
