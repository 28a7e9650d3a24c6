"""A lean anyio byte stream over a plain socket, for the trio backend.

anyio's trio stream goes through trio's socket wrapper: a resource guard, a cancellation
check and a scheduler pass around every receive and send, even when the bytes are already
there or the reply fits the socket's buffer. This one calls the non-blocking socket first
and parks the task only when the call would block. It is an `anyio.abc.SocketStream`, so
anyio's TLS stream wraps it for STARTTLS like any other.
"""

from __future__ import annotations

import socket
from typing import Any, Final, NoReturn

import anyio
import trio

from transports.lean import LeanStream

# Calls in a row that did not wait before one yields anyway, so that a client whose
# bytes are always there cannot keep the other tasks from running (trio's own streams
# yield on every call).
_FAIR: Final = 16


class TrioStream(LeanStream):
    """An accepted TCP connection on the trio backend; see the module docstring."""

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        sock.setblocking(False)
        self._sock = sock
        self.peer = peer  # the remote address, as accept() gave it
        self._closed = False
        self._unparked = 0  # calls since the task last yielded
        self._sent = False  # a send came last: the peer may not have answered yet
        # A read right after a send found nothing: from then on such reads wait for the
        # socket first (a lock-step client; measured under smtp-source, every one did).
        self._wait_first = False

    @property
    def raw(self) -> socket.socket:
        """The connection's socket."""
        return self._sock

    def addresses(self, local: Any = None) -> tuple[Any, Any]:
        """(local, remote) socket addresses."""
        return (self._sock.getsockname() if local is None else local), self.peer

    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next bytes read (at most `max_bytes`); EndOfStream at the client's end."""
        sock = self._sock
        after_send, self._sent = self._sent, False
        if after_send and self._wait_first:
            self._unparked = 0
            await trio.lowlevel.wait_readable(sock)  # returns at once if bytes are there
        while True:
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                self._wait_first |= after_send
                self._unparked = 0
                await trio.lowlevel.wait_readable(sock)
                continue
            except OSError as err:
                self._fail(err)
            break
        await self._fair()
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        """Send all of `item`, waiting only while the socket's buffer is full."""
        sock = self._sock
        view = memoryview(item)
        while True:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                self._unparked = 0
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as err:
                self._fail(err)
            if sent == len(view):
                break
            view = view[sent:]
        self._sent = True
        await self._fair()

    async def _fair(self) -> None:
        self._unparked += 1
        if self._unparked >= _FAIR:
            self._unparked = 0
            await trio.lowlevel.checkpoint()

    def _fail(self, err: OSError) -> NoReturn:
        if self._closed:
            raise anyio.ClosedResourceError from err
        raise anyio.BrokenResourceError from err

    async def send_eof(self) -> None:
        """Half-close: no more bytes will be sent."""
        self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the socket (nothing to flush: a send returns once the kernel has it all)."""
        if self._closed:
            return
        self._closed = True
        trio.lowlevel.notify_closing(self._sock)  # a task parked on it wakes with an error
        self._sock.close()


def accepted(sock: socket.socket, peer: Any) -> TrioStream:
    """A stream over a freshly accepted TCP socket, with Nagle off as anyio's are."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return TrioStream(sock, peer)
