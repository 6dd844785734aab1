"""free_port(): ports a server can be restarted on, never handed out twice in a process."""

from __future__ import annotations

import socket

from localcloud import services
from localcloud.services import LOCAL_HOST, free_port, port_is_free


def test_a_chosen_port_is_free_and_below_the_kernels_ephemeral_range() -> None:
    low, high = services._ephemeral_range()
    assert 1024 < low < high
    for _ in range(20):
        port = free_port()
        assert max(1024, low - services._PORT_SPAN) <= port < low
        assert port_is_free(port)


def test_no_port_is_handed_out_twice_even_once_it_is_free_again() -> None:
    ports = [free_port() for _ in range(300)]  # none of them bound meanwhile, as between a stop and a start
    assert len(set(ports)) == len(ports)


def test_a_preferred_port_or_the_next_free_one_above_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOCAL_HOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert free_port(busy) > busy
    assert free_port(busy) == busy
