"""Shared pieces for the flood and fault tests: a flood sent from a thread, a bystander
session, the Python memory a stretch of code takes, and waiting for sessions to end."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from smtp_proto import replies
from tests.transports.transport_support import TIMEOUT, RawClient, Recorder, start_in_thread
from transports.base import ServerBase

BYE = b"221 2.0.0 Bye\r\n"
ACCEPTED = b"250 2.6.0 Message accepted\r\n"
BLOCK = 1024 * 1024  # octets handed to one sendall


def wire(reply: replies.Reply) -> bytes:
    """A named reply as the server sends it (with its enhanced code)."""
    return reply.to_bytes(enhanced=True)


@dataclass
class Flood:
    """One flooding client's traffic: `head`, then `unit` repeated, then `end`.

    The repeated part is sent in three stretches: `before` octets, then `during` octets
    while a bystander session runs beside it, then (once that session is over) the rest
    up to `total`. Sizes are whole numbers of units, so lines are never cut.
    """

    head: bytes
    unit: bytes
    total: int
    end: bytes = b""
    before: int = 0
    during: int = 0
    replies: list[bytes] = field(default_factory=list)
    vanish: bool = False  # close without reading a reply once everything is sent
    sent: int = 0  # octets of the repeated part that went out before the server cut it
    cut: bool = False  # the server closed while we were sending

    def __post_init__(self) -> None:
        for size in (self.total, self.before, self.during):
            if size % len(self.unit):
                raise ValueError("flood sizes must be whole units")
        # Built once, before any memory is measured: the client's buffer is not the server's.
        self.block = memoryview(self.unit * max(1, BLOCK // len(self.unit)))


def _stream(client: RawClient, block: memoryview, octets: int) -> int:
    """Send `octets` of `block` repeated; returns what was sent (less when cut off)."""
    sent = 0
    while sent < octets:
        piece = block[: min(len(block), octets - sent)]
        client.sock.sendall(piece)
        sent += len(piece)
    return sent


def run_beside(address: tuple[str, int], flood: Flood, beside: Callable[[], None]) -> None:
    """Send `flood` from a thread and run `beside` while it is part-way; then every reply
    the flooding client got is in `flood.replies`, up to the server's close."""
    started, finished = threading.Event(), threading.Event()
    failure: list[BaseException] = []
    client = RawClient(address)

    def send() -> None:
        try:
            client.send(flood.head)
            rest = flood.total
            for octets, then in (
                (flood.before, started.set),
                (flood.during, lambda: finished.wait(TIMEOUT)),
            ):
                flood.sent += _stream(client, flood.block, octets)
                rest -= octets
                then()
            flood.sent += _stream(client, flood.block, rest)
            client.send(flood.end)
        except (ConnectionResetError, BrokenPipeError):
            flood.cut = True
        except BaseException as err:  # reported in the main thread
            failure.append(err)
        finally:
            started.set()
            with contextlib.suppress(OSError):
                while not flood.vanish and (reply := client.reply()):
                    flood.replies.append(reply)
            client.close()

    sender = start_in_thread(send)
    try:
        assert started.wait(TIMEOUT)
        beside()
    finally:
        finished.set()
        sender.join()
    if failure:
        raise failure[0]


def bystander(address: tuple[str, int], name: str = "bystander") -> None:
    """A whole plain session with one message from `<name>@example.test`; asserts each reply."""
    with RawClient(address) as client:
        assert client.code() == 220
        assert client.command(b"EHLO bystander.example.test").startswith(b"250-")
        assert client.command(f"MAIL FROM:<{name}@example.test>".encode()).startswith(b"250 ")
        assert client.command(b"RCPT TO:<b@example.test>").startswith(b"250 ")
        assert client.command(b"DATA").startswith(b"354 ")
        assert client.command(b"Subject: beside a flood\r\n\r\nserved\r\n.") == ACCEPTED
        assert client.command(b"QUIT") == BYE


def senders(handler: Recorder) -> list[str]:
    with handler.lock:
        return [message.mail_from for message in handler.messages]


@contextlib.contextmanager
def python_memory() -> Iterator[Callable[[], int]]:
    """Trace Python allocations in every thread; yields a function giving the peak so far
    (octets above what was allocated when the block started)."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def sessions_ended(server: ServerBase) -> None:
    """Wait until the server holds no connection."""
    wait_until(lambda: server.connections == 0, "every session ended")


def open_fds() -> int:
    """File descriptors this process has open now."""
    return len(os.listdir("/proc/self/fd"))
