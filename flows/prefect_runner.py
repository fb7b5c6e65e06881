"""The flow runner's patches of Prefect internals, applied only to the pinned Prefect (3.8.8) — the adapter
between flows/serve.py and Prefect's runner.

Two latency patches (benchmarks/consent_to_handoff.py, goal p95 < 3 s from a consent to the handoff):
- `install_warm_start`: flow-run processes start from a preloaded forkserver instead of a fresh interpreter;
- `install_quiet_polls`: the runner's frequent polls for scheduled runs are reads, not server writes.
Each is applied only when `prefect.__version__` is PREFECT_PIN and its patch point is still where it expects it
(`prefect_pinned`, `patch_point_intact`, `poll_patch_point_intact`); otherwise it logs a warning and Prefect's own
behaviour stays. tests/unit/test_flow_start.py fails loudly when an upgrade moves a patch point.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable

log = logging.getLogger("flows.serve")

# The Prefect version the patches below were written against (pyproject.toml pins it).
PREFECT_PIN = "3.8.8"


def prefect_pinned(version: str | None = None) -> bool:
    """True when `version` (default: the installed prefect.__version__) is PREFECT_PIN, the only Prefect whose
    internals these patches were checked against."""
    if version is None:
        import prefect

        version = getattr(prefect, "__version__", "")
    return version == PREFECT_PIN


def _refuse_unpinned(what: str) -> bool:
    """Log and return True when the installed Prefect is not the pinned one (the patch `what` is not applied)."""
    if prefect_pinned():
        return False
    import prefect

    log.warning("Prefect %s is not the pinned %s: %s not applied, Prefect's own behaviour is kept (check "
                "flows/prefect_runner.py against this Prefect version)", getattr(prefect, "__version__", "?"),
                PREFECT_PIN, what)
    return True


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
# COC_RUNNER_START=spawn keeps Prefect's default. Prefect is pinned (3.8.8): the version and the patch point are
# checked here at start-up (falling back to spawn with a warning) and by a unit test that fails loudly when the
# patch point changes.
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


def install_warm_start(method: str = "forkserver") -> str:
    """Make Prefect start flow-run processes from a preloaded forkserver; returns the start method in use.

    `method` is COC_RUNNER_START ("forkserver", or "spawn" for Prefect's own). Call once in the runner process
    before it starts runs. The forkserver is started here, so its imports happen while the runner registers
    deployments rather than when the first consent arrives.
    """
    method = method.strip().lower() or "forkserver"
    if method == "spawn":
        return "spawn"
    if method != "forkserver":
        log.warning("COC_RUNNER_START=%r is not 'forkserver' or 'spawn': flow runs start with Prefect's spawn",
                    method)
        return "spawn"
    if _refuse_unpinned("the forkserver start of flow runs"):
        return "spawn"
    if not patch_point_intact():
        log.warning("prefect.flow_engine no longer starts runs with %s: flow runs start with Prefect's own "
                    "method (slower); check flows/prefect_runner.py against this Prefect version", _PATCH_POINT)
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
# server write deployment.last_polled (a background mark_deployments_ready); at COC_RUNNER_POLL_S = 0.2 that
# is ~5 writes a second on the server's SQLite database. Resuming a run (POST /flow_runs/{id}/resume) reads, then
# writes, in a deferred transaction: a write committed in between fails it with "database is locked", the
# server answers 503, and the client retries after 2 s. Traced on the benchmark, most such failures lined up
# with a mark_deployments_ready commit; each cost that consent ~2 s. So the poller's call is answered by an
# equivalent read (POST /flow_runs/filter: SCHEDULED runs of the runner's deployments, due before
# `scheduled_before`, soonest first, the same query the server runs), and the real call is made once every
# MARK_READY_EVERY_S, which keeps the deployments READY (the server marks them NOT_READY after 60 s unpolled).
# The patch is on PrefectClient in the runner process only (the forkserver and the runs forked from it never
# run main()); the Prefect version, the poller's call and the method's signature are checked here at start-up
# (falling back to Prefect's polls with a warning) and by a unit test. COC_RUNNER_QUIET_POLLS=false turns it off.
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


def install_quiet_polls(enabled: bool = True) -> bool:
    """Make the runner's frequent polls reads (see above); returns whether the patch is in place.
    `enabled` is COC_RUNNER_QUIET_POLLS."""
    if not enabled:
        return False
    if _refuse_unpinned("the runner's read-only polls"):
        return False
    if not poll_patch_point_intact():
        log.warning("the Prefect runner no longer polls as flows/prefect_runner.py expects: every poll also writes "
                    "to the Prefect database (slower resumes on SQLite); check it against this Prefect version")
        return False
    from prefect.client.orchestration import PrefectClient

    method = PrefectClient.get_scheduled_flow_runs_for_deployments
    if not getattr(method, "coc_quiet_poll", False):
        PrefectClient.get_scheduled_flow_runs_for_deployments = quiet_poll(method)
    return True
