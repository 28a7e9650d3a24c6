"""Broken-server sessions with the classic PIPELINING bugs, for the rfc2920 checks."""

from __future__ import annotations

import socket
from typing import ClassVar

from tests.conformance.broken_server import BrokenServer, Session

# RFC 2920 3.2 (2): the replies a server may hold back to send as a unit.
_BUFFERABLE = frozenset({"RSET", "MAIL", "RCPT"})


class LosesLongBatch(Session):
    """Keeps at most 4 kB of unread input and drops the rest, as a fixed line buffer does."""

    def read_line(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer = (self.buffer + data)[:4096]
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line


class _Holding(Session):
    """Holds the replies to RSET, MAIL and RCPT; any other reply sends them along."""

    # When held replies go out on their own: never, or once the input buffer is empty.
    flush_when_empty: ClassVar[bool] = False

    def __init__(self, sock: socket.socket, server: BrokenServer) -> None:
        super().__init__(sock, server)
        self.pending: list[str] = []
        self.holding = False

    def send(self, text: str) -> None:
        self.pending.append(text)
        if not self.holding:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            super().send("\r\n".join(self.pending))
            self.pending.clear()

    def dispatch(self, line: bytes) -> bool:
        self.holding = line[:4].decode("latin-1").upper() in _BUFFERABLE
        try:
            return super().dispatch(line)
        finally:
            self.holding = False

    def read_line(self) -> bytes | None:
        # Correct would be: flush whenever no whole line is left. These flush later or never.
        if self.flush_when_empty and not self.buffer:
            self._flush()
        return super().read_line()


class HoldsBufferable(_Holding):
    """Sends held replies only with the next reply it must not hold (RFC 2920 3.2 (7))."""


class HoldsForPartialLine(_Holding):
    """Sends held replies only once the input buffer is empty, not while a line is half in."""

    flush_when_empty = True
