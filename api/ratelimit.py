"""A small in-process sliding-window rate limiter (login, survivor status lookup).

Assumption: one API process per deployment (`coc up`); behind several workers each keeps its own window,
so the effective limit is multiplied by the worker count — acceptable for slowing password guessing.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from typing import Any

from core.errors import RateLimited


def client_key(request: Any) -> str:
    """The address a request's attempts count against: the connection's (never a forwarded-for header), an IPv6
    one by its /64 (one customer's network: counted address by address, each request could come from a fresh
    one), an IPv4-mapped IPv6 one as the IPv4 address."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """At most `per_minute` hits per key in any 60-second window."""

    def __init__(self, per_minute: int, *, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self.max_keys = max_keys  # bounded memory: an attacker cycling keys cannot grow us without limit
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, *keys: str, now: float | None = None) -> None:
        """Count one attempt against every key; raise RateLimited if any key is over its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._hits) > self.max_keys:
                self._evict(now)
            for key in keys:
                q = self._hits.setdefault(key, deque())
                while q and now - q[0] >= self.window_s:
                    q.popleft()
                if len(q) >= self.per_minute:
                    retry = max(1, int(self.window_s - (now - q[0])) + 1)
                    raise RateLimited("too many attempts: wait a minute and try again", retry_after=retry)
            for key in keys:
                self._hits[key].append(now)

    def _evict(self, now: float) -> None:
        """Make room without forgetting a key that is being limited: a flood of new keys (cheap for an attacker)
        must not reset the window of the account it is guessing at. Expired windows go first, then keys below
        their limit (least recently hit first); keys at their limit go only if nothing else is left."""
        for key in [k for k, q in self._hits.items() if not q or now - q[-1] >= self.window_s]:
            del self._hits[key]
        excess = len(self._hits) - self.max_keys * 9 // 10
        if excess > 0:
            order = sorted(self._hits.items(), key=lambda kv: (len(kv[1]) >= self.per_minute, kv[1][-1]))
            for key, _ in order[:excess]:
                del self._hits[key]

    def reset(self) -> None:
        """Forget every window (tests, admin)."""
        with self._lock:
            self._hits.clear()
