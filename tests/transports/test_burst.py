"""A burst of clients connecting at once: every one is greeted and its message stored.

Clients that the listen backlog cannot hold are dropped by the kernel or completed by
SYN cookie; an SMTP client then waits for a greeting that never comes.
"""

from __future__ import annotations

import contextlib
import selectors
import smtplib
import socket
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from tests.transports.transport_support import TIMEOUT, Recorder, ServerFactory, address_of

BURST = 500
GREETING = b"220 localhost ESMTP smtp-proto ready\r\n"


@pytest.fixture
def burst() -> Iterator[list[socket.socket]]:
    """A list to put client sockets in; each is closed after the test."""
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


def connect_at_once(address: tuple[str, int], socks: list[socket.socket]) -> None:
    """Start `BURST` connections without waiting for any, then wait for all of them."""
    with selectors.DefaultSelector() as selector:
        for _ in range(BURST):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(address)
            selector.register(sock, selectors.EVENT_WRITE)
        pending = len(socks)
        while pending:
            ready = selector.select(TIMEOUT)
            assert ready, f"{pending} connections never completed"
            for key, _ in ready:
                selector.unregister(key.fileobj)
                pending -= 1
    for sock in socks:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        sock.settimeout(TIMEOUT)


def codes(reader: BinaryIO, count: int) -> list[int]:
    """The codes of the next `count` replies (continuation lines skipped)."""
    found: list[int] = []
    while len(found) < count:
        line = reader.readline()
        assert line, "the server closed the connection"
        if line[3:4] != b"-":
            found.append(int(line[:3]))
    return found


def test_a_burst_of_clients_is_greeted_and_every_message_stored(
    server_factory: ServerFactory, burst: list[socket.socket]
) -> None:
    handler = Recorder()
    server = server_factory(handler)
    connect_at_once(address_of(server), burst)
    readers = [sock.makefile("rb") for sock in burst]
    for number, (sock, reader) in enumerate(zip(burst, readers, strict=True)):
        assert reader.readline() == GREETING  # a client left out would wait here
        sock.sendall(
            b"EHLO burst.example.test\r\nMAIL FROM:<a@example.org>\r\n"
            + b"RCPT TO:<b%d@example.test>\r\nDATA\r\n" % number
        )
        assert codes(reader, 4) == [250, 250, 250, 354]
    for sock in burst:  # the messages go while every client is still connected
        sock.sendall(b"Subject: burst\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    for reader in readers:
        assert codes(reader, 2) == [250, 221]
        reader.close()
    assert sorted(message.rcpt_to[0] for message in handler.messages) == sorted(
        f"b{number}@example.test" for number in range(BURST)
    )


def test_the_smallest_backlog_still_serves(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler, backlog=1)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        assert (
            client.sendmail("a@example.org", ["b@example.test"], "Subject: s\r\n\r\nhi\r\n") == {}
        )
    assert len(handler.messages) == 1
