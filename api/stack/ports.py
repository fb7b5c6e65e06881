"""Choosing free TCP ports for the parts a stack starts (its internal ports, and tests' stacks).

A port the kernel hands out for `bind(0)` comes from the ephemeral range (Linux: 32768-60999), the same range it
draws the source ports of outgoing connections from. Between choosing such a port and the child binding it, any
outgoing connection on the machine may take it ("address already in use": seen as a SeaweedFS that died at
start). So ports are drawn at random BELOW the ephemeral range, where the kernel never assigns ports on its own,
and each is checked by binding it (all held until all are chosen, so they are distinct).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # above the well-known and most registered service ports
_ATTEMPTS = 200


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # the Linux default


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct ports free on `host` right now, outside the kernel's ephemeral range where there is room."""
    high = _ephemeral_low() - 1
    rng = random.SystemRandom()
    socks: list[socket.socket] = []
    try:
        attempts = 0
        while len(socks) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            attempts += 1
            port = rng.randint(_LOWEST, high) if high - _LOWEST > 1000 and attempts <= _ATTEMPTS else 0
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    """One port free on `host` right now (see free_ports)."""
    return free_ports(1, host)[0]
