"""A lean anyio byte stream over an asyncio protocol, for the asyncio backend.

anyio's own asyncio stream resumes and pauses the transport's reading around every
receive and yields on every send: two `epoll_ctl` calls and extra task switches for each
SMTP command. This one keeps the transport reading (paused only while more than
`_HIGH` octets wait unread) and lets sends go straight to the transport's buffer. It is
a `LeanStream` (an `anyio.abc.SocketStream`), so anyio's TLS stream wraps it for
STARTTLS like any other.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Final, cast

import anyio

from transports.lean import LeanStream
from transports.options import STOP_LINGER

Consumer = Callable[[bytes], bool]  # takes a read (b"": the end); True: no more now
_READ: Final = 65536  # octets per read
_HIGH: Final = 256 * 1024  # unread octets at which reading pauses
_LOW: Final = 64 * 1024  # ... and resumes


class _Protocol(asyncio.BufferedProtocol):
    """Collects what the transport reads and wakes the stream waiting for it.

    Reads go into a reused buffer: a plain protocol gets a fresh 256 KiB bytes object per
    read from asyncio, three memory-mapping system calls each. The buffer may be shared by
    every connection of one loop: asyncio fills it and calls `buffer_updated` at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer: bytearray) -> None:
        self.loop = loop
        self.buffer = buffer
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.error: Exception | None = None
        self.closed = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.interrupted = False  # reads end here from now on (see `interrupt`)
        # While set, each read goes to the consumer in this callback (see `consume`).
        self.consumer: Consumer | None = None
        self.consumed: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream socket's

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.consumer is not None:
            self._consume(bytes(memoryview(self.buffer)[:nbytes]))
            return
        self.chunks.append(bytes(memoryview(self.buffer)[:nbytes]))
        self.buffered += nbytes
        if self.buffered > _HIGH and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        if self.consumer is not None:
            self._consume(b"")
        return True  # the stream closes the transport; a reply may still be sent

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()
        self._drain_done()
        if self.consumer is not None:
            self._consume(b"")

    def _consume(self, data: bytes) -> None:
        consumer, done = self.consumer, self.consumed
        if consumer is None or done is None:
            return
        try:
            finished = consumer(data) or not data
        except BaseException as err:  # a bug: it belongs to the task waiting in consume()
            self.consumer = None
            if not done.done():
                done.set_exception(err)
            return
        if finished:
            self.consumer = None
            if not done.done():
                done.set_result(None)

    def pause_writing(self) -> None:
        if self.drained is None:
            self.drained = self.loop.create_future()

    def resume_writing(self) -> None:
        self._drain_done()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain_done(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


def new_buffer() -> bytearray:
    """A read buffer for the connections of one loop."""
    return bytearray(_READ)


class ProtocolStream(LeanStream):
    """An accepted connection on the asyncio backend; see the module docstring."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol, peer: Any) -> None:
        self._transport = transport
        self._protocol = protocol
        self.peer = peer  # the remote address, as accept() gave it

    @classmethod
    async def accept(cls, sock: socket.socket, buffer: bytearray, peer: Any) -> ProtocolStream:
        """Wrap a freshly accepted socket; the loop reads it from now on, into `buffer`
        (`new_buffer()`; one per loop, never shared across threads)."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_accepted_socket(
            lambda: _Protocol(loop, buffer), sock
        )
        return cls(transport, protocol, peer)

    @property
    def raw(self) -> Any:
        """The connection's socket (asyncio hands out a `TransportSocket` view of it)."""
        return self._transport.get_extra_info("socket")

    @property
    def _raw_socket(self) -> socket.socket:
        sock: socket.socket = self.raw
        return sock

    def addresses(self, local: Any = None) -> tuple[Any, Any]:
        """(local, remote) socket addresses: the remote one as accept() gave it, which a
        peer that reset at once cannot take away (uvloop then has no socket to ask)."""
        if local is None:
            try:
                local = self._transport.get_extra_info("sockname")
            except (OSError, ValueError):
                local = None
        return local, self.peer

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next bytes read (at most `max_bytes`); EndOfStream at the client's end."""
        p = self._protocol
        while not p.chunks:
            if p.closed or p.eof or p.interrupted:
                if p.error is not None:
                    raise anyio.BrokenResourceError from p.error
                raise anyio.EndOfStream
            p.waiter = p.loop.create_future()  # (get_running_loop() costs a getpid() here)
            try:
                await p.waiter
            finally:
                p.waiter = None
        chunk = p.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            p.chunks.appendleft(rest)
        p.buffered -= len(chunk)
        if p.paused and p.buffered <= _LOW:
            p.paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        """Queue `item` on the transport; wait only while its buffer is full."""
        p = self._protocol
        if p.closed or self._transport.is_closing():
            raise anyio.BrokenResourceError from p.error
        self._transport.write(item)
        while p.drained is not None:
            await p.drained
        if p.error is not None:  # the connection broke while the buffer drained
            raise anyio.BrokenResourceError from p.error

    @property
    def buffered(self) -> bool:
        """Whether bytes were read that no `receive` has taken yet."""
        return bool(self._protocol.chunks)

    @property
    def ended(self) -> bool:
        """Whether nothing more will be read: the client's end, the connection lost, or
        `interrupt()`."""
        p = self._protocol
        return p.eof or p.closed or p.interrupted

    def interrupt(self) -> None:
        """End the read waiting now, and every later one, as if the client had ended its
        side; nothing is closed, so a reply can still go out. (What shutting the socket's
        reading side does, for loops whose sockets cannot be shut: uvloop's.)"""
        p = self._protocol
        p.interrupted = True
        p._wake()
        if p.consumer is not None:
            p._consume(b"")

    def abort(self) -> None:
        """Close at once, dropping what is not sent yet: every wait on the stream ends."""
        self._transport.abort()

    async def consume(self, consumer: Consumer) -> None:
        """Hand each read to `consumer(data)` in the loop's own callback, without waking
        this task, until it returns True; b"" (the end, or a lost connection) is handed
        over last. Returns then, or raises what the consumer raised. Call it only when
        nothing is `buffered` and the stream has not `ended`."""
        p = self._protocol
        p.consumer = consumer
        p.consumed = done = p.loop.create_future()
        try:
            await done
        finally:
            p.consumer = p.consumed = None

    def write(self, data: bytes) -> bool:
        """Queue `data` without waiting; False when the buffer is full (`drain` first)."""
        self._transport.write(data)
        return self._protocol.drained is None

    @property
    def blocked(self) -> bool:
        """Whether the transport's buffer is above its high-water mark (`drain` waits)."""
        return self._protocol.drained is not None

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark again."""
        p = self._protocol
        while p.drained is not None:
            await p.drained

    async def send_eof(self) -> None:
        """Half-close: no more bytes will be sent."""
        if not self._transport.is_closing():
            self._transport.write_eof()

    def close(self) -> None:
        """Close once what was sent is flushed, or after `STOP_LINGER` seconds regardless."""
        transport = self._transport
        transport.close()
        if transport.get_write_buffer_size():  # a client that does not read holds it open
            self._protocol.loop.call_later(STOP_LINGER, transport.abort)
