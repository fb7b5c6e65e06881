"""An exclusive flock on a file in the data directory, held for the embedded stack's whole life.

flock (not a pid file) because the kernel releases it when the holder dies, even by SIGKILL: a crashed
`coc up` never leaves a stale lock behind. The descriptor is not inherited by children (Python's default),
so an orphaned child cannot keep the data directory locked either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from core.errors import Conflict

LOCK_FILE = "coc.lock"


class DataDirLock:
    """Exclusive, non-blocking lock on <data_dir>/coc.lock; the holder's pid is written into the file."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise Conflict naming the data directory and the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Conflict(
                f"another `coc up` (pid {holder}) is already running on the data directory "
                f"{self.path.parent}; stop it first or choose another COC_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None
