"""Scheduled flow: verify the whole audit ledger, record the run, and raise the alert at once when it fails."""

from __future__ import annotations

import logging

from prefect import flow, get_run_logger
from prefect.exceptions import MissingContextError

from core.actors import system_actor
from core.db import get_engine, transaction
from evidence.verification import VerificationTrigger, verify_and_record


@flow(name="ledger-check", persist_result=False)
def ledger_check() -> dict[str, int | bool | None]:
    """One whole-ledger verification (evidence.verification.verify_and_record, trigger "scheduled")."""

    with transaction(get_engine(), deferred=True) as session:  # SQLite: verify without the write lock
        outcome = verify_and_record(session, actor=system_actor("ledger-check"),
                                    trigger=VerificationTrigger.SCHEDULED)
        record = outcome.record
        summary = {"ok": record.ok, "entries_checked": record.entries_checked,
                   "first_bad_seq": record.first_bad_seq, "alert_raised": outcome.alert is not None}
    log = _logger()
    if record.ok:
        log.info("ledger verified: %d entries", summary["entries_checked"])
    else:
        log.error("LEDGER NOT INTACT: first bad entry %s (alert raised: %s)", summary["first_bad_seq"],
                  summary["alert_raised"])
    return summary


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger in a flow run; the module's logger when the body is called directly (ledger_check.fn())."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("coc.flows.ledger_check")


if __name__ == "__main__":
    ledger_check()
