"""The listener grammar (the seed's ports and hosts strings), resolution and binding."""

from __future__ import annotations

import socket

import pytest

from transports import listen
from transports.listen import Listener


def test_single_port_group() -> None:
    assert listen.parse_ports("2525") == [(2525,)]


def test_colon_joins_ports_served_on_one_host() -> None:
    assert listen.parse_ports("2525:3535") == [(2525, 3535)]


def test_commas_separate_groups_and_spaces_are_ignored() -> None:
    assert listen.parse_ports(" 2525, 2525:3535 ,2525") == [(2525,), (2525, 3535), (2525,)]


@pytest.mark.parametrize("port", ["0", "65535"])
def test_port_edges_are_accepted(port: str) -> None:
    assert listen.parse_ports(port) == [(int(port),)]


@pytest.mark.parametrize("ports", ["65536", "-1", "", "2525,", "25x", "2525::3535", "²"])
def test_bad_ports_are_refused(ports: str) -> None:
    with pytest.raises(ValueError, match="bad port"):
        listen.parse_ports(ports)


def test_a_port_twice_in_one_group_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        listen.parse_ports("2525:2525")


def test_port_zero_twice_in_one_group_binds_two_free_ports() -> None:
    assert listen.parse_ports("0:0") == [(0, 0)]


def test_hosts_are_split_and_brackets_dropped() -> None:
    assert listen.parse_hosts("127.0.0.1, ::1 ,[::1], mx.example") == [
        "127.0.0.1",
        "::1",
        "::1",
        "mx.example",
    ]


@pytest.mark.parametrize("hosts", ["", "127.0.0.1,", "a b", " , ::1", "[]"])
def test_bad_hosts_are_refused(hosts: str) -> None:
    with pytest.raises(ValueError, match="bad host"):
        listen.parse_hosts(hosts)


def test_one_port_serves_every_host() -> None:
    assert listen.pair("2525", "127.0.0.1, ::1, 192.168.0.1") == [
        ("127.0.0.1", (2525,)),
        ("::1", (2525,)),
        ("192.168.0.1", (2525,)),
    ]


def test_colon_group_serves_both_ports_on_every_host() -> None:
    assert listen.pair("2525:3535", "127.0.0.1, ::1") == [
        ("127.0.0.1", (2525, 3535)),
        ("::1", (2525, 3535)),
    ]


def test_groups_pair_with_hosts_in_order_and_the_last_repeats() -> None:
    assert listen.pair("2525, 3535", "127.0.0.1, ::1, 192.168.0.1") == [
        ("127.0.0.1", (2525,)),
        ("::1", (3535,)),
        ("192.168.0.1", (3535,)),
    ]


def test_seed_mixed_example() -> None:
    assert listen.pair("2525, 2525:3535, 2525", "127.0.0.1, ::1, 192.168.0.1") == [
        ("127.0.0.1", (2525,)),
        ("::1", (2525, 3535)),
        ("192.168.0.1", (2525,)),
    ]


def test_more_port_groups_than_hosts_is_refused() -> None:
    with pytest.raises(ValueError, match="2 port groups for 1 hosts"):
        listen.pair("2525, 3535", "127.0.0.1")


def test_plan_keeps_order_and_marks_implicit_tls() -> None:
    assert listen.plan("2525", "127.0.0.1, ::1", "4650") == [
        Listener("127.0.0.1", 2525, False, "127.0.0.1"),
        Listener("::1", 2525, False, "::1"),
        Listener("127.0.0.1", 4650, True, "127.0.0.1"),
        Listener("::1", 4650, True, "::1"),
    ]


def test_same_address_and_port_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:2525 is given twice"):
        listen.plan("2525", "127.0.0.1, 127.0.0.1")


def test_a_name_resolving_to_a_listed_address_is_a_duplicate() -> None:
    with pytest.raises(ValueError, match="given twice"):
        listen.plan("2525", "127.0.0.1, localhost")


def test_implicit_tls_port_equal_to_a_plain_one_is_a_duplicate() -> None:
    with pytest.raises(ValueError, match=r"\[::1\]:2525 is given twice"):
        listen.plan("2525", "::1", "2525")


def test_same_port_on_two_addresses_is_fine() -> None:
    assert [(i.host, i.port) for i in listen.plan("2525", "127.0.0.1, ::1")] == [
        ("127.0.0.1", 2525),
        ("::1", 2525),
    ]


def test_port_zero_never_clashes() -> None:
    assert len(listen.plan("0", "127.0.0.1, 127.0.0.1")) == 2


def test_names_resolve_to_addresses() -> None:
    addresses = listen.resolve("localhost")
    assert "127.0.0.1" in addresses
    assert len(addresses) == len(set(addresses))


def test_an_unknown_name_is_an_os_error() -> None:
    with pytest.raises(OSError, match=r"cannot resolve host 'no-such-host\.invalid'"):
        listen.resolve("no-such-host.invalid")


def test_wildcard_serves_every_local_address_loopbacks_first() -> None:
    addresses = listen.resolve("*")
    assert addresses[0] == "127.0.0.1"
    assert "::1" in addresses
    assert len(addresses) == len(set(addresses))
    for address in addresses:  # every one is a literal getaddrinfo takes as is
        socket.getaddrinfo(address, 0, flags=socket.AI_NUMERICHOST)


def test_every_wildcard_address_binds() -> None:
    for listener in listen.plan("0", "*"):
        with listen.bind(listener) as sock:
            assert listen.bound(listener, sock).port > 0


def test_bind_gives_a_free_port_for_zero() -> None:
    listener = Listener("::1", 0, name="::1")
    with listen.bind(listener) as sock:
        real = listen.bound(listener, sock)
        assert real.port == sock.getsockname()[1] != 0
        assert real == Listener("::1", real.port, False, "::1")
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1


def test_bind_a_taken_port_raises_naming_the_listener() -> None:
    with listen.bind(Listener("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen.bind(Listener("127.0.0.1", port))


def test_listener_shows_ipv6_in_brackets() -> None:
    assert str(Listener("::1", 25)) == "[::1]:25"
    assert str(Listener("127.0.0.1", 465, tls=True)) == "127.0.0.1:465 (tls)"
