"""Shared pieces for the transport tests: engines, a recording handler and a raw client."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
import pytest

from smtp_proto.context import Context
from smtp_proto.handler import Handler
from transports import aio
from transports.base import ServerBase
from transports.engines import server_class

TIMEOUT = 10.0  # a client that waits longer than this has found a hang


UVLOOP = importlib.util.find_spec("uvloop") is not None


class StdlibAsyncioServer(aio.Server):
    """The asyncio engine on the standard library's loop, uvloop installed or not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, uvloop=False, **kwargs)


class UvloopServer(aio.Server):
    """The asyncio engine on uvloop (the tests of it are skipped without uvloop)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, uvloop=True, **kwargs)


def engine_class(engine: str) -> type[ServerBase]:
    """The `Server` class of an engine by its `--transport` name; "asyncio" runs on the
    standard library's loop and "uvloop" on uvloop (the asyncio engine picks uvloop by
    itself when installed)."""
    if engine == "asyncio":
        return StdlibAsyncioServer
    if engine == "uvloop":
        if not UVLOOP:
            pytest.skip("uvloop is not installed")
        return UvloopServer
    return server_class(engine)


class ServerFactory(Protocol):
    """Builds and starts a server of the engine under test; the fixture stops it."""

    def __call__(self, handler: Handler, **options: Any) -> ServerBase: ...


@dataclass
class Message:
    """What the handler saw of one accepted message."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes
    encrypted: bool
    authentication_id: str
    encoding_utf8: str
    local_port: int


@dataclass
class Recorder(Handler):
    """Accepts everything and records each message before its 250 goes out."""

    messages: list[Message] = field(default_factory=list)
    disconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message_data_event(self, ctx: Context) -> None:
        message = Message(
            mail_from=ctx.envelope.mail_from,
            rcpt_to=list(ctx.envelope.rcpt_to),
            data=bytes(ctx.message.data),
            encrypted=ctx.server.encrypted is not None,
            authentication_id=ctx.server.authentication_id,
            encoding_utf8=ctx.envelope.encoding_utf8,
            local_port=ctx.server.local_port,
        )
        with self.lock:
            self.messages.append(message)

    def on_disconnect_event(self, ctx: Context) -> None:
        with self.lock:
            self.disconnects += 1


def wait_in_hook(event: threading.Event, timeout: float) -> bool:
    """Wait for `event` in a hook; in a gevent greenlet, without blocking the whole hub.

    gevent runs hooks in greenlets of one hub thread and patches nothing, so a hook blocked
    on a threading primitive would stall every session of that server.
    """
    if gevent.getcurrent().parent is None:  # a thread's own stack: plain blocking
        return event.wait(timeout)
    deadline = time.monotonic() + timeout
    while not event.is_set():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(0.005)
    return True


class Gate:
    """Blocks a hook until released; `entered` counts the threads that reached it."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.entered = threading.Semaphore(0)

    def wait(self) -> None:
        self.entered.release()
        if not wait_in_hook(self.released, TIMEOUT):
            raise TimeoutError("the gate was never released")

    def reached(self, timeout: float = TIMEOUT) -> bool:
        return self.entered.acquire(timeout=timeout)


def free_port() -> int:
    """A loopback port free now (for a process that must be told its port in advance)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RawClient:
    """A byte-level client: send lines, read whole replies (code, lines), see the close."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        tls: ssl.SSLContext | None = None,
        receive_buffer: int | None = None,
    ) -> None:
        if receive_buffer is None:
            self.sock: socket.socket = socket.create_connection(address, timeout=TIMEOUT)
        else:  # set before connecting, so the window the server sees is this small
            self.sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.sock.settimeout(TIMEOUT)
            self.sock.connect(address)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=address[0])
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """One line with its CRLF; b"" when the server closed."""
        while b"\n" not in self._buffer:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:  # closed with our bytes unread: a close all the same
                chunk = b""
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def reply(self) -> bytes:
        """One whole reply, continuation lines included; b"" when the server closed."""
        out = b""
        while True:
            line = self.line()
            out += line
            if len(line) < 4 or line[3:4] != b"-":
                return out

    def code(self) -> int:
        """The code of the next reply (0 when the server closed)."""
        reply = self.reply()
        return int(reply[:3]) if reply else 0

    def command(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        """Whether the server closed the connection with nothing more to read."""
        return self.reply() == b""

    def starttls(self, context: ssl.SSLContext, hostname: str) -> None:
        self.sock = context.wrap_socket(self.sock, server_hostname=hostname)


def start_in_thread(target: Callable[[], object]) -> threading.Thread:
    """Run `target` in a started thread (the caller joins it)."""
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def address_of(
    server: ServerBase, *, tls: bool = False, family: int | None = None
) -> tuple[str, int]:
    """The first bound (host, port) of the wanted kind."""
    for listener in server.listeners:
        if listener.tls == tls and (family is None or listener.family == family):
            return listener.host, listener.port
    raise LookupError("no such listener")
