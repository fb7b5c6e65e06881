"""`python -m flows.serve`: serve every deployment from one long-running process (the embedded stack).

Polling is tuned for latency: a resumed pathway run must be picked up within about a second of the consent
being recorded, so the runner asks the server for scheduled runs every POLL_S seconds instead of every 10.
The outbox is drained at start-up (wakes recorded while nothing was serving) and every few seconds in this
process; the scheduled outbox-drain deployment is the backstop when the drain loop is not running.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

POLL_S = float(os.environ.get("COC_RUNNER_POLL_S", "0.2"))
DEADLINE_EVERY = timedelta(minutes=15)
FIXITY_EVERY = timedelta(hours=24)
OUTBOX_EVERY = timedelta(minutes=5)  # the scheduled backstop; the in-process loop below runs every few seconds
OUTBOX_LOOP_S = float(os.environ.get("COC_OUTBOX_LOOP_S", "5"))

log = logging.getLogger("flows.serve")


def deployments() -> list:
    """The runner deployments: the pathway (started by the outbox) and the three scheduled jobs."""
    from flows.deadline_watch import deadline_watch
    from flows.fixity import fixity_check
    from flows.outbox import outbox_drain
    from flows.pathway import survivor_pathway

    return [
        survivor_pathway.to_deployment(name="survivor-pathway"),
        deadline_watch.to_deployment(name="deadline-watch", interval=DEADLINE_EVERY),
        fixity_check.to_deployment(name="fixity", interval=FIXITY_EVERY),
        outbox_drain.to_deployment(name="outbox-drain", interval=OUTBOX_EVERY),
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


def drain_loop(stop: threading.Event) -> None:
    """Drain the outbox every OUTBOX_LOOP_S seconds in this process (a flow run per drain would cost a process)."""
    while not stop.wait(OUTBOX_LOOP_S):
        drain_once()


def main() -> None:
    """Register and serve all deployments until interrupted (SIGTERM/SIGINT stop it cleanly)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")  # an int setting; query_seconds below is finer
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the run logs
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    runner = Runner(name="coc-flows", query_seconds=POLL_S, prefetch_seconds=10,
                    limit=int(os.environ.get("COC_RUNNER_LIMIT", "20")))
    for deployment in deployments():
        runner.add_deployment(deployment)  # registers it with the server now
    # The pathway deployment exists from here on, so start-pathway rows left from before can be delivered.
    drain_once()
    stop = threading.Event()
    threading.Thread(target=drain_loop, args=(stop,), name="coc-outbox-loop", daemon=True).start()
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        log.info("flow runner stopping")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
