"""Stopping the processes we start: each child runs in its own session, so its process group is its family."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time

# Per child: SIGTERM, then SIGKILL after this long. The supervisor stops its children in two parallel waves
# (API and flow runner, then Prefect and the S3 store), so `coc up` is gone within ~10 s of a SIGTERM.
STOP_TIMEOUT_S = 3.0
GRANDCHILD_GRACE_S = 0.5

try:  # resolved in the parent: the forked child must not load libraries (another thread may hold a lock)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """preexec_fn: ask the kernel to SIGTERM this child when the THREAD that started it dies (Linux only).

    The kernel ties PR_SET_PDEATHSIG to the creating thread, not the process: start children from a thread that
    lives as long as the supervisor (its main thread), never from a short-lived helper thread."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


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
    deadline = time.monotonic() + GRANDCHILD_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
