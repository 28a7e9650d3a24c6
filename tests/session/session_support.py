"""Shared pieces for the session tests: a peer, a fixed clock, and pumps that drive a
`SessionDriver` over a real `ServerConnection` with bytes in and reply bytes out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from smtp_proto.config import ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.context import Peer
from smtp_proto.events import NEED_DATA, PAUSED, BeginTls, ConnectionClosed
from smtp_proto.handler import Handler
from smtp_proto.session import SessionDriver, config_for

PEER = Peer(
    local_ip="127.0.0.1",
    local_port=2525,
    local_host="mx.example.test",
    remote_ip="127.0.0.2",
    remote_port=40000,
    remote_host="client.example.test",
)
START = datetime(2018, 11, 1, 12, 0, tzinfo=UTC)
GREETING = b"220 mx.example.test ESMTP smtp-proto ready\r\n"
CONFIG = ServerConfig(hostname="mx.example.test")


class Clock:
    """A clock that advances one second per reading, starting at START."""

    def __init__(self) -> None:
        self._ticks: Iterator[int] = iter(range(1_000_000))

    def __call__(self) -> datetime:
        return START + timedelta(seconds=next(self._ticks))


def make_driver(
    handler: Handler,
    config: ServerConfig = CONFIG,
    *,
    encrypted: bool = False,
    nonce: str | None = None,
    session_id: str = "S1",
) -> SessionDriver:
    conn = ServerConnection(
        config_for(handler, config),
        encrypted=encrypted,
        nonce=(lambda: nonce) if nonce is not None else None,
    )
    return SessionDriver(handler, conn, peer=PEER, session_id=session_id, clock=Clock())


def pump(driver: SessionDriver, *chunks: bytes) -> bytes:
    """Feed `chunks` one at a time, run each hook in place; the reply bytes sent meanwhile.

    Returns when the input is used up (or the session closed); b"" as a chunk closes.
    """
    conn, out, feed = driver.conn, bytearray(), list(chunks)
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            out += conn.data_to_send()
            if not feed:
                return bytes(out)
            conn.receive_data(feed.pop(0))
        elif event is PAUSED:
            raise AssertionError("a decision was left unanswered")
        elif isinstance(event, BeginTls):
            out += conn.data_to_send()
            driver.tls_established()
        else:
            driver.handle(event)
            if isinstance(event, ConnectionClosed):
                return bytes(out + conn.data_to_send())


async def pump_async(driver: SessionDriver, *chunks: bytes) -> bytes:
    """`pump` for handlers with `async def` hooks: awaits `run_async()` where needed."""
    conn, out, feed = driver.conn, bytearray(), list(chunks)
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            out += conn.data_to_send()
            if not feed:
                return bytes(out)
            conn.receive_data(feed.pop(0))
        elif event is PAUSED:
            raise AssertionError("a decision was left unanswered")
        elif isinstance(event, BeginTls):
            out += conn.data_to_send()
            driver.tls_established()
        else:
            call = driver.call_for(event)
            outcome = None
            if call is not None:
                outcome = await call.run_async() if call.is_async else call.run()
            driver.apply(event, outcome)
            if isinstance(event, ConnectionClosed):
                return bytes(out + conn.data_to_send())


def lines(data: bytes) -> list[bytes]:
    """Reply bytes split into CRLF-terminated lines (each keeps its CRLF)."""
    return data.splitlines(keepends=True)
