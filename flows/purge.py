"""Scheduled flow: the retention sweep — file locks brought up to their items' dates (evidence.preservation), then
destroyed items' files deleted once their Object Lock has ended (evidence.purge)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from core.actors import system_actor
from core.db import get_engine, transaction
from core.settings import get_settings
from evidence.bootstrap import wire
from evidence.preservation import sync_object_locks
from evidence.purge import purge_destroyed_files
from evidence.storage import get_object_store


@flow(name="retention-purge", persist_result=False)
def retention_purge() -> dict[str, int]:
    """One sweep; counts only in Prefect (file and item ids stay in the ledger and the database)."""
    wire()
    store = get_object_store(get_settings())
    with transaction(get_engine()) as session:
        synced = sync_object_locks(session, store)
    with transaction(get_engine()) as session:
        report = purge_destroyed_files(session, store, actor=system_actor("purge"))
    summary = {"locks_extended": sum(len(v) for v in synced.values()), **report.summary()}
    get_run_logger().info("retention sweep: %s", summary)
    return summary


if __name__ == "__main__":
    retention_purge()
