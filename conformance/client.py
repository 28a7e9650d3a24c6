"""A raw-bytes SMTP client with its own reply parser, for the conformance checks.

It sends exactly the bytes a check gives it and never imports the project's protocol code,
so a bug in the server's parser cannot hide behind the same bug here.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass, field

from conformance.verdict import CheckFailed

# RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39
_CODE = re.compile(rb"[2-5][0-5][0-9]")
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")
_READ_SIZE = 65536


class MalformedReply(CheckFailed):
    """The server sent bytes that are not a well-formed reply (RFC 5321 4.2)."""


class NoReply(CheckFailed):
    """No complete reply arrived within the time-out."""


class ConnectionClosed(CheckFailed):
    """The server closed the connection where a reply was expected."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One parsed reply: its code, the text of each line and the raw bytes."""

    code: int
    lines: tuple[str, ...]
    raw: bytes

    @property
    def enhanced(self) -> tuple[int, int, int] | None:
        """The RFC 3463 enhanced code opening the first line, if any."""
        return enhanced_code(self.lines[0])

    def __str__(self) -> str:
        return self.raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r\n", " | ")


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The enhanced status code (class.subject.detail) at the start of `text`, or None."""
    match = _ENHANCED.match(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def _parse_line(line: bytes) -> tuple[bytes, bool, str]:
    """Split one CRLF-stripped reply line into (code, is_last, text)."""
    if len(line) < 3 or not _CODE.fullmatch(line[:3]):
        raise MalformedReply(f"reply line does not open with a valid 3-digit code: {line!r}")
    sep = line[3:4]
    if sep not in (b"", b" ", b"-"):
        raise MalformedReply(f"reply code not followed by space or hyphen: {line!r}")
    text = line[4:]
    if any((b < 32 and b != 9) or b == 127 for b in text):
        raise MalformedReply(f"control character in reply text: {line!r}")
    return line[:3], sep != b"-", text.decode("utf-8", "replace")


def parse_reply(buffer: bytes) -> tuple[Reply | None, bytes]:
    """Take one complete reply off the front of `buffer`.

    Returns (reply, rest), or (None, buffer) while the reply is incomplete. Raises
    `MalformedReply` for a line not ended by CRLF, a bad code, or codes that differ
    between the lines of one multi-line reply (RFC 5321 4.2.1).
    """
    pos = 0
    code: bytes | None = None
    lines: list[str] = []
    while True:
        end = buffer.find(b"\n", pos)
        if end < 0:
            return None, buffer
        if end == pos or buffer[end - 1 : end] != b"\r":
            raise MalformedReply(f"reply line not ended by CRLF: {buffer[pos : end + 1]!r}")
        line_code, last, text = _parse_line(buffer[pos : end - 1])
        if code is not None and line_code != code:
            raise MalformedReply(f"multi-line reply changes its code: {buffer[: end + 1]!r}")
        code = line_code
        lines.append(text)
        pos = end + 1
        if last:
            return Reply(int(code), tuple(lines), buffer[:pos]), buffer[pos:]


@dataclass
class Transcript:
    """What was sent and received, in order, over every connection of one check."""

    entries: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, who: str, data: bytes) -> None:
        """Record `data`; `who` is "C" (client), "S" (server) or "*" (an event), then the
        connection number from the second connection of a check on."""
        self.entries.append((who, data))

    def render(self, limit: int = 160) -> list[str]:
        """Readable lines, long payloads shortened to `limit` characters."""
        out = []
        for who, data in self.entries:
            text = repr(data)[2:-1]
            if len(text) > limit:
                text = f"{text[:limit]}... ({len(data)} bytes)"
            out.append(f"{who}: {text}")
        return out


class Client:
    """One SMTP connection: exact bytes out, parsed replies in, everything recorded."""

    def __init__(
        self, sock: socket.socket, transcript: Transcript, timeout: float, label: str = ""
    ) -> None:
        self.sock: socket.socket = sock
        self.transcript = transcript
        self.label = label  # tells connections apart in a shared transcript: "C2:", "S2:"
        self.timeout = timeout
        self.buffer = b""
        self.eof = False
        sock.settimeout(timeout)

    def _log(self, who: str, data: bytes) -> None:
        self.transcript.add(who + self.label, data)

    def send(self, data: bytes) -> None:
        """Send `data` as it is; a send the server refuses fails the check."""
        self._log("C", data)
        try:
            self.sock.sendall(data)
        except OSError as err:
            self._log("*", f"send failed: {err}".encode())
            raise ConnectionClosed(f"send failed: {err}") from err

    def _fill(self, deadline: float) -> bool:
        """Read more bytes before `deadline`; False on time-out. Sets `eof` on close."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(_READ_SIZE)
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except OSError as err:
            self._log("*", f"read failed: {err}".encode())
            data = b""
        if not data:
            self.eof = True
            self._log("*", b"connection closed by server")
            return False
        self._log("S", data)
        self.buffer += data
        return True

    def poll(self, timeout: float | None = None) -> Reply | None:
        """The next reply, or None if none arrives in time; raises on close or bad syntax."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            reply, self.buffer = parse_reply(self.buffer)
            if reply is not None:
                return reply
            if self.eof:
                raise ConnectionClosed("connection closed while waiting for a reply")
            if not self._fill(deadline) and not self.eof:
                return None

    def reply(self, timeout: float | None = None) -> Reply:
        """The next reply; fails the check on time-out, close or malformed reply."""
        reply = self.poll(timeout)
        if reply is None:
            raise NoReply(f"no reply within {self.timeout if timeout is None else timeout}s")
        return reply

    def command(self, line: str | bytes) -> Reply:
        """Send one command line (CRLF added) and return its reply."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.reply()

    def replies(self, count: int) -> list[Reply]:
        """The next `count` replies."""
        return [self.reply() for _ in range(count)]

    def wait_closed(self, timeout: float | None = None) -> list[Reply]:
        """Read until the server closes; return the replies seen. Fails if it stays open."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        seen: list[Reply] = []
        while not self.eof:
            reply, self.buffer = parse_reply(self.buffer)
            if reply is not None:
                seen.append(reply)
            elif not self._fill(deadline) and not self.eof:
                raise NoReply(f"connection still open after {wait}s")
        reply, self.buffer = parse_reply(self.buffer)
        return [*seen, reply] if reply is not None else seen

    def receive(self, timeout: float | None = None) -> bytes | None:
        """The bytes the server sends next, as they come (none parsed as a reply): what is
        buffered first, b"" once the server closed, None if nothing arrives in time."""
        if not self.buffer and not self.eof:
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            self._fill(deadline)
        data, self.buffer = self.buffer, b""
        if data or self.eof:
            return data
        return None

    def starttls(
        self, server_name: str | None = None, context: ssl.SSLContext | None = None
    ) -> None:
        """Run the TLS handshake on this connection with `context`, by default one that
        verifies no certificate (`client_tls_context`)."""
        if self.buffer:
            raise CheckFailed(f"server sent bytes after 220, before TLS: {self.buffer!r}")
        self._log("*", b"TLS handshake")
        self.sock.settimeout(self.timeout)
        ctx = client_tls_context() if context is None else context
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
        except (OSError, ssl.SSLError) as err:
            self._log("*", f"TLS handshake failed: {err}".encode())
            raise CheckFailed(f"TLS handshake failed: {err}") from err

    def close(self) -> None:
        """Close the socket without a QUIT."""
        self.sock.close()


def client_tls_context() -> ssl.SSLContext:
    """A TLS context that accepts any certificate: the suite grades self-signed servers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a grading tool, not a mail client
    return ctx
