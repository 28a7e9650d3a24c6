"""`ServerConnection`: one SMTP session as a state machine. Bytes in, events and reply
bytes out, no I/O.

Parsing happens only inside `next_event()`, so feeding one byte at a time or a whole
session at once gives the same events and bytes (message chunks compared joined).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

from smtp_proto import replies
from smtp_proto.bdat import ChunkReader
from smtp_proto.commands import XCLIENT_OFFERED, Commands
from smtp_proto.config import ServerConfig
from smtp_proto.data import DataReader
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    AuthCredentials,
    BeginTls,
    ConnectionClosed,
    ConnectionOpened,
    DataStart,
    Decision,
    Event,
    HeadersComplete,
    Helo,
    MailFrom,
    MessageChunk,
    MessageReceived,
    ProxyHeaderReceived,
    RcptTo,
    RecipientDelivery,
    Signal,
    StartTlsRequest,
    UnknownCommand,
    XclientRequest,
)
from smtp_proto.proxy import ProxyHeaderError, ProxyVersion, read_proxy_header
from smtp_proto.replies import Reply
from smtp_proto.state import Move, State
from smtp_proto.xclient import ATTRIBUTES

_DEFAULT_CONFIG: Final = ServerConfig()  # immutable: one serves every default session
XCLIENT_KEYWORD: Final = "XCLIENT " + " ".join(ATTRIBUTES)
_DEFAULT_REJECT: dict[type[Decision], Reply] = {
    ConnectionOpened: replies.SERVICE_REFUSED,
    Helo: replies.HELO_REJECTED,
    AuthCredentials: replies.AUTH_FAILED,
    MailFrom: replies.SENDER_REJECTED,
    RcptTo: replies.UNKNOWN_MAILBOX,
    DataStart: replies.TRANSACTION_FAILED,
    MessageReceived: replies.TRANSACTION_FAILED,
    RecipientDelivery: replies.UNKNOWN_MAILBOX,
    UnknownCommand: replies.UNRECOGNIZED,
    StartTlsRequest: replies.TLS_NOT_AVAILABLE,
    XclientRequest: replies.XCLIENT_DENIED,
    ProxyHeaderReceived: replies.SHUTTING_DOWN,  # never sent: a refused proxy gets nothing
}


class ServerConnection(Commands):
    """One SMTP session, with no socket: see the module docstring and README for the loop.

    `encrypted`: the connection is TLS from its first byte (implicit TLS, RFC 8314).
    `nonce`: returns a fresh unpredictable string for each CRAM-MD5 challenge; without it
    CRAM-MD5 is not offered. `xclient`: XCLIENT comes to the application as an
    `XclientRequest` (otherwise it is a verb like any SMTP does not define), and with
    `xclient_offered` EHLO names it too (for the clients allowed to send it).
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        encrypted: bool = False,
        nonce: Callable[[], str] | None = None,
        xclient: bool = False,
        xclient_offered: bool = False,
    ) -> None:
        config = config or _DEFAULT_CONFIG
        super().__init__(config, encrypted=encrypted, nonce=nonce, xclient=xclient)
        if xclient and xclient_offered:
            self._xclient = XCLIENT_OFFERED
        self._buf = bytearray()
        self._pos = 0
        self._scanned = 0  # no CRLF starts in buf[_pos:_scanned]: a partial line is not rescanned
        self._eof = False
        self._pending: Decision | None = None
        self._closed: ConnectionClosed | None = None
        self._skip_line = -1  # octets of an overlong command line dropped so far, -1: none
        self._lmtp_next = 0  # index of the next RecipientDelivery
        if self.config.proxy_protocol is not None:
            self._state = State.PROXY  # nothing is greeted before the load balancer's header
        else:
            self._events.append(ConnectionOpened(encrypted=encrypted))

    # Public API -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """What the server waits for now."""
        return self._state

    @property
    def encrypted(self) -> bool:
        """Whether TLS is active (implicit, or after STARTTLS)."""
        return self._encrypted

    @property
    def closed(self) -> bool:
        """Whether the session is over (after QUIT, a 421, or the client closing)."""
        return self._state is State.CLOSED

    @property
    def buffered(self) -> int:
        """Octets received and not consumed yet: a partial line, or input held behind a
        pending decision. Bounded by the line limits, whatever the client sends."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes) -> None:
        """Append bytes from the client; b"" means the client closed its side."""
        if self._eof or self._state is State.CLOSED:
            raise LocalProtocolError("receive_data() after the end of input or the session")
        if not data:
            self._eof = True
        elif self._state is not State.TLS:  # RFC 3207 5: plaintext after STARTTLS is dropped
            if self._pos:
                del self._buf[: self._pos]
                self._scanned = max(0, self._scanned - self._pos)
                self._pos = 0
            self._buf += data

    def data_to_send(self) -> bytes:
        """Take the reply bytes queued so far, in command order."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | Signal:
        """The next event, NEED_DATA (feed more bytes), or PAUSED (answer the decision)."""
        if self._pending is not None:
            return PAUSED
        while not self._events:
            signal = self._advance()
            if signal is not None:
                return signal
        event = self._events.popleft()
        if isinstance(event, Decision):
            self._pending = event
        return event

    def accept(self, reply: Reply | None = None) -> None:
        """Answer the pending decision positively; `reply` replaces the default success."""
        event = self._take_pending(reply, success=True)
        _ACCEPT[type(event)](self, event, reply)

    def reject(self, reply: Reply | None = None) -> None:
        """Answer the pending decision with an error; a 421 also closes."""
        event = self._take_pending(reply, success=False)
        _REJECT.get(type(event), ServerConnection._reject_plain)(
            self, event, reply or _DEFAULT_REJECT[type(event)]
        )

    def tls_established(self) -> None:
        """The TLS handshake after BeginTls is done: the session starts over (RFC 3207 4.2)."""
        if self._state is not State.TLS:
            raise LocalProtocolError("tls_established() without a STARTTLS in progress")
        self._encrypted = True
        self._extended = self._authenticated = False
        self._move(Move.TLS_ESTABLISHED)
        self._reset_transaction("STARTTLS", full=True)

    def abort(self, reply: Reply = replies.SHUTTING_DOWN) -> None:
        """Server-side end (time-out, shutdown): queue `reply` and close. No-op once closed."""
        if self._state is State.CLOSED:
            return
        # In place of the greeting or a HELO/EHLO answer, no enhanced code (RFC 2034 4).
        plain = self._state is State.GREETING or isinstance(self._pending, Helo)
        self._pending = None
        self._events.clear()
        self._out += reply.to_bytes(enhanced=self._esc and not plain)
        self._state = State.CLOSED

    def discard_message(self, reply: Reply) -> None:
        """Drop the rest of the message being received; answer `reply` after its end."""
        if self._reader is None or self._pending is not None or not reply.is_error:
            raise LocalProtocolError("discard_message() needs message content in progress")
        self._reader.fail(reply)
        # The header block of a refused message never completes, wherever the reads ended.
        if any(isinstance(e, HeadersComplete) for e in self._events):
            self._events = deque(e for e in self._events if not isinstance(e, HeadersComplete))

    # Decisions ------------------------------------------------------------------------------

    def _take_pending(self, reply: Reply | None, *, success: bool) -> Decision:
        event = self._pending
        if event is None:
            raise LocalProtocolError("no decision is pending")
        if reply is not None:
            if reply.is_error is success:
                raise LocalProtocolError(
                    f"{reply.code} does not fit {'accept' if success else 'reject'}"
                )
            if isinstance(event, ProxyHeaderReceived):
                raise LocalProtocolError("a PROXY header is answered with no reply")
            if (
                success
                and reply.code != 220
                and isinstance(event, ConnectionOpened | XclientRequest)
            ):
                raise LocalProtocolError("a greeting must be a 220 reply")
        elif success and isinstance(event, UnknownCommand):
            # No success means anything for a verb the core does not know: say what it did.
            raise LocalProtocolError(f"accepting {event.verb} needs a Reply")
        self._pending = None
        return event

    def _reject_plain(self, event: Decision, reply: Reply) -> None:
        self._send(reply)

    def _accept_proxy(self, event: ProxyHeaderReceived, reply: Reply | None) -> None:
        self._move(Move.PROXIED)
        self._events.append(ConnectionOpened(encrypted=self._encrypted))

    def _reject_proxy(self, event: ProxyHeaderReceived, reply: Reply) -> None:
        self._state = State.CLOSED  # nothing is sent: the peer is not a trusted proxy

    def _accept_greeting(self, event: ConnectionOpened, reply: Reply | None) -> None:
        self._send(reply or self._values.greeting, enhanced=False)
        self._move(Move.GREET)

    def _accept_xclient(self, event: XclientRequest, reply: Reply | None) -> None:
        self._send(reply or self._values.greeting, enhanced=False)
        self._extended = self._authenticated = False
        self._move(Move.XCLIENT)  # the client starts over with EHLO, as Postfix has it
        self._reset_transaction("XCLIENT", full=True)

    def _reject_greeting(self, event: ConnectionOpened, reply: Reply) -> None:
        self._send(reply, enhanced=False)
        self._move(Move.REFUSE)  # RFC 5321 3.1: then only QUIT is served

    def _reject_helo(self, event: Helo, reply: Reply) -> None:
        self._send(reply, enhanced=False)  # RFC 2034 4: no enhanced code on HELO/EHLO answers

    def _accept_helo(self, event: Helo, reply: Reply | None) -> None:
        self._extended = event.extended
        first = reply.lines[0] if reply else self._helo_text(event.hostname)
        lines = [first]
        if event.extended:
            cram = self._nonce is not None
            lines += self._values.capabilities(encrypted=self._encrypted, cram_md5=cram)
            if self._xclient == XCLIENT_OFFERED:
                lines.insert(-1, XCLIENT_KEYWORD)  # before HELP, which stays last
        self._send(Reply(250, tuple(lines)), enhanced=False)
        self._move(Move.HELLO)
        self._reset_transaction("LHLO" if event.lmtp else "EHLO" if event.extended else "HELO")

    def _helo_text(self, client: str) -> str:
        if client.isascii() and client.isprintable() and len(client) <= 255:
            return f"{self.config.hostname} Hello {client}"
        return f"{self.config.hostname} Hello"

    def _accept_auth(self, event: AuthCredentials, reply: Reply | None) -> None:
        self._authenticated = True
        self._send(reply or replies.AUTH_OK)

    def _reject_auth(self, event: AuthCredentials, reply: Reply) -> None:
        self._auth_failed(reply)

    def _accept_mail(self, event: MailFrom, reply: Reply | None) -> None:
        self._send(reply or replies.SENDER_OK)
        self._mail = event.params
        self._rcpts = []
        self._move(Move.MAIL)

    def _accept_rcpt(self, event: RcptTo, reply: Reply | None) -> None:
        self._send(reply or replies.RECIPIENT_OK)
        self._rcpts.append(event.address)
        self._move(Move.RCPT)

    def _accept_data(self, event: DataStart, reply: Reply | None) -> None:
        if event.bdat:
            self._start_chunk()
            return
        self._send(reply or replies.START_DATA)
        limits = self.config.limits
        self._reader = DataReader(
            self.config.crlf_mode, limits.text_line, limits.message_size, limits.header_block
        )
        self._move(Move.DATA)

    def _reject_data(self, event: DataStart, reply: Reply) -> None:
        self._send(reply)
        if event.bdat:
            self._skip_octets = self._chunk[0]

    def _accept_message(self, event: MessageReceived, reply: Reply | None) -> None:
        if self.config.lmtp:
            self._lmtp_next = 0
            self._next_delivery()
            return
        self._send(reply or replies.MESSAGE_ACCEPTED)
        self._end_message()

    def _reject_message(self, event: MessageReceived, reply: Reply) -> None:
        for i, _ in enumerate(self._rcpts if self.config.lmtp else (None,)):
            self._send(reply, budget=i == 0)  # RFC 2033 4.2: one reply per recipient
        self._end_message()

    def _answer_delivery(self, event: RecipientDelivery, reply: Reply | None) -> None:
        # One message spends at most one error, however many recipients it has.
        self._send(reply or replies.DELIVERED, budget=event.index == 0)
        self._next_delivery()

    def _reject_delivery(self, event: RecipientDelivery, reply: Reply) -> None:
        self._answer_delivery(event, reply)

    def _next_delivery(self) -> None:
        index = self._lmtp_next
        if index >= len(self._rcpts) or self._state is State.CLOSED:
            self._end_message()
            return
        self._lmtp_next += 1
        self._events.append(RecipientDelivery(address=self._rcpts[index], index=index))

    def _accept_unknown(self, event: UnknownCommand, reply: Reply | None) -> None:
        self._send(reply or replies.OK)  # never OK: _take_pending insists on a reply

    def _accept_starttls(self, event: StartTlsRequest, reply: Reply | None) -> None:
        self._send(reply or replies.READY_FOR_TLS)
        del self._buf[:]  # RFC 3207 5 (CVE-2011-0411): pipelined plaintext is never read
        self._pos = self._scanned = 0
        self._move(Move.STARTTLS)
        self._events.append(BeginTls())

    def _end_message(self) -> None:
        self._move(Move.MESSAGE_END)
        self._reset_transaction("MESSAGE")

    # Input ------------------------------------------------------------------------------

    def _advance(self) -> Signal | None:
        """Make progress from the buffer: queue events, or say why not (a Signal)."""
        state = self._state
        if state is State.CLOSED:
            if self._closed is None:
                self._closed = ConnectionClosed(by_client=False)
            self._events.append(self._closed)
            return None
        if state is State.TLS:
            return PAUSED
        if state is State.DATA or state is State.BDAT:
            progressed = self._step_message()
        elif self._skip_octets:
            progressed = self._skip_chunk_octets()
        elif self._skip_line >= 0:
            progressed = self._step_skip_line()
        elif state is State.PROXY:  # once a session, if at all: after the common cases
            return self._step_proxy()
        else:
            progressed = self._step_command()
        if progressed:
            return None
        if self._eof:
            self._state = State.CLOSED
            self._closed = ConnectionClosed(by_client=True)
            return None
        return NEED_DATA

    def _step_proxy(self) -> Signal | None:
        """The PROXY header from the buffer: its decision, NEED_DATA, or the close of a
        connection whose first octets cannot be one (nothing is sent to such a peer)."""
        config = self.config
        version = config.proxy_protocol or ProxyVersion.ANY
        try:
            found = read_proxy_header(
                self._buf[self._pos :], version, max_tlvs=config.proxy_max_tlvs
            )
        except ProxyHeaderError:
            self._state = State.CLOSED
            return None
        if found is None:
            if self._eof:
                self._state = State.CLOSED
                self._closed = ConnectionClosed(by_client=True)
                return None
            return NEED_DATA
        header, length = found
        self._pos += length
        self._events.append(ProxyHeaderReceived(header=header))
        return None

    def _step_command(self) -> bool:
        buf, pos = self._buf, self._pos
        # RFC 5321 2.3.8: only CRLF ends a line; a bare LF stays inside it (and is refused).
        # A line arriving in small reads is searched once, not again from its start each read.
        end = buf.find(b"\r\n", max(pos, self._scanned), pos + self._max_line)
        if end < 0:
            if len(buf) - pos < self._max_line:
                self._scanned = len(buf) - 1  # a last CR may get its LF in the next read
                return False
            self._skip_line = 0  # too long for any command: drop it up to its CRLF
            return True
        raw = bytes(buf[pos:end])
        self._pos = end + 2
        decision = self._command(raw, end + 2 - pos)
        if decision is not None:
            self._events.append(decision)
        return True

    def _step_skip_line(self) -> bool:
        buf, pos = self._buf, self._pos
        crlf = buf.find(b"\r\n", pos)
        # Without a CRLF, keep a last CR: its LF may come in the next read.
        stop = crlf if crlf >= 0 else len(buf) - (1 if buf.endswith(b"\r") else 0)
        stop = max(stop, pos)
        self._skip_line += stop - pos  # counted the same whatever the reads
        self._pos = stop
        if self._skip_line > self.config.limits.line_buffer:
            self._refuse("", replies.LINE_NEVER_ENDS)
            return True
        if crlf < 0:
            return stop > pos
        self._skip_line = -1
        self._pos = crlf + 2
        if self._state is State.AUTH:
            self._auth_failed(replies.AUTH_LINE_TOO_LONG)
        else:
            self._refuse("", replies.LINE_TOO_LONG)
        return True

    def _skip_chunk_octets(self) -> bool:
        take = min(self._skip_octets, len(self._buf) - self._pos)
        self._skip_octets -= take
        self._pos += take
        return take > 0

    def _step_message(self) -> bool:
        """Hand out message content; finish the message once its end has been read."""
        reader = self._reader
        if reader is None:
            raise AssertionError("message state without a reader")
        if _complete(reader):
            self._finish_message()
            return True
        start = self._pos
        content, self._pos = reader.read(self._buf, start)
        if content:
            self._events.append(MessageChunk(data=content))
        if reader.header_end:
            self._events.append(HeadersComplete(headers=reader.take_headers()))
        return self._pos != start or bool(self._events) or _complete(reader)

    def _finish_message(self) -> None:
        reader = self._reader
        if reader is None:
            raise AssertionError("no message to finish")
        command = "DATA" if isinstance(reader, DataReader) else "BDAT"
        failure = reader.settle()
        if failure is not None:
            for i, _ in enumerate(self._rcpts if self.config.lmtp else (None,)):
                self._refuse(command, failure, budget=i == 0)
            self._end_message()
        elif command == "BDAT" and not self._chunk[1]:
            self._send(Reply(250, (f"{self._chunk[0]} octets received",), (2, 0, 0)))
            self._move(Move.CHUNK_READ)
        elif not reader.headers_done:
            self._events.append(HeadersComplete(headers=reader.take_headers()))
        else:
            self._events.append(MessageReceived(size=reader.size))


def _complete(reader: DataReader | ChunkReader) -> bool:
    """Whether the reader has read all it owns (DATA: the end marker; BDAT: the chunk)."""
    return reader.done if isinstance(reader, DataReader) else reader.complete


# Each answer takes its own kind of decision: the table maps the kind to its method, so
# the event parameter is Any here (a method for `Helo` is not one for every Decision).
_ACCEPT: dict[type[Decision], Callable[[ServerConnection, Any, Reply | None], None]] = {
    ProxyHeaderReceived: ServerConnection._accept_proxy,
    ConnectionOpened: ServerConnection._accept_greeting,
    Helo: ServerConnection._accept_helo,
    AuthCredentials: ServerConnection._accept_auth,
    MailFrom: ServerConnection._accept_mail,
    RcptTo: ServerConnection._accept_rcpt,
    DataStart: ServerConnection._accept_data,
    MessageReceived: ServerConnection._accept_message,
    RecipientDelivery: ServerConnection._answer_delivery,
    UnknownCommand: ServerConnection._accept_unknown,
    StartTlsRequest: ServerConnection._accept_starttls,
    XclientRequest: ServerConnection._accept_xclient,
}
_REJECT: dict[type[Decision], Callable[[ServerConnection, Any, Reply], None]] = {
    ProxyHeaderReceived: ServerConnection._reject_proxy,
    ConnectionOpened: ServerConnection._reject_greeting,
    Helo: ServerConnection._reject_helo,
    AuthCredentials: ServerConnection._reject_auth,
    DataStart: ServerConnection._reject_data,
    MessageReceived: ServerConnection._reject_message,
    RecipientDelivery: ServerConnection._reject_delivery,
}
