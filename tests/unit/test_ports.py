"""api.stack.ports: the ports a stack chooses for its parts are free, distinct, and outside the kernel's ephemeral
range (where an outgoing connection could take one between choosing and binding it)."""

from __future__ import annotations

import socket

import pytest

from api.stack.ports import RANGE_ENV, _ephemeral_low, free_port, free_ports, port_range, share
from core.errors import ConfigError


def test_ports_are_distinct_free_and_below_the_ephemeral_range():
    chosen = free_ports(40)
    assert len(set(chosen)) == 40
    low = _ephemeral_low()
    assert all(20000 <= p < low for p in chosen), (low, chosen)
    for port in chosen[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free: binding it succeeds


def test_a_port_in_use_is_never_chosen():
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        assert all(taken not in free_ports(50) for _ in range(20))


def test_ports_to_avoid_are_never_chosen_even_when_free():
    """The S3 store's internal ports never take the API's or Prefect's configured port (free until they start)."""
    low, high = port_range()
    avoid = tuple(range(low, low + (high - low) // 2))
    chosen = free_ports(30, avoid=avoid)
    assert not set(chosen) & set(avoid), chosen


def test_an_operator_range_is_kept_and_a_bad_one_refused(monkeypatch):
    monkeypatch.setenv(RANGE_ENV, "24000-24199")
    assert all(24000 <= p <= 24199 for p in free_ports(20))
    for bad in ("24000", "x-y", "24100-24000", "100-900", "24000-24010"):
        monkeypatch.setenv(RANGE_ENV, bad)
        with pytest.raises(ConfigError, match=RANGE_ENV):
            free_ports(1)


def test_stacks_sharing_a_machine_get_disjoint_ranges(monkeypatch):
    """tests/conftest.py gives every xdist worker one share (inherited by the stacks it starts)."""
    monkeypatch.setenv(RANGE_ENV, "20000-32767")
    shares = [share(i, 3) for i in range(3)]
    monkeypatch.setenv(RANGE_ENV, shares[1])
    assert port_range() == (24256, 28511)
    ranges = [tuple(int(x) for x in s.split("-")) for s in shares]
    assert ranges[0][0] == 20000 and all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_the_host_range_reaches_children_and_stack_settings_do_not(monkeypatch):
    from api.stack.children import inherited_env

    monkeypatch.setenv(RANGE_ENV, "24000-24199")
    monkeypatch.setenv("COC_API_PORT", "8123")
    monkeypatch.setenv("PGHOST", "elsewhere")
    env = inherited_env("PG")
    assert env[RANGE_ENV] == "24000-24199" and "COC_API_PORT" not in env and "PGHOST" not in env
