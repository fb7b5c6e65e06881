"""`python -m flows.serve`: serve every deployment from one long-running process (the embedded stack).

Polling is tuned for latency: a resumed pathway run must be picked up within about a second of the consent
being recorded, so the runner asks the server for scheduled runs every POLL_S seconds instead of every 10.
The outbox is drained once at start-up so wakes recorded while nothing was serving are delivered.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

POLL_S = float(os.environ.get("COC_RUNNER_POLL_S", "0.2"))
DEADLINE_EVERY = timedelta(minutes=15)
FIXITY_EVERY = timedelta(hours=24)
OUTBOX_EVERY = timedelta(seconds=30)

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


def drain_at_startup() -> None:
    """Deliver wakes left undelivered while no runner was serving (best effort: the scheduled drain retries)."""
    from flows.outbox import drain_now

    try:
        delivered, left = drain_now()
        log.info("outbox at start-up: %d delivered, %d left", delivered, left)
    except Exception:  # noqa: BLE001 - Prefect or the database may still be starting; retried on schedule
        log.exception("outbox drain at start-up failed; the scheduled drain will retry")


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
    drain_at_startup()
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        log.info("flow runner stopping")


if __name__ == "__main__":
    main()
