"""Scheduled flow: the backstop of the pathway's retention stage. Raises a `destruction-notice` alert for every
notice that has come due and was not sent (evidence.notice_tasks.raise_due_notice_alerts; once per item and
destruction date), whether or not the case's pathway run is alive."""

from __future__ import annotations

import logging

from prefect import flow

from core.actors import system_actor
from core.db import get_engine, transaction
from evidence.bootstrap import wire
from evidence.notice_tasks import raise_due_notice_alerts

log = logging.getLogger("flows.retention_sweep")


def sweep_once() -> int:
    """One sweep in its own transaction; returns how many alerts it raised."""
    with transaction(get_engine()) as session:
        return len(raise_due_notice_alerts(session, actor=system_actor("retention-sweep")))


@flow(name="retention-sweep", persist_result=False)
def retention_sweep() -> int:
    """Raise the alerts of destruction notices that are due; return how many were raised."""
    wire()
    raised = sweep_once()
    log.info("retention sweep raised %d notice alert(s)", raised)
    return raised
