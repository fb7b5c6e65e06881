"""The in-process rate limiter: windows, and a flood of new keys cannot reset a key that is being limited."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from api.ratelimit import RateLimiter, client_key
from core.errors import RateLimited


def test_a_key_is_limited_within_its_window_and_free_after_it():
    lim = RateLimiter(3, window_s=60)
    for t in range(3):
        lim.hit("user:admin", now=float(t))
    with pytest.raises(RateLimited):
        lim.hit("user:admin", now=10.0)
    lim.hit("user:admin", now=61.0)  # the first hit has left the window


def test_a_flood_of_new_keys_does_not_reset_a_limited_key():
    """Before: more than max_keys keys cleared every window, so spraying addresses unlocked the target."""
    lim = RateLimiter(3, window_s=60, max_keys=100)
    for t in range(3):
        lim.hit("ip:10.0.0.1", "user:admin", now=float(t))
    for i in range(1000):  # an attacker cycling spoofed addresses and usernames, all within the window
        lim.hit(f"ip:192.0.2.{i}", f"user:guess{i}", now=5.0 + i / 1000)
    with pytest.raises(RateLimited):
        lim.hit("ip:10.0.0.1", "user:admin", now=20.0)
    assert len(lim._hits) <= 2 * 100 + 2  # memory stays bounded


def test_expired_windows_are_dropped_first():
    lim = RateLimiter(3, window_s=60, max_keys=10)
    for i in range(11):
        lim.hit(f"k{i}", now=0.0)
    lim.hit("late", now=100.0)  # everything before is expired: evicted, nothing live is lost
    assert set(lim._hits) == {"late"}


@pytest.mark.parametrize(("host", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("testclient", "testclient"),
])
def test_client_key_counts_an_ipv6_network_as_one_client(host, key):
    assert client_key(SimpleNamespace(client=SimpleNamespace(host=host))) == key
    assert client_key(SimpleNamespace(client=None)) == "unknown"
