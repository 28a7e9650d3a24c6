"""A small threaded SMTP server with switchable faults, to prove the conformance checks fail.

With no fault it is correct enough to pass the smuggling and STARTTLS groups; each fault
reproduces one classic bug.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar

# The smuggling bug: a bare LF (with or without CR) around the dot ends the data.
_LOOSE_END = re.compile(rb"\r?\n\.\r?\n")
_STRICT_END = b"\r\n.\r\n"


@dataclass(frozen=True)
class Faults:
    """Which bugs the server has."""

    yes_to_everything: bool = False  # 250 to every command but DATA
    bare_lf_ends_data: bool = False  # "\n.\n", "\r\n.\n", "\n.\r\n" end the message
    keeps_plaintext_after_starttls: bool = False  # CVE-2011-0411
    keeps_dot_stuffing: bool = False  # stores "..x" lines as sent
    dies_on_nul: bool = False  # a NUL in a command stops the whole server
    idle_timeout: float | None = None  # seconds of silence before 421 and close
    lax_xclient: bool = False  # offers XCLIENT and answers every one with 250


class Session:
    """One client connection; subclasses (in other fixture modules) add commands and faults
    by overriding `command`, and EHLO keywords with `keywords`."""

    keywords: ClassVar[tuple[str, ...]] = ()

    def __init__(self, sock: socket.socket, server: BrokenServer) -> None:
        self.sock: socket.socket = sock
        self.server = server
        self.faults = server.faults
        self.buffer = b""
        self.greeted = False
        self.tls = False
        self.mail = False
        self.rcpts = 0

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def read_line(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def read_exact(self, size: int) -> bytes:
        """The next `size` octets (a BDAT chunk), buffered ones first."""
        while len(self.buffer) < size:
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("closed in a chunk")
            self.buffer += more
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk

    def run(self) -> None:
        self.sock.settimeout(self.faults.idle_timeout)
        self.send("220 broken.test ESMTP")
        try:
            while (line := self.read_line()) is not None:
                if b"\0" in line and self.faults.dies_on_nul:
                    self.server.crash()
                    return
                if not self.dispatch(line):
                    return
        except TimeoutError:
            self.send("421 idle too long")

    def dispatch(self, line: bytes) -> bool:
        verb, _, arg = line.decode("latin-1").partition(" ")
        verb = verb.upper()
        if verb == "QUIT" and not arg:
            self.send("221 bye")
            return False
        if verb == "DATA" and not arg and (self.rcpts or self.faults.yes_to_everything):
            self.data()
        elif self.faults.yes_to_everything:
            self.send("250 OK")
        else:
            self.command(verb, arg)
        return True

    def command(self, verb: str, arg: str) -> None:
        if verb in ("EHLO", "HELO") and arg:
            self.greeted, self.mail, self.rcpts = True, False, 0
            offer = "" if self.tls or self.server.tls is None else "250-STARTTLS\r\n"
            offer += "250-XCLIENT NAME ADDR PORT\r\n" if self.faults.lax_xclient else ""
            offer += "".join(f"250-{keyword}\r\n" for keyword in self.keywords)
            self.send(f"250-broken.test\r\n{offer}250 PIPELINING" if verb == "EHLO" else "250 hi")
        elif verb in ("NOOP", "HELP") or (verb == "RSET" and not arg):
            self.mail, self.rcpts = (False, 0) if verb == "RSET" else (self.mail, self.rcpts)
            self.send("214 see RFC 5321" if verb == "HELP" else "250 OK")
        elif verb == "VRFY":
            self.send("252 cannot verify" if arg else "501 syntax")
        elif verb == "STARTTLS":
            self.starttls(arg)
        elif verb == "XCLIENT" and self.faults.lax_xclient:
            self.send("250 OK")
        elif verb == "MAIL" and self.greeted and not self.mail and arg.startswith("FROM:<"):
            self.mail = True
            self.send("250 OK")
        elif verb == "RCPT" and self.mail and arg.startswith("TO:<"):
            self.rcpts += 1
            self.send("250 OK")
        elif verb in ("MAIL", "RCPT", "DATA"):
            self.send("503 bad sequence" if arg.endswith(">") or not arg else "501 syntax")
        elif verb in ("EHLO", "HELO", "RSET"):
            self.send("501 syntax")
        else:
            self.send("500 unknown command")

    def starttls(self, arg: str) -> None:
        if arg:
            self.send("501 no parameters allowed")
            return
        if self.tls or self.server.tls is None:
            self.send("503 TLS already active")
            return
        self.send("220 go ahead")
        if not self.faults.keeps_plaintext_after_starttls:
            self.buffer = b""  # RFC 3207 4.2: forget everything sent before the handshake
        self.sock = self.server.tls.wrap_socket(self.sock, server_side=True)
        self.tls, self.greeted, self.mail, self.rcpts = True, False, False, 0

    def data(self) -> None:
        self.send("354 go ahead")
        content = b"\r\n" + self.buffer  # the CRLF of the DATA line opens CRLF.CRLF
        while True:
            end = _LOOSE_END if self.faults.bare_lf_ends_data else None
            match = end.search(content) if end else None
            pos = match.start() if match else content.find(_STRICT_END)
            if pos >= 0:
                stop = match.end() if match else pos + len(_STRICT_END)
                break
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("closed in DATA")
            content += more
        self.buffer = content[stop:]
        rcpts, self.mail, self.rcpts = self.rcpts, False, 0
        self.end_of_data(self.unstuff(content[2:pos] + b"\r\n"), rcpts)

    def end_of_data(self, message: bytes, rcpts: int) -> None:
        """Store the message and answer it once (an LMTP session answers each of `rcpts`)."""
        self.server.store(message)
        self.send("250 stored")

    def unstuff(self, message: bytes) -> bytes:
        if self.faults.keeps_dot_stuffing:
            return message
        # RFC 5321 4.5.2: drop the first dot of a line that starts with one.
        lines = message.split(b"\r\n")
        return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


class BrokenServer:
    """Listens on 127.0.0.1, port 0; one thread per session; a context manager."""

    def __init__(
        self,
        faults: Faults = Faults(),
        *,
        tls: ssl.SSLContext | None = None,
        store: Path | None = None,
        session: type[Session] = Session,
    ) -> None:
        self.faults = faults
        self.session_class = session
        self.tls = tls
        self.store_dir = store
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sessions: list[Session] = []
        self._lock = threading.Lock()
        self._count = 0
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def store(self, message: bytes) -> None:
        """Write one received message to the store directory, if any."""
        if self.store_dir is None:
            return
        with self._lock:
            self._count += 1
            name = f"msg{self._count:05d}.eml"
        (self.store_dir / name).write_bytes(message)

    def crash(self) -> None:
        """Stop accepting connections, as a crashed server would."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # listener closed by stop()
            session = self.session_class(sock, self)
            with self._lock:
                self._sessions.append(session)
            thread = threading.Thread(target=self._serve, args=(session,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, session: Session) -> None:
        try:
            session.run()
        except (OSError, ConnectionError, ssl.SSLError):
            pass  # the client went away or sent garbage: the session ends
        finally:
            session.sock.close()

    def __enter__(self) -> BrokenServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.crash()  # wakes the blocked accept()
        self._listener.close()
        self._acceptor.join()
        with self._lock:
            for session in self._sessions:
                with contextlib.suppress(OSError):  # already closed by its session
                    session.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join()
