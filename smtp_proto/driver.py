"""`HookDriver`: turns the core's events into hook calls, and hook outcomes into answers.

The hook half of `smtp_proto.session.Session`, which is what transports drive: it never
waits, reads a socket or starts a thread. `step(event)` gives the `HookCall` to run, if
any; its `Outcome` goes back to `hook_done()`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from smtp_proto import replies
from smtp_proto.config import ANY_VERB, ServerConfig
from smtp_proto.config_values import ConfigValues
from smtp_proto.connection import ServerConnection
from smtp_proto.context import (
    ENCODING_BODY,
    Context,
    EnvelopeContext,
    MessageContext,
    Peer,
    ServerContext,
)
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    AuthCredentials,
    CommandRejected,
    ConnectionClosed,
    ConnectionOpened,
    DataStart,
    Event,
    HeadersComplete,
    Helo,
    MailFrom,
    MessageChunk,
    MessageReceived,
    ProxyHeaderReceived,
    RcptTo,
    RecipientDelivery,
    SessionReset,
    StartTlsRequest,
    UnknownCommand,
    XclientRequest,
)
from smtp_proto.handler import HOOKS, Handler, HookCall, Outcome
from smtp_proto.logs import LOGGER
from smtp_proto.replies import Reply

# A greeting may only be 220, 554 or 421 (RFC 5321 4.3.2): a failing on_connect_event closes.
CONNECT_ERROR: Final = Reply(
    421, ("Service not available, closing transmission channel",), (4, 3, 0)
)

# Hooks whose default only accepts: left alone, they need not be called at all.
_SKIPPABLE: Final = frozenset(HOOKS) - {"on_auth_event", "on_process_line_unknown_event"}


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the driver's default clock)."""
    return datetime.now(UTC)


def _reply_text(text: str) -> str:
    """A greeting text from ctx with CR and LF stripped (MidiSmtpServer's rule)."""
    return text.replace("\r", "").replace("\n", "")


def _address(value: object, original: str) -> str:
    """The address a hook returned (None keeps `original`); TypeError/ValueError if bad."""
    if value is None:
        return original
    if not isinstance(value, str):
        raise TypeError(f"a hook must return str or None, not {type(value).__name__}")
    if not value.isprintable():
        raise ValueError(f"a hook returned an address with control characters: {value!r}")
    return value


_Hook = tuple[str, tuple[object, ...]]  # hook name and the arguments after ctx


def config_for(handler: Handler, config: ServerConfig) -> ServerConfig:
    """The core's config for `handler`: a handler with its own `on_process_line_unknown_event`
    hears every verb SMTP does not define, as in MidiSmtpServer, unless the config names
    the verbs it takes; without one the core answers them 500 5.5.2 itself."""
    if config.extension_verbs or "on_process_line_unknown_event" in handler.default_hooks:
        return config
    return dataclasses.replace(config, extension_verbs=frozenset({ANY_VERB}))


class HookDriver:
    """Feeds one session's events to a `Handler` and answers the `ServerConnection`.

    `ctx` is updated before a hook runs (data appended, HELO recorded, ...) and after it
    (rewritten addresses, AUTH state) and reset exactly when the protocol resets. A hook's
    `SmtpError` becomes its reply; any other exception answers 451 4.3.0 (421 before the
    greeting) and is logged with its traceback. `clock` gives aware UTC datetimes.
    """

    def __init__(
        self,
        handler: Handler,
        conn: ServerConnection,
        *,
        peer: Peer,
        session_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if inspect.iscoroutinefunction(handler.on_logging_event):
            raise TypeError("on_logging_event must be a plain def")
        self.handler = handler
        self.conn = conn
        self._clock = clock
        self._hostname = hostname = conn.config.hostname
        self._greeting = f"{hostname} {conn.config.greeting}"  # the core's default texts
        self._helo_greeting = f"{hostname} Hello"
        self.ctx = Context(
            ServerContext(
                local_response=self._greeting,
                helo_response=self._helo_greeting,
                local_ip=peer.local_ip,
                local_host=peer.local_host,
                local_port=peer.local_port,
                remote_ip=peer.remote_ip,
                remote_host=peer.remote_host,
                remote_port=peer.remote_port,
                connected=clock(),
                session_id=session_id,
            )
        )
        self._skip = handler.default_hooks & _SKIPPABLE
        self._own_logging = "on_logging_event" not in handler.default_hooks
        self._pending: Event | None = None  # the event whose hook is running
        self._discarding = False  # a hook refused the message being received
        self._lmtp = False
        self._previous_helo = ("", "")
        self._accepted = 0  # messages answered 250 (for the session's last log line)

    # The session's verbs --------------------------------------------------------------------

    def step(self, event: Event) -> HookCall | None:
        """Update ctx for `event`; the hook to run for it, or None when none is due (the
        event is then applied at once). A returned call's outcome goes to `hook_done()`."""
        if self._pending is not None:
            raise LocalProtocolError("hook_done() is owed before the next event")
        kind = type(event)
        before = _BEFORE.get(kind)
        hook = before(self, event) if before is not None else None
        if hook is None or hook[0] in self._skip:  # the usual case: apply at once
            after = _AFTER.get(kind)
            if after is not None:
                after(self, event, _NO_OUTCOME)
            return None
        self._pending = event
        return self._hook_call(hook)

    def hook_done(self, outcome: Outcome) -> Event:
        """Update ctx from the hook's `outcome` and answer the connection; the event it was for."""
        event = self.drop_hook()
        after = _AFTER.get(type(event))
        if after is not None:
            after(self, event, outcome)
        return event

    def drop_hook(self) -> Event:
        """Forget the hook `step()` asked for, unrun (no processing slot came); its event."""
        event, self._pending = self._pending, None
        if event is None:
            raise LocalProtocolError("no hook is running")
        return event

    def tls_established(self) -> None:
        """The TLS handshake after STARTTLS is done: tell the core and record the time."""
        self.conn.tls_established()
        self.ctx.server.encrypted = self._clock()
        self.log(logging.DEBUG, "TLS established")

    def logs(self, level: int) -> bool:
        """Whether a line at `level` goes anywhere (skip building it when not)."""
        return self._own_logging or LOGGER.isEnabledFor(level)

    def log(self, level: int, message: str, err: BaseException | None = None) -> None:
        """Log through the handler's `on_logging_event` (transports log sessions this way)."""
        if not self._own_logging and not LOGGER.isEnabledFor(level):
            return  # the default hook would drop it
        try:
            self.handler.on_logging_event(self.ctx, level, message, err)
        except Exception:
            LOGGER.exception("[%s] on_logging_event failed", self.ctx.server.session_id)

    # Shared steps ---------------------------------------------------------------------------

    def _hook_call(self, hook: _Hook) -> HookCall:
        name, args = hook
        func = getattr(self.handler, name)
        handler = self.handler
        is_async = name in handler.async_hooks
        blocks = not is_async and name not in handler.nonblocking_hooks
        return HookCall(func, (self.ctx, *args), is_async, blocks)

    def _refusal(self, what: str, outcome: Outcome) -> Reply | None:
        """The error reply `outcome` asks for (logged), or None when the hook succeeded."""
        reply = outcome.reply
        if reply is not None:
            note = str(outcome.error) if outcome.error is not None else ""
            reason = f" ({note})" if note and note != f"{reply.code} {reply.lines[0]}" else ""
            self.log(logging.INFO, f"{what} refused: {_show(reply)}{reason}", outcome.error)
            return reply
        if outcome.error is not None:
            err = outcome.error
            self.log(logging.ERROR, f"{what} failed: {type(err).__name__}: {err}", err)
            return replies.LOCAL_ERROR
        return None

    def _failed(self, what: str, err: Exception) -> Reply | None:
        return self._refusal(what, Outcome(error=err))

    def _answer(
        self, refusal: Reply | None, accept_with: Reply | None = None, *, counted: bool = False
    ) -> None:
        """Accept or reject the pending decision; `counted`: the core reports the refusal."""
        if self.conn.closed:  # the transport aborted meanwhile (stop, time-out): no answer
            self.log(logging.DEBUG, "connection already closed, answer dropped")
            return
        if refusal is None:
            self.conn.accept(accept_with)
            return
        if not counted:
            self.ctx.server.exceptions += 1
        self.conn.reject(refusal)

    # Before the hooks -----------------------------------------------------------------------

    def _before_connect(self, event: ConnectionOpened) -> _Hook:
        server = self.ctx.server
        if event.encrypted:  # implicit TLS (RFC 8314): encrypted from the start
            server.encrypted = server.connected
        if self.logs(logging.DEBUG):
            self.log(
                logging.DEBUG,
                f"connection from {server.remote_host} [{server.remote_ip}]:{server.remote_port}"
                f" to [{server.local_ip}]:{server.local_port}",
            )
        return ("on_connect_event", ())

    def _before_helo(self, event: Helo) -> _Hook:
        self._lmtp = event.lmtp
        self._previous_helo = (self.ctx.server.helo, self.ctx.server.helo_verb)
        server = self.ctx.server
        server.helo = event.hostname
        server.helo_verb = "LHLO" if event.lmtp else "EHLO" if event.extended else "HELO"
        if server.helo_response == self._helo_greeting:  # not changed by a hook: the default
            self._helo_greeting = server.helo_response = self._helo_text(event.hostname)
        return ("on_helo_event", (event.hostname,))

    def _before_auth(self, event: AuthCredentials) -> _Hook:
        self.ctx.server.auth_credentials = event
        return ("on_auth_event", (event.authorization_id, event.authentication_id, event.secret))

    def _before_mail(self, event: MailFrom) -> _Hook:
        envelope = self.ctx.envelope
        envelope.mail_params = event.params
        body = event.params.body
        envelope.encoding_body = ENCODING_BODY[body] if body is not None else ""
        envelope.encoding_utf8 = "utf8" if event.params.smtputf8 else ""
        return ("on_mail_from_event", (event.address,))

    def _before_data(self, event: DataStart) -> _Hook:
        server = self.ctx.server
        server.messages += 1
        self.ctx.message = MessageContext(
            queue_id=f"{server.session_id}.{server.messages}", received=self._clock()
        )
        self._discarding = False
        return ("on_message_data_start_event", ())

    def _before_chunk(self, event: MessageChunk) -> _Hook | None:
        if self._discarding:
            return None
        self.ctx.message.data += event.data
        return ("on_message_data_receiving_event", ())

    def _before_headers(self, event: HeadersComplete) -> _Hook | None:
        if self._discarding:
            return None
        self.ctx.message.headers_complete = True
        self.ctx.message.headers = event.headers
        return ("on_message_data_headers_event", ())

    def _before_message(self, event: MessageReceived) -> _Hook:
        message = self.ctx.message
        message.delivered = self._clock()
        message.bytesize = len(message.data)
        return ("on_message_data_event", ())

    # After the hooks ------------------------------------------------------------------------

    def _after_proxy(self, event: ProxyHeaderReceived, outcome: Outcome) -> None:
        """The load balancer's header names the client: ctx says so from the greeting on.
        Only peers in `ServerConfig.proxy_trusted` may send one; others are closed."""
        server, header = self.ctx.server, event.header
        if not ConfigValues.of(self.conn.config).trusts_proxy(server.remote_ip):
            # An unknown address: a peer that reset at once, not one to warn about.
            level = logging.WARNING if server.remote_ip else logging.DEBUG
            self.log(level, f"PROXY header from untrusted {server.remote_ip or 'peer'}: closed")
            self.conn.reject()  # closes with nothing sent
            return
        server.proxy = header
        server.proxy_ip, server.proxy_port = server.remote_ip, server.remote_port
        if header.source is not None and header.destination is not None:
            server.remote_ip = server.remote_host = header.source[0]
            server.remote_port = header.source[1]
            server.local_ip, server.local_port = header.destination
        self._answer(None)

    def _after_xclient(self, event: XclientRequest, outcome: Outcome) -> None:
        """A front end names the client (Postfix's XCLIENT): ctx says so from the new
        greeting on. Kept as it is, the hook lets only `xclient_trusted` peers do it."""
        server = self.ctx.server
        sender = server.xclient_ip or server.remote_ip  # the front end, also on a second one
        refusal = self._refusal("XCLIENT", outcome)
        if outcome is _NO_OUTCOME and not ConfigValues.of(self.conn.config).trusts_xclient(sender):
            self.log(logging.WARNING, f"XCLIENT from untrusted {sender or 'peer'}: refused")
            refusal = replies.XCLIENT_DENIED
        greeting = None
        if refusal is None:
            try:
                greeting = self._custom(220, server.local_response, self._greeting)
            except ValueError as err:
                refusal = self._failed("XCLIENT", err)
        if refusal is None:
            _name_client(server, event.attributes)
            self.log(
                logging.INFO,
                f"XCLIENT from {sender}: the client is {server.remote_host}"
                f"[{server.remote_ip}]:{server.remote_port}",
            )
        self._answer(refusal, greeting)

    def _after_connect(self, event: ConnectionOpened, outcome: Outcome) -> None:
        refusal = self._refusal("connection", outcome)
        greeting = None
        if refusal is None:
            try:
                greeting = self._custom(220, self.ctx.server.local_response, self._greeting)
            except ValueError as err:
                refusal = self._failed("connection", err)
        if refusal is replies.LOCAL_ERROR:
            refusal = CONNECT_ERROR
        self._answer(refusal, greeting)

    def _after_helo(self, event: Helo, outcome: Outcome) -> None:
        server = self.ctx.server
        what = f"{server.helo_verb} {event.hostname}"
        refusal = self._refusal(what, outcome)
        text = None
        if refusal is None:
            try:
                text = self._custom(250, server.helo_response, self._helo_greeting)
            except ValueError as err:
                refusal = self._failed(what, err)
        if refusal is not None:
            server.helo, server.helo_verb = self._previous_helo
        else:
            self.log(logging.DEBUG, f"{what} accepted")
        self._answer(refusal, text)

    def _after_auth(self, event: AuthCredentials, outcome: Outcome) -> None:
        server = self.ctx.server
        server.auth_credentials = None  # the secret stays no longer than the hook runs
        what = f"AUTH {event.mechanism} for {event.authentication_id!r}"
        refusal = self._refusal(what, outcome)
        if refusal is None:
            fallback = event.authorization_id or event.authentication_id
            try:
                authorization_id = _address(outcome.value, fallback)
            except (TypeError, ValueError) as err:
                refusal = self._failed(what, err)
            else:
                server.authorization_id = authorization_id
                server.authentication_id = event.authentication_id
                server.authenticated = self._clock()
                self.log(logging.DEBUG, f"{what} accepted as {authorization_id!r}")
        self._answer(refusal, counted=True)  # the core reports AUTH refusals itself

    def _after_mail(self, event: MailFrom, outcome: Outcome) -> None:
        what = f"MAIL FROM <{event.address}>"
        refusal = self._refusal(what, outcome)
        if refusal is None:
            try:
                self.ctx.envelope.mail_from = _address(outcome.value, event.address)
            except (TypeError, ValueError) as err:
                refusal = self._failed(what, err)
        if refusal is not None:
            self.ctx.envelope = EnvelopeContext()
        self._answer(refusal)

    def _after_rcpt(self, event: RcptTo, outcome: Outcome) -> None:
        what = f"RCPT TO <{event.address}>"
        refusal = self._refusal(what, outcome)
        if refusal is None:
            try:
                address = _address(outcome.value, event.address)
            except (TypeError, ValueError) as err:
                refusal = self._failed(what, err)
            else:
                self.ctx.envelope.rcpt_to.append(address)
                self.ctx.envelope.rcpt_params.append(event.params)
        self._answer(refusal)

    def _after_data(self, event: DataStart, outcome: Outcome) -> None:
        refusal = self._refusal("BDAT" if event.bdat else "DATA", outcome)
        if refusal is not None:
            self.ctx.message = MessageContext()
        self._answer(refusal)

    def _after_content(self, event: MessageChunk | HeadersComplete, outcome: Outcome) -> None:
        refusal = self._refusal(f"message {self.ctx.message.queue_id}", outcome)
        if refusal is None:
            return
        self._discarding = True
        self.ctx.message.data = bytearray()  # nothing more is kept of a refused message
        if self.conn.closed:
            return
        if refusal.closes:
            self.ctx.server.exceptions += 1
            self.conn.abort(refusal)  # a 421 need not wait for the end of the data
        else:
            self.conn.discard_message(refusal)  # counted when the core reports it

    def _after_message(self, event: MessageReceived, outcome: Outcome) -> None:
        refusal = self._refusal(f"message {self.ctx.message.queue_id}", outcome)
        self._accepted += refusal is None
        if refusal is None and self.logs(logging.INFO):
            envelope, message = self.ctx.envelope, self.ctx.message
            recipients = ",".join(f"<{r}>" for r in envelope.rcpt_to)
            self.log(
                logging.INFO,
                f"accepted {message.queue_id} from=<{envelope.mail_from}> to={recipients}"
                f" size={message.bytesize}",
            )
        self._answer(refusal)
        if self.conn.closed and (refusal is not None or not self._lmtp):
            # The transaction is over (RFC 5321 4.1.1.4): the core's SessionReset says so,
            # unless the connection closed first.
            self.ctx.reset()

    def _after_delivery(self, event: RecipientDelivery, outcome: Outcome) -> None:
        refusal = self._refusal(f"delivery to <{event.address}>", outcome)
        self._answer(refusal)
        if self.conn.closed and event.index >= len(self.ctx.envelope.rcpt_to) - 1:
            self.ctx.reset()  # as in _after_message

    def _after_unknown(self, event: UnknownCommand, outcome: Outcome) -> None:
        # The hook returned: it took the command (its default refuses with 500 5.5.2).
        self._answer(self._refusal(f"command {event.verb!r}", outcome), replies.OK)

    def _after_starttls(self, event: StartTlsRequest, outcome: Outcome) -> None:
        self._answer(self._refusal("STARTTLS", outcome))

    def _after_rejected(self, event: CommandRejected, outcome: Outcome) -> None:
        if event.reply.is_error:
            self.ctx.server.exceptions += 1
        # Every refusal at INFO, as Postfix logs its rejects; the rest only with -v.
        level = logging.INFO if event.reply.is_error else logging.DEBUG
        self.log(level, f"{event.command} refused by the server: {_show(event.reply)}")

    def _after_reset(self, event: SessionReset, outcome: Outcome) -> None:
        self._discarding = False
        self.ctx.reset(full=event.full)

    def _after_closed(self, event: ConnectionClosed, outcome: Outcome) -> None:
        self._refusal("disconnect", outcome)
        how = "by the client" if event.by_client else "by the server"
        server = self.ctx.server
        self.log(  # one line per session at INFO: how it ended and what it did
            logging.INFO,
            f"connection closed {how}: data={self._accepted}/{server.messages}"
            f" errors={server.exceptions}",
        )

    def _helo_text(self, client: str) -> str:
        """The first line the core sends for HELO/EHLO/LHLO when none is given."""
        if client.isascii() and client.isprintable() and len(client) <= 255:
            return f"{self._hostname} Hello {client}"
        return f"{self._hostname} Hello"

    @staticmethod
    def _custom(code: int, text: str, default: str) -> Reply | None:
        """The reply for a greeting text a hook changed, or None to keep the core's own."""
        cleaned = _reply_text(text)
        return None if cleaned == default else Reply(code, (cleaned,))


def _show(reply: Reply) -> str:
    enhanced = "{}.{}.{} ".format(*reply.enhanced) if reply.enhanced else ""
    return f"{reply.code} {enhanced}{' '.join(reply.lines)}"


_NO_OUTCOME: Final = Outcome()  # what a skipped hook "returned"
_BEFORE: Final[dict[type[Event], Callable[[HookDriver, Any], _Hook | None]]] = {
    ConnectionOpened: HookDriver._before_connect,
    Helo: HookDriver._before_helo,
    AuthCredentials: HookDriver._before_auth,
    MailFrom: HookDriver._before_mail,
    RcptTo: lambda d, e: ("on_rcpt_to_event", (e.address,)),
    DataStart: HookDriver._before_data,
    MessageChunk: HookDriver._before_chunk,
    HeadersComplete: HookDriver._before_headers,
    MessageReceived: HookDriver._before_message,
    RecipientDelivery: lambda d, e: ("on_lmtp_delivery_event", (e.address, e.index)),
    UnknownCommand: lambda d, e: ("on_process_line_unknown_event", (e.line,)),
    StartTlsRequest: lambda d, e: ("on_starttls_event", ()),
    ConnectionClosed: lambda d, e: ("on_disconnect_event", ()),
    XclientRequest: lambda d, e: ("on_xclient_event", (dict(e.attributes),)),
}
_AFTER: Final[dict[type[Event], Callable[[HookDriver, Any, Outcome], None]]] = {
    ProxyHeaderReceived: HookDriver._after_proxy,
    ConnectionOpened: HookDriver._after_connect,
    Helo: HookDriver._after_helo,
    AuthCredentials: HookDriver._after_auth,
    MailFrom: HookDriver._after_mail,
    RcptTo: HookDriver._after_rcpt,
    DataStart: HookDriver._after_data,
    MessageChunk: HookDriver._after_content,
    HeadersComplete: HookDriver._after_content,
    MessageReceived: HookDriver._after_message,
    RecipientDelivery: HookDriver._after_delivery,
    UnknownCommand: HookDriver._after_unknown,
    StartTlsRequest: HookDriver._after_starttls,
    XclientRequest: HookDriver._after_xclient,
    CommandRejected: HookDriver._after_rejected,
    SessionReset: HookDriver._after_reset,
    ConnectionClosed: HookDriver._after_closed,
}


def _name_client(server: ServerContext, attributes: tuple[tuple[str, str], ...]) -> None:
    """ctx after an accepted XCLIENT: the client and the address it reached, as named;
    what the front end did not know ("[UNAVAILABLE]") stays as it was."""
    if not server.xclient_ip:
        server.xclient_ip, server.xclient_port = server.remote_ip, server.remote_port
    server.xclient = attributes
    known = {name: value for name, value in attributes if not value.startswith("[")}
    if "ADDR" in known:
        server.remote_ip = server.remote_host = known["ADDR"]
    if "NAME" in known:
        server.remote_host = known["NAME"]
    if "PORT" in known:
        server.remote_port = int(known["PORT"])
    if "DESTADDR" in known:
        server.local_ip = known["DESTADDR"]
    if "DESTPORT" in known:
        server.local_port = int(known["DESTPORT"])
