"""Transactional outbox: the only way a change reaches Prefect (start a case's pathway, wake a waiting run).

A row is written in the same transaction as the change that needs Prefect to act, and delivered after
commit. Prefect only wakes flows; the database stays the truth. If Prefect is down nothing is lost: the row
stays undelivered and is retried (after the next commit, at start-up, and by the scheduled drain flow).

Wake protocol with the pathway flow (flows/pathway.py):
  1. before looking for a decision, the flow records `pathway_wait(case_id, key, flow_run_id)` and commits;
  2. it reads the database; if the decision is there it goes on (and clears the wait), else it suspends
     with `key` and waits for a run input `{"case_id": ..., "checkpoint": key}` (opaque ids only).
  3. a wake for the case resumes every run that waits for it and is suspended; a run that has written its
     wait but is not suspended yet keeps the row undelivered (retried); with no waiting or active run for
     the case a new pathway run is started, so a case can move again after its run ended.
  4. a resumed wake is delivered only once its run has moved on: the row remembers the waits it resumed
     (`resumed`) and stays undelivered until that wait is gone (the run re-ran: it suspended at a later key or
     completed). A run found dead — Crashed/Failed/Cancelled, or Scheduled/Pending/Running for longer than
     its threshold (core.reconcile.Thresholds) — is retired and replaced by ONE fresh run, whose idempotency
     key names the case and the dead run (the reconciler, flows/reconcile.py, uses the same key).
  5. timed waits: a run with nothing to decide but a date to reach (a follow-up, a notice, a destruction date)
     records its wait with `wake_at` and suspends; `wake_due` (called by the flow runner's drain loop, the
     outbox-drain and deadline-watch flows) enqueues a wake for the case when the injectable clock reaches it.

Layout: `models` (tables), `service` (rows and waits in the caller's transaction), `waker` (the Waker Protocol
and the Prefect adapter), `delivery` (drain: the delivery rules), `drainer` (the after-commit background drain).
Import from the package: `from core.outbox import enqueue` / `from core import outbox`.
"""

from core.outbox.delivery import (
    NotYetDeliverable,
    drain,
    replace_dead_run,
    session_factory_for,
    thresholds_for,
)
from core.outbox.drainer import drain_soon
from core.outbox.models import MAX_ERROR_LEN, MAX_RESUMED_LEN, OutboxKind, OutboxMessage, PathwayWait
from core.outbox.service import PENDING_FLAG, clear_wait, enqueue, pending, record_wait, waits_for, wake_due
from core.outbox.waker import PATHWAY_DEPLOYMENT, QUICK_RETRY_DELAYS, PrefectWaker, RunStatus, Waker, waker_for

__all__ = [
    "MAX_ERROR_LEN",
    "MAX_RESUMED_LEN",
    "PATHWAY_DEPLOYMENT",
    "PENDING_FLAG",
    "QUICK_RETRY_DELAYS",
    "NotYetDeliverable",
    "OutboxKind",
    "OutboxMessage",
    "PathwayWait",
    "PrefectWaker",
    "RunStatus",
    "Waker",
    "clear_wait",
    "drain",
    "drain_soon",
    "enqueue",
    "pending",
    "record_wait",
    "replace_dead_run",
    "session_factory_for",
    "thresholds_for",
    "waits_for",
    "wake_due",
    "waker_for",
]
