"""`python -m flows.serve`: serve every deployment from one long-running process (the embedded stack).

Tuned for latency (benchmarks/consent_to_handoff.py, goal p95 < 3 s from a consent to the handoff):
- the runner asks the server for scheduled runs every COC_RUNNER_POLL_S seconds instead of every 10, so a
  resumed pathway run is picked up quickly; those frequent polls are reads (flows/prefect_runner.py
  `install_quiet_polls`);
- the runner holds the flow objects (Runner.add_flow, as flow.serve() does) and starts each run from a warm
  forkserver instead of a fresh interpreter (flows/prefect_runner.py `install_warm_start`): a resumed run no
  longer pays ~1.5 s of CPU re-importing Prefect and our code before it can act.
Both patch Prefect internals and apply only to the pinned Prefect (flows/prefect_runner.py). This module is the
runner's wiring only: the served flows, the outbox and reconcile loops, and main().
The outbox is drained at start-up (wakes recorded while nothing was serving) and, as a backstop for the
API's after-commit drain, every few seconds in this process; the scheduled outbox-drain deployment is the
backstop when the drain loop is not running.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core import outbox
from core.clock import as_utc, utcnow
from core.settings import get_settings
from evidence.bootstrap import wire
from flows.deadline_watch import deadline_watch
from flows.fixity import fixity_check
from flows.ledger_check import ledger_check
from flows.outbox import drain_now, outbox_drain, wake_due_now
from flows.pathway import survivor_pathway
from flows.prefect_runner import install_quiet_polls, install_warm_start
from flows.purge import retention_purge
from flows.reconcile import reconcile_now
from flows.retention_sweep import retention_sweep

if TYPE_CHECKING:
    from core.settings import Settings

# Tuning of the runner and its loops is in core/settings.py: COC_RUNNER_POLL_S, COC_RUNNER_LIMIT,
# COC_RUNNER_START, COC_RUNNER_QUIET_POLLS, COC_OUTBOX_LOOP_S, COC_OUTBOX_LOOP_MIN_AGE_S (read at start-up,
# never at import: the forkserver imports flows modules).
DEADLINE_EVERY = timedelta(minutes=15)
FIXITY_EVERY = timedelta(hours=24)
LEDGER_CHECK_EVERY = timedelta(hours=1)
PURGE_EVERY = timedelta(hours=24)  # destroyed items' files whose Object Lock ended; file locks kept in step
RETENTION_SWEEP_EVERY = timedelta(hours=6)  # notice dates are days apart: a few sweeps a day suffice
OUTBOX_EVERY = timedelta(minutes=5)  # the scheduled backstop; the in-process loop below runs every few seconds

log = logging.getLogger("flows.serve")


def served_flows() -> list[tuple[Any, str, timedelta | None]]:
    """(flow, deployment name, interval or None): the pathway (started by the outbox) and the three scheduled
    jobs. main() hands the flow objects themselves to the runner (Runner.add_flow, as flow.serve() does), so
    Prefect starts each run from the object in a subprocess (run_flow_in_subprocess) instead of launching
    `python -m prefect.engine`, which re-reads the deployment and re-imports the code from its file path."""

    return [
        (survivor_pathway, "survivor-pathway", None),
        (deadline_watch, "deadline-watch", DEADLINE_EVERY),
        (fixity_check, "fixity", FIXITY_EVERY),
        (outbox_drain, "outbox-drain", OUTBOX_EVERY),
        (ledger_check, "ledger-check", LEDGER_CHECK_EVERY),
        (retention_purge, "retention-purge", PURGE_EVERY),
        (retention_sweep, "retention-sweep", RETENTION_SWEEP_EVERY),
    ]


def drain_once() -> None:
    """Deliver undelivered outbox rows (best effort: failures stay in the outbox and are retried)."""

    try:
        delivered, left = drain_now()
        if delivered or left:
            log.info("outbox: %d delivered, %d left", delivered, left)
    except Exception as exc:  # noqa: BLE001 - Prefect or the database may be down; the rows wait for the next drain
        log.warning("outbox drain failed (%s); will retry", type(exc).__name__)


def backstop_due(created: Iterable[datetime], now: datetime, min_age_s: float) -> bool:
    """True when an undelivered row is at least `min_age_s` (COC_OUTBOX_LOOP_MIN_AGE_S) old, so the after-commit
    drain has evidently not delivered it (or is stamped in the future, by another clock: then age says nothing,
    so deliver). The loop leaves younger rows to the API's after-commit drain: two drainers resuming the same run
    at once make one of them fail on the Prefect server's SQLite ("database is locked" -> HTTP 503) and back off
    2 s, which delays every wake queued behind it."""

    for when in created:
        age = (now - as_utc(when)).total_seconds()
        if age >= min_age_s or age < 0:
            return True
    return False


def backstop_needed(settings: Settings) -> bool:
    """Whether the loop should drain now: some undelivered row is older than COC_OUTBOX_LOOP_MIN_AGE_S."""

    try:
        with outbox.session_factory_for(settings)() as session:
            created = [row.created_at for row in outbox.pending(session)]
    except Exception as exc:  # noqa: BLE001 - the database may be down; drain_once will report it
        log.debug("outbox check failed (%s)", type(exc).__name__)
        return True
    return backstop_due(created, utcnow(), settings.outbox_loop_min_age_s)


def drain_loop(stop: threading.Event) -> None:
    """Every COC_OUTBOX_LOOP_S seconds, drain the outbox in this process if a row has waited too long (a flow
    run per drain would cost a process; fresh rows are the API's after-commit drain's, see backstop_due)."""

    settings = get_settings()
    while not stop.wait(settings.outbox_loop_s):
        try:
            woken = wake_due_now()  # timed waits (follow-ups, notice dates) that the clock has reached
        except Exception as exc:  # noqa: BLE001 - the database may be down; the next pass retries
            log.warning("timed waits not checked (%s); will retry", type(exc).__name__)
            woken = 0
        if woken or backstop_needed(settings):
            drain_once()


def reconcile_loop(stop: threading.Event) -> None:
    """Reconcile pathway runs at once (start-up: runs that died with the last stack are replaced) and then every
    COC_RECONCILE_EVERY_S seconds (flows/reconcile.py); failures are logged and retried on the next pass."""

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
    # Prefect's own settings (not ours): defaults for this process and the runs it starts, unless already set.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")  # an int setting; query_seconds below is finer
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the run logs

    wire()


def main() -> None:
    """Register and serve all deployments until interrupted (SIGTERM/SIGINT stop it cleanly)."""
    prepare_process()
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner


    settings = get_settings()
    log.info("flow runs start with %s; runner polls every %.1f s (%s)", install_warm_start(settings.runner_start),
             settings.runner_poll_s, "reads" if install_quiet_polls(settings.runner_quiet_polls) else "Prefect's own")
    runner = Runner(name="coc-flows", query_seconds=settings.runner_poll_s, prefetch_seconds=10,
                    limit=settings.runner_limit)
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
