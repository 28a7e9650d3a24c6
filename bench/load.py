"""Load for the transport benchmark: Postfix's `smtp-source` when it is on PATH, otherwise a
lean pipelined client of our own, plus idle connections for the memory scenario.

Both generators send the same message content (`Message.content`) over `HELO`, `MAIL`, `RCPT`,
`DATA`. Nothing here installs anything or starts a server.
"""

from __future__ import annotations

import contextlib
import enum
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

HELO_NAME: Final = "bench.test"
SENDER: Final = "a@example.test"
RECIPIENT: Final = "b@example.test"
_LINE: Final = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789-+"
_HEAD: Final = (
    f"From: <{SENDER}>\nTo: <{RECIPIENT}>\nSubject: transport bench\n"
    "Message-Id: <bench@bench.test>\n\n"
).encode()


@dataclass(frozen=True, slots=True)
class Message:
    """A message whose content, as the server receives it, is exactly `size` octets.

    `lines` is the file form smtp-source takes with `-F` (LF line ends; smtp-source sends
    each line with CRLF and then one empty line), `wire` what our client sends after 354.
    """

    size: int
    lines: bytes

    @classmethod
    def of_size(cls, size: int) -> Message:
        """Build one: a short header block, then 78-octet text lines, padded to `size`."""
        crlf_head = len(_HEAD) + _HEAD.count(b"\n")
        rest = size - 2 - crlf_head  # minus the empty line smtp-source appends
        if rest < 0:
            raise ValueError(f"a message needs at least {crlf_head + 2} octets")
        count, tail = divmod(rest, len(_LINE) + 2)
        lines = [_LINE] * count
        if tail >= 2:
            lines.append(_LINE[: tail - 2])
        elif tail == 1:  # one octet left: lengthen the last line instead
            lines[-1] = _LINE + b"!"
        body = b"".join(line + b"\n" for line in lines)
        return cls(size=size, lines=_HEAD + body)

    @property
    def content(self) -> bytes:
        """The octets the server receives between 354 and the final dot (CRLF lines)."""
        return self.lines.replace(b"\n", b"\r\n") + b"\r\n"

    @property
    def wire(self) -> bytes:
        """What follows the 354: the content and the end-of-data line (no dot-stuffing needed)."""
        return self.content + b".\r\n"


@dataclass(frozen=True, slots=True)
class Load:
    """One scenario's traffic: `messages` in all over `sessions` parallel connections."""

    sessions: int
    messages: int
    per_connection: bool  # True: many messages per connection; False: one each


def smtp_source() -> str | None:
    """The path of Postfix's `smtp-source` when installed (also looked for in /usr/sbin)."""
    return shutil.which("smtp-source") or shutil.which("smtp-source", path="/usr/sbin:/usr/bin")


class LoadError(RuntimeError):
    """The load generator failed or a server answered unexpectedly."""


def run_smtp_source(exe: str, port: int, load: Load, message: Message) -> float:
    """Send `load` with smtp-source to 127.0.0.1:`port`; returns the wall-clock seconds."""
    with tempfile.NamedTemporaryFile(prefix="bench-msg-", suffix=".eml") as file:
        file.write(message.lines)
        file.flush()
        argv = [exe, "-s", str(load.sessions), "-m", str(load.messages)]
        argv += ["-d"] if load.per_connection else []
        argv += ["-M", HELO_NAME, "-f", SENDER, "-t", RECIPIENT, "-F", file.name]
        argv += [f"127.0.0.1:{port}"]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise LoadError(f"smtp-source exited with {done.returncode}: {error}")
    return elapsed


# The lean client ------------------------------------------------------------------------------

_HELO: Final = f"HELO {HELO_NAME}\r\n".encode()
_TRANSACTION: Final = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RECIPIENT}>\r\nDATA\r\n".encode()
_QUIT: Final = b"QUIT\r\n"


class _Phase(enum.Enum):
    """What the replies a connection waits for answer."""

    GREETING = enum.auto()
    HELO = enum.auto()
    TRANSACTION = enum.auto()  # MAIL, RCPT and DATA, pipelined
    CONTENT = enum.auto()
    QUIT = enum.auto()


@dataclass(slots=True)
class _Conn:
    """One client connection: unread reply bytes, unsent bytes, the reply classes owed."""

    sock: socket.socket
    phase: _Phase = _Phase.GREETING
    inbox: bytearray = field(default_factory=bytearray)
    outbox: memoryview = field(default_factory=lambda: memoryview(b""))
    expect: deque[bytes] = field(default_factory=lambda: deque([b"2"]))
    writing: bool = False  # registered for EVENT_WRITE too


class LeanClient:
    """Sends `load` from one thread with non-blocking sockets, pipelining MAIL, RCPT, DATA.

    Parsing is minimal: a final reply line is one whose fourth octet is not a hyphen, and only
    its first digit is checked against what was expected. Each connection claims its first
    message when it opens, so no connection is opened without one to send.
    """

    def __init__(self, port: int, load: Load, message: Message) -> None:
        self.address = ("127.0.0.1", port)
        self.load = load
        self.wire = message.wire
        self.unclaimed = load.messages
        self.delivered = 0
        self.selector = selectors.DefaultSelector()

    def run(self) -> float:
        """Send every message; returns the wall-clock seconds."""
        start = time.perf_counter()
        try:
            for _ in range(min(self.load.sessions, self.load.messages)):
                self._connect()
            while self.selector.get_map():
                ready = self.selector.select(timeout=60)
                if not ready:
                    raise LoadError("no reply for 60 seconds")
                for key, mask in ready:
                    self._ready(key.data, mask)
        finally:
            for key in list(self.selector.get_map().values()):
                key.data.sock.close()
            self.selector.close()
        if self.delivered != self.load.messages:
            raise LoadError(f"{self.delivered} of {self.load.messages} messages delivered")
        return time.perf_counter() - start

    def _connect(self) -> None:
        self.unclaimed -= 1
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, _Conn(sock=sock))

    def _ready(self, conn: _Conn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ:
            data = conn.sock.recv(65536)
            if not data:
                raise LoadError("the server closed a connection early")
            conn.inbox += data
            self._replies(conn)

    def _replies(self, conn: _Conn) -> None:
        while (end := conn.inbox.find(b"\n")) >= 0:
            line = bytes(conn.inbox[: end + 1])
            del conn.inbox[: end + 1]
            if line[3:4] == b"-":
                continue
            if not conn.expect or line[:1] != conn.expect.popleft():
                raise LoadError(f"unexpected reply {line!r} in {conn.phase.name}")
        if not conn.expect:
            self._next(conn)

    def _next(self, conn: _Conn) -> None:
        """Every owed reply came: send what comes next, or close."""
        phase = conn.phase
        if phase is _Phase.GREETING:
            self._send(conn, _Phase.HELO, _HELO, b"2")
        elif phase is _Phase.HELO:
            self._send(conn, _Phase.TRANSACTION, _TRANSACTION, b"223")
        elif phase is _Phase.TRANSACTION:
            self._send(conn, _Phase.CONTENT, self.wire, b"2")
        elif phase is _Phase.CONTENT:
            self.delivered += 1
            if self.load.per_connection and self.unclaimed > 0:
                self.unclaimed -= 1
                self._send(conn, _Phase.TRANSACTION, _TRANSACTION, b"223")
            else:
                self._send(conn, _Phase.QUIT, _QUIT, b"2")
        else:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            if self.unclaimed > 0:
                self._connect()

    def _send(self, conn: _Conn, phase: _Phase, data: bytes, expect: bytes) -> None:
        conn.phase = phase
        conn.expect.extend(expect[i : i + 1] for i in range(len(expect)))
        conn.outbox = memoryview(data)
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        with contextlib.suppress(BlockingIOError):
            sent = conn.sock.send(conn.outbox)
            conn.outbox = conn.outbox[sent:]
        if bool(conn.outbox) != conn.writing:  # only touch the selector on a change
            conn.writing = not conn.writing
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.writing else 0)
            self.selector.modify(conn.sock, events, conn)


def run_lean(port: int, load: Load, message: Message) -> float:
    """Send `load` with `LeanClient`; returns the wall-clock seconds."""
    return LeanClient(port, load, message).run()


# Idle connections -----------------------------------------------------------------------------


def open_idle(
    port: int, count: int, batch: int = 100, timeout: float = 60.0
) -> list[socket.socket]:
    """Open `count` connections that each read the 220 greeting and then sit.

    Connects in batches below the listen backlog and reads each batch's greetings before the
    next. The caller closes the sockets.
    """
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            group = [
                socket.create_connection(("127.0.0.1", port), timeout=timeout)
                for _ in range(min(batch, count - len(socks)))
            ]
            socks += group
            for sock in group:
                greeting = _read_line(sock)
                if not greeting.startswith(b"220 "):
                    raise LoadError(f"expected a 220 greeting, got {greeting!r}")
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
