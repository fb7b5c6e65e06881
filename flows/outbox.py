"""Scheduled flow: deliver outbox rows that the after-commit drain could not (Prefect was down, a run was
not suspended yet, the API process stopped)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from core import outbox
from core.db import transaction
from core.settings import get_settings
from evidence.bootstrap import wire
from flows.reconcile import reconcile_now


def wake_due_now() -> int:
    """Enqueue wakes for the timed pathway waits that came due (core.outbox.wake_due); return cases woken."""
    settings = get_settings()
    with transaction(outbox.session_factory_for(settings)) as session:
        return outbox.wake_due(session)


def drain_now() -> tuple[int, int]:
    """Wake due timed waits, then drain the configured database's outbox into the configured Prefect;
    return (delivered, left)."""
    settings = get_settings()
    wake_due_now()
    return outbox.drain(outbox.session_factory_for(settings), outbox.waker_for(settings),
                        thresholds=outbox.thresholds_for(settings))


@flow(name="outbox-drain", persist_result=False)
def outbox_drain() -> int:
    """Deliver pending outbox rows once and return how many were delivered."""
    wire()
    delivered, left = drain_now()
    get_run_logger().info("outbox: %d delivered, %d left", delivered, left)
    # Also the pathway reconciler's schedule where no flows.serve loop runs (a Prefect worker deployment).

    taken = reconcile_now()
    if taken:
        get_run_logger().info("reconciler: %d case(s) given a fresh pathway run", len(taken))
    return delivered
