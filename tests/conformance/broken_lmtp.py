"""A broken-server session speaking LMTP (RFC 2033), with switchable faults, to prove the
rfc2033 checks fail.

With no fault it passes the rfc2033 group: LHLO, HELO/EHLO refused with 500, one reply per
accepted recipient after DATA or BDAT LAST. `lmtp_session(LmtpFaults(...))` gives a session
class with the chosen bugs, for `BrokenServer(session=...)`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import ClassVar

from tests.conformance.broken_server import BrokenServer, Session


@dataclass(frozen=True)
class LmtpFaults:
    """Which LMTP bugs the session has."""

    one_reply: bool = False  # one reply after the data, as SMTP gives, whatever the RCPTs
    extra_reply: bool = False  # a reply more than the accepted RCPTs
    replies_for_refused: bool = False  # refused RCPTs get a reply after the data too
    answers_ehlo: bool = False  # HELO and EHLO work as in SMTP
    refuses_ehlo_502: bool = False  # HELO and EHLO refused, but with 502 instead of 500
    no_pipelining: bool = False  # LHLO does not advertise PIPELINING
    no_enhanced_codes: bool = False  # LHLO does not advertise ENHANCEDSTATUSCODES
    no_8bitmime: bool = False  # LHLO does not advertise 8BITMIME
    plain_replies: bool = False  # the replies after the data carry no enhanced code
    bare_lhlo: bool = False  # LHLO without a domain gets 250
    mail_before_lhlo: bool = False  # MAIL is taken before LHLO
    lhlo_keeps_transaction: bool = False  # a later LHLO does not reset the transaction
    rset_keeps_rcpts: bool = False  # RSET forgets MAIL but its RCPTs still count
    data_without_rcpt_554: bool = False  # DATA with no accepted RCPT gets 554, not 503
    chunk_replies_per_rcpt: bool = False  # a BDAT without LAST gets a reply per RCPT too
    empty_last_refused: bool = False  # BDAT LAST with no accepted RCPT gets 503, as in SMTP
    drops_pipelined_after_data: bool = False  # input sent with the final "." is lost
    loses_message: bool = False  # answers 250 per RCPT but stores nothing


class LmtpSession(Session):
    """An LMTP session: a `Session` with LHLO, BDAT, and a reply per accepted RCPT."""

    faults_lmtp: ClassVar[LmtpFaults] = LmtpFaults()

    def __init__(self, sock: socket.socket, server: BrokenServer) -> None:
        super().__init__(sock, server)
        self.refused = 0  # refused RCPTs of this transaction
        self.chunks = b""  # BDAT content so far
        self.greeted = self.faults_lmtp.mail_before_lhlo

    def command(self, verb: str, arg: str) -> None:
        f = self.faults_lmtp
        if verb == "LHLO":
            self.lhlo(arg)
        elif verb in ("HELO", "EHLO") and not f.answers_ehlo:
            self.send("502 5.5.1 not here" if f.refuses_ehlo_502 else "500 5.5.1 not LMTP")
        elif verb == "RCPT" and self.mail and not arg.startswith("TO:<"):
            self.refused += 1
            self.send("501 5.5.4 syntax")
        elif verb == "DATA" and self.mail and not self.rcpts and f.data_without_rcpt_554:
            self.send("554 5.5.1 no valid recipients")
        elif verb == "BDAT":
            self.bdat(arg)
        elif verb == "RSET" and not arg:
            kept = self.rcpts if f.rset_keeps_rcpts else 0
            super().command(verb, arg)
            self.rcpts, self.refused, self.chunks = kept, 0, b""
        else:
            super().command(verb, arg)

    def lhlo(self, arg: str) -> None:
        f = self.faults_lmtp
        if not arg and not f.bare_lhlo:
            self.send("501 5.5.4 LHLO needs a domain")
            return
        if not f.lhlo_keeps_transaction:
            self.mail, self.rcpts, self.refused, self.chunks = False, 0, 0, b""
        self.greeted = True
        offers = [
            ("PIPELINING", f.no_pipelining),
            ("ENHANCEDSTATUSCODES", f.no_enhanced_codes),
            ("8BITMIME", f.no_8bitmime),
            ("CHUNKING", False),
        ]
        lines = ["broken.test", *(keyword for keyword, missing in offers if not missing)]
        head = "".join(f"250-{line}\r\n" for line in lines[:-1])
        self.send(f"{head}250 {lines[-1]}")

    def bdat(self, arg: str) -> None:
        size, _, last = arg.partition(" ")
        if not size.isdigit() or last.upper() not in ("", "LAST"):
            self.send("501 5.5.4 BDAT size [LAST]")
            return
        chunk = self.read_exact(int(size))
        if not self.rcpts and last and self.mail and not self.faults_lmtp.empty_last_refused:
            self.mail, self.chunks = False, b""  # RFC 2033 4.3: zero replies, message over
        elif not self.rcpts:
            self.send("503 5.5.1 no valid recipients")
        elif last:
            rcpts, self.mail, self.rcpts = self.rcpts, False, 0
            message, self.chunks = self.chunks + chunk, b""
            self.end_of_data(message, rcpts)
        else:
            self.chunks += chunk
            count = self.rcpts if self.faults_lmtp.chunk_replies_per_rcpt else 1
            self.send("\r\n".join(["250 2.0.0 chunk taken"] * count))

    def end_of_data(self, message: bytes, rcpts: int) -> None:
        f = self.faults_lmtp
        if not f.loses_message:
            self.server.store(message)
        count = 1 if f.one_reply else rcpts + f.extra_reply
        count += self.refused if f.replies_for_refused else 0
        self.refused = 0
        reply = "250 delivered" if f.plain_replies else "250 2.1.5 delivered"
        self.send("\r\n".join([reply] * count))
        if f.drops_pipelined_after_data:
            self.buffer = b""


def lmtp_session(faults: LmtpFaults) -> type[LmtpSession]:
    """An `LmtpSession` class with `faults`."""

    class FaultyLmtpSession(LmtpSession):
        faults_lmtp = faults

    return FaultyLmtpSession
