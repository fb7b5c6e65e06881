"""Scheduled flow: re-hash stored evidence files and compare with their recorded SHA-256 (evidence.fixity)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from core.actors import system_actor
from core.db import get_engine, session_scope


@flow(name="fixity", persist_result=False)
def fixity_check() -> str:
    """Run one fixity pass over the object store; incidents are recorded by the evidence service."""
    from evidence.fixity import run_fixity

    with session_scope(get_engine()) as session:
        report = run_fixity(session, actor=system_actor("fixity"))
    get_run_logger().info("fixity pass done")
    return str(type(report).__name__)
