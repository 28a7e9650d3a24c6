"""One connection of the anyio transport: the session's steps over an anyio byte stream
(a `LeanStream` as accepted, anyio's TLS stream after STARTTLS).

Mirrors the threaded engine's loop step for step (`smtp_proto.session.Session` says what to do);
only the waiting is anyio's. Knows nothing of listeners' sockets or of stopping a server
beyond what `Host` tells it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import socket
import ssl
import time
from typing import Any, Final, Protocol

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from smtp_proto.session import Finish, Receive, RunHook, Session, StartTls, Step
from transports.aio_stream import ProtocolStream
from transports.deadlines import Stopping, Watched
from transports.lean import LeanStream
from transports.listen import Listener, fixed_local_address
from transports.options import READ_SIZE, ServerOptions

# What a reset, closed or garbled client connection raises on an anyio stream.
IO_ERRORS: Final = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,
    ssl.SSLError,
)


class Host(Protocol):
    """What a session needs from its server."""

    options: ServerOptions

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context for STARTTLS and implicit TLS, None without TLS."""

    @property
    def stop_state(self) -> Stopping:
        """The server's stop, as its sessions see it."""

    async def run_hook(self, steps: Session, step: RunHook) -> None:
        """Run the step's hook to its end (even when the session is cancelled meanwhile),
        holding a processing slot when it needs one, and hand its outcome to `steps`."""


class Connection(Watched):
    """One accepted connection: its stream (replaced by STARTTLS) and listener.

    Reads and sends carry no time-out of their own: the server's watchdog ends a wait
    that is over by shutting the socket (see `transports.deadlines`).
    """

    def __init__(self, stream: LeanStream, listener: Listener, host: Host) -> None:
        super().__init__(host.stop_state)
        self.stream: ByteStream = stream
        self.accepted = stream  # under any TLS layer STARTTLS puts on it later
        # asyncio's stream, whose reads are ended in the loop (see `shutdown`).
        self._in_loop = stream if isinstance(stream, ProtocolStream) else None
        self.raw: Any = stream.raw
        self.listener = listener
        self.host = host
        self.broken = False  # a send failed: nothing more is written, reads see EOF
        opts = host.options
        self._io_limit = max(opts.io_cmd_timeout, opts.io_data_timeout)

    def addresses(self) -> tuple[Any, Any]:
        """(local, remote) socket addresses of the connection."""
        return self.accepted.addresses(fixed_local_address(self.listener))

    def shutdown(self, how: int) -> None:
        """Shut the plain socket under the stream; on asyncio, end the reads (or the
        connection) in the loop instead: uvloop's sockets cannot be shut from outside."""
        lean = self._in_loop
        if lean is None:
            self.raw.shutdown(how)
        elif how == socket.SHUT_RD:
            lean.interrupt()
        else:
            lean.abort()

    async def drive(self, steps: Session) -> None:
        """Run the session's steps until it is over (the caller closes the stream)."""
        step: Step | None = None
        while True:
            if step is None:
                step = steps.next_step()
            if isinstance(step, RunHook):
                await self.host.run_hook(steps, step)
                step = None
                continue
            await self.send(step.out)
            if isinstance(step, Finish):
                return
            if isinstance(step, StartTls):
                failure = await self.handshake()
                if failure is None:
                    steps.tls_established()
                else:
                    self.broken = True
                    steps.tls_failed(failure)
                step = None
                continue
            assert isinstance(step, Receive)  # noqa: S101 (the last kind of step)
            step = await self._wait(steps)

    async def _wait(self, steps: Session) -> Step | None:
        """Wait for bytes and feed them; a step the wait already reached, or None."""
        stream = self.stream
        if isinstance(stream, ProtocolStream) and not (
            self.broken or stream.buffered or stream.ended
        ):
            return await self._wait_in_callbacks(steps, stream)
        await self._receive(steps)
        return None

    async def _wait_in_callbacks(self, steps: Session, stream: ProtocolStream) -> Step | None:
        """asyncio: the loop's read callbacks run the session's steps as the bytes come, as
        long as those steps only answer and wait again (a lock-step client's commands, with
        the default hooks); any other step comes back here for the task. Saves waking the
        task for every command."""
        if stream.blocked:  # what a callback wrote is still queued: a send, watched as one
            self.send_by = time.monotonic() + self._io_limit
            try:
                await stream.drain()
            finally:
                self.send_by = math.inf
        self.reading = True  # parked: a sweep may end the wait (then b"" comes in)
        try:
            if self.wait_ended(steps):
                return None
            handover: list[Step] = []
            on_read = functools.partial(self._steps_in_callback, steps, stream, handover)
            await stream.consume(on_read)
        finally:
            self.reading = False
        if handover:
            return handover[0]
        self.reading = True
        try:
            self.wait_ended(steps)  # shut by the watchdog: queue the 421
        finally:
            self.reading = False
        return None

    def _steps_in_callback(
        self, steps: Session, stream: ProtocolStream, handover: list[Step], data: bytes
    ) -> bool:
        """Feed a read and run the session's steps up to the next wait for bytes; True (no
        more reads here) with any other step in `handover`. b"" is the end of the input."""
        if not data and self.woken:
            return True  # not the client's end: the task says 421
        steps.feed(data)
        step = steps.next_step()
        if not isinstance(step, Receive) or self.stopping.at is not None:
            handover.append(step)  # its bytes are not sent yet: the task sends them
            return True
        if step.out and not stream.write(step.out):
            handover.append(Receive(b""))  # sent, but the buffer is full: drain first
            return True
        return False

    async def _receive(self, steps: Session) -> None:
        """Wait for bytes and feed them, or time the session out, or shut it down."""
        if self.broken:
            steps.feed(b"")
            return
        while True:
            self.reading = True  # first: a sweep from now on sees the wait and may end it
            try:
                if self.wait_ended(steps):
                    return
                data = await self.stream.receive(READ_SIZE)
            except IO_ERRORS:  # a reset, a TLS error, the client closed, or shut by the watchdog
                data = b""
            finally:
                self.reading = False
            if data or not self.woken:
                steps.feed(data)
                return

    async def send(self, data: bytes) -> None:
        """Send `data`; a failure or a stalled client marks the session broken."""
        if not data or self.broken:
            return
        self.send_by = time.monotonic() + self._io_limit
        try:
            await self.stream.send(data)
        except IO_ERRORS:
            self.broken = True
        finally:
            self.send_by = math.inf

    async def handshake(self) -> str | None:
        """Run the server side of the TLS handshake; what went wrong, or None."""
        context = self.host.ssl_context
        if context is None or self.broken:
            return "no TLS context" if context is None else "connection broken"
        try:
            with anyio.fail_after(self.host.options.tls_handshake_timeout):
                # Not standard_compatible: SMTP ends with QUIT, no TLS close_notify is awaited.
                self.stream = await TLSStream.wrap(
                    self.stream, server_side=True, ssl_context=context, standard_compatible=False
                )
        except TimeoutError:
            return "time-out"
        except IO_ERRORS as err:
            return str(err.__cause__ or err) or type(err).__name__
        return None


async def close(stream: ByteStream) -> None:
    """Close `stream`, also inside a cancelled scope; errors mean it is closed already."""
    if isinstance(stream, LeanStream):
        stream.close()  # nothing to wait for
        return
    with anyio.CancelScope(shield=True), contextlib.suppress(*IO_ERRORS):
        await stream.aclose()
