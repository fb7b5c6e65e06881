"""Injectable clock: every service takes time from here so tests can live through months in a second."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the frozen time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (must not be earlier than now)."""
        with self._lock:
            when = when.astimezone(UTC)
            if when < self._now:
                raise ValueError("a clock never goes backwards")
            self._now = when


class FileClock:
    """The wall clock shifted by a number of seconds read from a file: one clock shared by every process of a
    stack (the API, the flow runner and each flow run), so an end-to-end test can live through the years of a
    kit against a real Prefect server. The file holds a decimal number of seconds (missing file: 0); it is
    re-read when it changes. Set with COC_CLOCK_FILE, in embedded mode only (core.settings refuses it in
    production). Forward only: an offset smaller than the last one seen is refused, so time never runs back."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._offset = 0.0
        self._lock = threading.Lock()

    def offset(self) -> float:
        """The current offset in seconds (re-read when the file changed)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self._offset
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                text = self.path.read_text(encoding="ascii").strip()
                value = float(text) if text else 0.0
                if value < self._offset:
                    raise ValueError(f"{self.path}: the clock offset went back from {self._offset} to {value}")
                self._offset, self._stamp = value, stamp
            return self._offset

    def now(self) -> datetime:
        """The wall-clock time plus the file's offset, in UTC."""
        return datetime.now(UTC) + timedelta(seconds=self.offset())

    def advance(self, delta: timedelta) -> datetime:
        """Move every process's clock forward by `delta` (writes the file atomically) and return the new time."""
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        value = self.offset() + delta.total_seconds()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(repr(value), encoding="ascii")
        tmp.replace(self.path)
        return self.now()


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    """Return the process-wide clock (SystemClock unless a test installed another)."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install `clock` process-wide and return the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def utcnow() -> datetime:
    """Shorthand for get_clock().now()."""
    return _clock.now()


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (as SQLite returns) as UTC; convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


REQUEST_YEARS = (1900, 9000)  # the range of times a request may carry (require_offset)


def require_offset(value: datetime | None) -> datetime | None:
    """Validator for times given in requests: one without a UTC offset is ambiguous (whose clock?) and refused.

    Why: a local time read as UTC shifts every clinical window by the centre's offset (a Pacific assault time
    entered without an offset would make PEP look expired ~8 h early).
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("give the time with its UTC offset (e.g. 2026-11-23T22:00:00-08:00, or Z for UTC): "
                         "a time without one is ambiguous")
    if isinstance(value, datetime):
        # Found by schemathesis: 0001-01-01T00:00+14:00 has no UTC equivalent (OverflowError → a 500), and times
        # near the ends of the calendar overflow the clinical windows' arithmetic. No real event is outside this.
        try:
            year = value.astimezone(UTC).year
        except OverflowError:
            year = 0
        if not REQUEST_YEARS[0] <= year <= REQUEST_YEARS[1]:
            raise ValueError(f"the time must fall between the years {REQUEST_YEARS[0]} and {REQUEST_YEARS[1]}")
    return value
