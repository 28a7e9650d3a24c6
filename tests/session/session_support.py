"""Shared pieces for the session tests: a peer, fixed clocks, and pumps that drive a
`Session` as a transport does, with bytes in and reply bytes out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from smtp_proto.config import ServerConfig
from smtp_proto.context import Peer
from smtp_proto.handler import Handler
from smtp_proto.session import Finish, RunHook, Session, StartTls

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


def make_session(
    handler: Handler,
    config: ServerConfig = CONFIG,
    *,
    encrypted: bool = False,
    nonce: str | None = None,
    session_id: str = "S1",
    clock: Callable[[], float] = lambda: 1000.0,
) -> Session:
    """A session as a transport opens it, on fixed clocks (`utc` ticks a second a reading)."""
    return Session(
        handler,
        config,
        peer=PEER,
        session_id=session_id,
        clock=clock,
        cmd_timeout=300.0,
        data_timeout=600.0,
        encrypted=encrypted,
        nonce=(lambda: nonce) if nonce is not None else None,
        utc=Clock(),
    )


def pump(session: Session, *chunks: bytes) -> bytes:
    """Feed `chunks` one at a time, run each hook in place; the reply bytes sent meanwhile.

    Returns when the input is used up (or the session ended); b"" as a chunk closes.
    """
    return asyncio.run(pump_async(session, *chunks, awaits=False))


async def pump_async(session: Session, *chunks: bytes, awaits: bool = True) -> bytes:
    """`pump` for handlers with `async def` hooks: awaits `run_async()` where needed."""
    out, feed = bytearray(), list(chunks)
    while True:
        step = session.next_step()
        if isinstance(step, RunHook):
            call = step.call
            if call.is_async and not awaits:
                raise AssertionError("pump() cannot run async def hooks: use pump_async()")
            session.hook_done(await call.run_async() if call.is_async else call.run())
            continue
        out += step.out
        if isinstance(step, Finish):
            return bytes(out)
        if isinstance(step, StartTls):
            session.tls_established()
        elif not feed:
            return bytes(out)
        else:
            session.feed(feed.pop(0))


def lines(data: bytes) -> list[bytes]:
    """Reply bytes split into CRLF-terminated lines (each keeps its CRLF)."""
    return data.splitlines(keepends=True)
