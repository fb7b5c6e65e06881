"""The after-commit drain: `drain_soon(settings)` wakes one background thread per (database, Prefect) pair,
which drains the outbox and retries soon-deliverable rows for a while (then the scheduled drain takes over)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from core.outbox.delivery import drain, session_factory_for, thresholds_for
from core.outbox.waker import waker_for

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger("core.outbox")


class _Drainer:
    """One background thread per (database, Prefect) pair; calls coalesce; retries soon-deliverable rows."""

    RETRY_INTERVAL_S = 0.25
    RETRY_WINDOW_S = 30.0  # after that the scheduled drain flow takes over

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wanted = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="coc-outbox-drain", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        factory = session_factory_for(self.settings)
        waker = waker_for(self.settings)
        while True:
            self.wanted.wait()
            self.wanted.clear()
            deadline = time.monotonic() + self.RETRY_WINDOW_S
            while True:
                try:
                    _, left = drain(factory, waker, thresholds=thresholds_for(self.settings))
                except Exception:  # noqa: BLE001 - the database itself may be down; retried next time
                    log.exception("outbox drain failed")
                    left = 1
                if not left or time.monotonic() > deadline:
                    break
                self.wanted.wait(self.RETRY_INTERVAL_S)  # a new commit interrupts the back-off
                self.wanted.clear()


_drainers: dict[tuple[str | None, str | None], _Drainer] = {}
_drainers_lock = threading.Lock()


def drain_soon(settings: Settings) -> None:
    """Ask for a drain in the background (returns at once); call it after committing an enqueue."""
    key = (settings.database_url, settings.prefect_api_url)
    with _drainers_lock:
        drainer = _drainers.get(key)
        if drainer is None or not drainer.thread.is_alive():
            drainer = _drainers[key] = _Drainer(settings)
    drainer.wanted.set()
