"""A broken-server session that offers ENHANCEDSTATUSCODES (and a bare CHUNKING), with the
classic ways of getting the codes wrong, for the rfc2034 checks."""

from __future__ import annotations

import socket
from typing import ClassVar

from tests.conformance.broken_server import BrokenServer, Session

RECIPIENT_LIMIT = 3  # the fourth RCPT gets 452, so a 4xx reply is easy to provoke


class EnhancedSession(Session):
    """Prefixes every 2xx/4xx/5xx line, but the greeting's and HELO/EHLO's, with a code."""

    wrong_class: ClassVar[dict[int, int]] = {}  # reply class -> the class its code claims
    sub_codes: ClassVar[str] = "0.0"
    bare_verbs: ClassVar[frozenset[str]] = frozenset({"EHLO", "HELO"})
    keywords = ("ENHANCEDSTATUSCODES", "CHUNKING")

    def __init__(self, sock: socket.socket, server: BrokenServer) -> None:
        super().__init__(sock, server)
        self.verb: str | None = None  # None until the first command: the greeting is bare

    def dispatch(self, line: bytes) -> bool:
        self.verb = line.decode("latin-1").partition(" ")[0].upper()
        return super().dispatch(line)

    def send(self, text: str) -> None:
        if self.verb is None or self.verb in self.bare_verbs:
            super().send(text)
            return
        super().send("\r\n".join(self._coded(line) for line in text.split("\r\n")))

    def _coded(self, line: str) -> str:
        reply_class = int(line[0])
        if reply_class == 3:
            return line
        claimed = self.wrong_class.get(reply_class, reply_class)
        return f"{line[:4]}{claimed}.{self.sub_codes} {line[4:]}"

    def command(self, verb: str, arg: str) -> None:
        if verb == "RCPT" and self.mail and self.rcpts >= RECIPIENT_LIMIT:
            self.send("452 too many recipients")
        elif verb == "BDAT" and self.rcpts:
            self.bdat(arg)
        else:
            super().command(verb, arg)

    def bdat(self, arg: str) -> None:
        size, _, last = arg.partition(" ")
        self.read_exact(int(size))
        if last.upper() == "LAST":
            self.mail, self.rcpts = False, 0
        self.send("250 chunk taken")


class FourAsFive(EnhancedSession):
    """Gives 4xx replies a permanent 5.x.x code."""

    wrong_class: ClassVar[dict[int, int]] = {4: 5}


class ZeroPadded(EnhancedSession):
    """Writes the detail with a leading zero: 2.0.00."""

    sub_codes = "0.00"


class EveryTwoTwenty(EnhancedSession):
    """Takes every 220 for the greeting: STARTTLS's goes without a code."""

    def _coded(self, line: str) -> str:
        return line if line.startswith("220") else super()._coded(line)


class SuccessForAll(EnhancedSession):
    """Writes 2.0.0 on every reply, refusals too."""

    wrong_class: ClassVar[dict[int, int]] = {4: 2, 5: 2}


class BareVrfyBdat(EnhancedSession):
    """Leaves the replies to VRFY and BDAT without a code."""

    bare_verbs = frozenset({"EHLO", "HELO", "VRFY", "BDAT"})
