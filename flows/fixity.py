"""Scheduled flow: resolve uploads a crash cut short (evidence.upload_sweep), then re-hash stored evidence files and
compare with their recorded SHA-256 (evidence.fixity)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from core.actors import system_actor
from core.db import get_engine, transaction
from core.settings import get_settings
from evidence.bootstrap import wire
from evidence.fixity import run_fixity
from evidence.storage import get_object_store
from evidence.upload_sweep import sweep_interrupted_uploads


@flow(name="fixity", persist_result=False)
def fixity_check() -> dict[str, int]:
    """Run one fixity pass over the object store; incidents are recorded by the evidence service."""
    wire()

    store = get_object_store(get_settings())
    with transaction(get_engine()) as session:  # first: uploads a crash cut short (parts aborted, rows resolved)
        swept = sweep_interrupted_uploads(session, store)
    with transaction(get_engine()) as session:
        report = run_fixity(session, store, actor=system_actor("fixity"))
    # Counts only: file ids stay in the ledger and the database, not in Prefect's UI or results.
    summary = {"checked": report.checked, "ok": report.ok, "mismatched": len(report.mismatched),
               "missing": len(report.missing), "unreadable": len(report.unreadable),
               "orphans": len(report.orphans), "unfinished": len(report.unfinished),
               "interrupted_uploads_aborted": swept.aborted_uploads, "pending_rows_resolved": len(swept.resolved)}
    log = get_run_logger()
    (log.info if report.clean else log.error)("fixity pass: %s", summary)
    return summary


if __name__ == "__main__":
    fixity_check()
