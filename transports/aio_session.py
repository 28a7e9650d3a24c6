"""One connection of the anyio transport: the session's steps over an anyio byte stream.

Mirrors the threaded engine's loop step for step (`transports.pump` says what to do);
only the waiting is anyio's. Knows nothing of listeners' sockets or of stopping a server
beyond what `Host` tells it.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Final, Protocol

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSStream

from smtp_proto.handler import HookCall, Outcome
from transports.listen import Listener
from transports.options import ServerOptions
from transports.pump import READ_SIZE, Finish, Pump, Receive, RunHook, StartTls

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
    def stopping(self) -> bool:
        """Whether the server is stopping."""

    def grace_left(self) -> float:
        """Seconds left until the stop's grace deadline (only asked while stopping)."""

    async def run_hook(self, call: HookCall) -> Outcome:
        """Run a hook to the end, even when the session is cancelled meanwhile."""


class Session:
    """One accepted connection: its stream (replaced by STARTTLS) and listener.

    `wait` is the scope of the current wait for bytes: a stopping server cancels it, so the
    session looks at the stop at once.
    """

    def __init__(self, stream: ByteStream, listener: Listener, host: Host) -> None:
        self.stream = stream
        self.raw = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 (anyio, not Django)
        self.listener = listener
        self.host = host
        self.broken = False  # a send failed: nothing more is written, reads see EOF
        self.wait: anyio.CancelScope | None = None
        self.turn = anyio.Event()  # set when a processing slot is given, or at stop
        self.has_slot = False
        opts = host.options
        self._io_limit = max(opts.io_cmd_timeout, opts.io_data_timeout)

    async def drive(self, pump: Pump) -> None:
        """Run the session's steps until it is over (the caller closes the stream)."""
        while True:
            step = pump.next_step()
            if isinstance(step, RunHook):
                pump.hook_done(await self.host.run_hook(step.call))
                continue
            await self.send(step.out)
            if isinstance(step, Finish):
                return
            if isinstance(step, StartTls):
                failure = await self.handshake()
                if failure is None:
                    pump.tls_established()
                else:
                    self.broken = True
                    pump.tls_failed(failure)
                continue
            assert isinstance(step, Receive)  # noqa: S101 (the last kind of step)
            await self._receive(pump)

    async def _receive(self, pump: Pump) -> None:
        """Wait for bytes and feed them, or time the session out, or shut it down."""
        if self.broken:
            pump.feed(b"")
            return
        while True:
            left = pump.timeout()
            if left <= 0:
                pump.timed_out()
                return
            if self.host.stopping:
                grace_left = self.host.grace_left()
                if pump.idle or grace_left <= 0:
                    pump.shut_down()
                    return
                left = min(left, grace_left)
            with anyio.move_on_after(left) as self.wait:
                try:
                    data = await self.stream.receive(READ_SIZE)
                except IO_ERRORS:  # reset, TLS error, or the client closed
                    data = b""
                pump.feed(data)
                return

    async def send(self, data: bytes) -> None:
        """Send `data`; a failure or a stalled client marks the session broken."""
        if not data or self.broken:
            return
        with anyio.move_on_after(self._io_limit) as scope:
            try:
                await self.stream.send(data)
            except IO_ERRORS:
                self.broken = True
        if scope.cancelled_caught:
            self.broken = True

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
    with anyio.CancelScope(shield=True), contextlib.suppress(*IO_ERRORS):
        await stream.aclose()
