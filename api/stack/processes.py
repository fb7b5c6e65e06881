"""Stopping the processes we start: each child runs in its own session, so its process group is its family."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

STOP_TIMEOUT_S = 20.0


def stop_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the child's process group, wait up to `timeout`, then SIGKILL whatever is left of the group."""
    pgid = process.pid  # every child is started with start_new_session=True: its pid is its group id
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=10)
    # Grandchildren may outlive the group leader for a moment: give them a bounded grace, then kill.
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
