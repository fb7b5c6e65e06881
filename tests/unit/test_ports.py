"""api.stack.ports: the ports a stack chooses for its parts are free, distinct, and outside the kernel's ephemeral
range (where an outgoing connection could take one between choosing and binding it)."""

from __future__ import annotations

import socket

from api.stack.ports import _ephemeral_low, free_port, free_ports


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
