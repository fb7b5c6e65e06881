"""Scheduled flow: raise deadline alerts (policies.deadlines.scan_deadlines) for every open case."""

from __future__ import annotations

from prefect import flow, get_run_logger

from core.actors import system_actor
from core.db import get_engine, transaction
from evidence.bootstrap import wire
from policies.deadlines import scan_deadlines


@flow(name="deadline-watch", persist_result=False)
def deadline_watch() -> int:
    """Scan every case's clocks once and return how many alerts were raised."""
    wire()

    with transaction(get_engine()) as session:
        alerts = scan_deadlines(session, actor=system_actor("deadline-watch"))
    get_run_logger().info("deadline scan raised %d alert(s)", len(alerts))
    return len(alerts)
