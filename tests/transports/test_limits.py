"""Connection and processing limits, and the command and data time-outs on each engine.

One smoke test per time-out and engine; how the waits are counted (a partial command does
not restart the command time-out, message text waits by the data one) is shown on a clock
run by hand in `tests/session/test_steps.py`."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.transports.transport_support import (
    TIMEOUT,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
)

TOO_BUSY = b"421 4.3.2 Too many connections, try again later\r\n"
GREETING = b"220 localhost ESMTP smtp-proto ready\r\n"


@pytest.mark.parametrize("limit", [1, 3])
def test_max_connections_at_the_edge_and_one_past(
    server_factory: ServerFactory, clients: list[RawClient], limit: int
) -> None:
    server = server_factory(Recorder(), max_connections=limit)
    address = address_of(server)
    for _ in range(limit):
        clients.append(RawClient(address))
        assert clients[-1].reply() == GREETING
    extra = RawClient(address)
    clients.append(extra)
    assert extra.reply() == TOO_BUSY
    assert extra.closed()
    clients[0].command(b"QUIT")
    assert clients[0].closed()
    again = RawClient(address)  # a freed place is taken again
    clients.append(again)
    assert again.reply() == GREETING


def test_too_busy_on_an_implicit_tls_port_closes_without_plain_text(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Recorder(), tls_implicit_ports=0, max_connections=1)
    clients.append(RawClient(address_of(server)))
    assert clients[-1].reply() == GREETING
    extra = RawClient(address_of(server, tls=True))
    clients.append(extra)
    assert extra.closed()  # a TLS client would take a plain 421 for a broken handshake


def test_command_time_out_before_ehlo(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler, io_cmd_timeout=0.3)
    client = RawClient(address_of(server))
    clients.append(client)
    assert client.reply() == GREETING
    started = time.monotonic()
    # RFC 2034 4: the enhanced code is sent whether or not EHLO was used.
    assert client.reply() == b"421 4.4.2 Timeout, closing transmission channel\r\n"
    assert time.monotonic() - started >= 0.3
    assert client.closed()


def test_data_time_out_drops_the_message(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler, io_cmd_timeout=10.0, io_data_timeout=0.3)
    client = RawClient(address_of(server))
    clients.append(client)
    client.reply()
    client.command(b"EHLO client.example.test")
    client.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: slow\r\n\r\npart of it\r\n")
    started = time.monotonic()
    assert client.reply() == b"421 4.4.2 Timeout, closing transmission channel\r\n"
    assert 0.3 <= time.monotonic() - started < 5.0
    assert client.closed()
    server.stop()
    assert handler.messages == []
    assert handler.disconnects == 1


def test_a_client_vanishing_mid_data_ends_its_session(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    client.reply()
    client.command(b"EHLO client.example.test")
    client.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: cut\r\n\r\nhalf")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset, not a clean close
    server.stop()
    assert handler.messages == []
    assert handler.disconnects == 1


def _flood_until_cut(sock: socket.socket) -> float:
    """Send pipelined NOOPs without reading a reply; seconds until the server cut us off."""
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT:
        try:
            sock.sendall(b"NOOP\r\n" * 4096)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    raise AssertionError("the server never cut off a client that does not read")


def test_a_client_that_never_reads_its_replies_is_cut_off(
    server_factory: ServerFactory,
) -> None:
    handler = Recorder()
    server = server_factory(handler, io_cmd_timeout=0.3, io_data_timeout=0.3)
    with socket.create_connection(address_of(server), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # The replies fill both socket buffers: the server's send stalls, and must not
        # stall for longer than its time-out.
        assert _flood_until_cut(sock) < 5.0
    server.stop()
    assert handler.disconnects == 1
