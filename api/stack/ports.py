"""Choosing free TCP ports for the parts a stack starts (its internal ports, and tests' stacks).

A port the kernel hands out for `bind(0)` comes from the ephemeral range (Linux: 32768-60999), the same range it
draws the source ports of outgoing connections from. Between choosing such a port and the child binding it, any
outgoing connection on the machine may take it ("address already in use": seen as a SeaweedFS that died at
start). So ports are drawn at random BELOW the ephemeral range, where the kernel never assigns ports on its own,
and each is checked by binding it (all held until all are chosen, so they are distinct).

Two more ways a chosen port can be taken before its part binds it, both seen as "address already in use":
- the stack's own configured ports (the API's, the Prefect server's) are free while the S3 store picks its
  internal ports, because those parts start later: callers pass them as `avoid`;
- another stack on the same machine drawing from the same range at the same moment (two test workers, two
  centres' stacks on one host): COC_INTERNAL_PORTS=low-high gives each its own range.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterable
from pathlib import Path

from core.errors import ConfigError

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # above the well-known and most registered service ports
_ATTEMPTS = 200
RANGE_ENV = "COC_INTERNAL_PORTS"


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # the Linux default


def port_range() -> tuple[int, int]:
    """The inclusive range internal ports are drawn from: COC_INTERNAL_PORTS=low-high, else 20000 up to just
    below the kernel's ephemeral range."""
    raw = os.environ.get(RANGE_ENV, "").strip()
    if not raw:
        return _LOWEST, _ephemeral_low() - 1
    try:
        low, high = (int(part) for part in raw.split("-", 1))
    except ValueError:
        raise ConfigError(f"{RANGE_ENV}={raw!r} is not a port range: write it as low-high, e.g. 20000-26000") from None
    if not 1024 <= low < high <= 65535 or high - low < 50:
        raise ConfigError(f"{RANGE_ENV}={raw!r}: give at least 50 ports between 1024 and 65535, low before high")
    return low, high


def share(index: int, count: int) -> str:
    """The COC_INTERNAL_PORTS value for the `index`-th of `count` stacks sharing this machine's range (test
    workers): disjoint slices of `port_range()`."""
    low, high = port_range()
    span = (high - low + 1) // count
    return f"{low + index * span}-{low + (index + 1) * span - 1}"


def free_ports(n: int, host: str = "127.0.0.1", *, avoid: Iterable[int] = ()) -> list[int]:
    """`n` distinct ports free on `host` right now, from `port_range()`, none of them in `avoid`."""
    low, high = port_range()
    skip = set(avoid)
    rng = random.SystemRandom()
    socks: list[socket.socket] = []
    try:
        attempts = 0
        while len(socks) < n:
            attempts += 1
            port = rng.randint(low, high) if high - low > 50 and attempts <= _ATTEMPTS else 0
            if port in skip:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            if port == 0 and s.getsockname()[1] in skip:
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1", *, avoid: Iterable[int] = ()) -> int:
    """One port free on `host` right now (see free_ports)."""
    return free_ports(1, host, avoid=avoid)[0]
