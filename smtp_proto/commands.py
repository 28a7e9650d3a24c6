"""Protocol status and the handling of each command line.

A handler answers the command itself (a reply) or returns the `Decision` the application
owes; it never touches bytes beyond queueing replies. `ServerConnection` builds on this.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from smtp_proto import replies
from smtp_proto.address import AddressError, parse_mailbox, split_path
from smtp_proto.bdat import ChunkReader, parse_bdat
from smtp_proto.config import ANY_VERB, AuthMode, ServerConfig, TlsMode
from smtp_proto.config_values import ConfigValues
from smtp_proto.data import DataReader
from smtp_proto.ehlo import auth_offered, mechanisms
from smtp_proto.events import (
    AuthCredentials,
    CommandRejected,
    DataStart,
    Decision,
    Event,
    Helo,
    MailFrom,
    RcptTo,
    SessionReset,
    StartTlsRequest,
    UnknownCommand,
    XclientRequest,
)
from smtp_proto.params import Body, MailParams, ParamError, parse_mail_params, parse_rcpt_params
from smtp_proto.replies import Reply
from smtp_proto.sasl import Challenge, SaslError, SaslExchange
from smtp_proto.state import (
    BEFORE_TLS,
    EXTENDED_ONLY,
    LEGAL,
    TRANSITIONS,
    VERBS,
    Move,
    State,
    Verb,
)
from smtp_proto.xclient import XclientError, read_attributes

Handled = Decision | None  # a decision to answer, or None: the command was answered


# TRANSITIONS by move, each with CLOSED -> CLOSED: one lookup per transition, no tuple.
_NEXT: Final[dict[Move, dict[State, State]]] = {
    move: {State.CLOSED: State.CLOSED}
    | {origin: target for (origin, by), target in TRANSITIONS.items() if by is move}
    for move in Move
}


class Commands:
    """Protocol status of one session and a handler per verb."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        encrypted: bool,
        nonce: Callable[[], str] | None,
        xclient: bool = False,
    ) -> None:
        self.config = config
        self._nonce = nonce
        # XCLIENT: 0 not taken, TAKEN, or OFFERED (taken, and named in EHLO). One attribute:
        # past 30 attributes CPython 3.11 stops keeping them inline, and every attribute
        # access of the core gets slower (+5% instructions a message when it happened).
        self._xclient = XCLIENT_TAKEN if xclient else 0
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._state = State.GREETING
        self._encrypted = encrypted
        self._extended = False  # EHLO/LHLO rather than HELO
        # RFC 2034 4: enhanced codes on every reply, EHLO or not, except the greeting and
        # the answers to HELO/EHLO.
        self._esc = config.enhanced_status_codes
        self._authenticated = False
        self._mail: MailParams | None = None
        self._rcpts: list[str] = []
        self._reader: DataReader | ChunkReader | None = None
        self._chunk: tuple[int, bool] = (0, False)  # the BDAT chunk a DataStart is about
        self._skip_octets = 0  # octets of a refused BDAT chunk still to discard
        self._sasl: SaslExchange | None = None
        self._errors = 0
        self._unknown = 0
        self._auth_failures = 0
        self._values = ConfigValues.of(config)
        self._max_line = self._values.max_line

    # Output -------------------------------------------------------------------------------

    def _move(self, move: Move) -> None:
        """Take the transition `TRANSITIONS` gives for `move`; a closed session stays closed.

        A move the table lacks raises KeyError: a bug in the core, never the client's doing.
        """
        self._state = _NEXT[move][self._state]

    def _send(self, reply: Reply, *, budget: bool = True, enhanced: bool = True) -> Reply:
        """Queue a reply, spending the error budget (unless `budget` is False: LMTP replies
        per recipient after the first); a 421 or 221 closes. Returns what was sent."""
        if self._state is State.CLOSED:
            return reply
        code = reply.code
        if code >= 400 and budget and code != 421:
            self._errors += 1
            if self._errors > self.config.limits.errors:
                reply = replies.TOO_MANY_ERRORS
        self._out += reply.to_bytes(enhanced=self._esc and enhanced)
        if reply.code in (421, 221):  # Reply.closes
            self._state = State.CLOSED
        return reply

    def _refuse(
        self, command: str, reply: Reply, *, budget: bool = True, enhanced: bool = True
    ) -> None:
        """The core answers a command with an error and tells the application."""
        sent = self._send(reply, budget=budget, enhanced=enhanced)
        self._events.append(CommandRejected(command=command, reply=sent))

    def _reset_transaction(self, reason: str, *, full: bool = False) -> None:
        self._mail = None
        self._rcpts = []
        self._reader = None
        reset = _RESETS.get((reason, full))
        self._events.append(reset if reset is not None else SessionReset(reason=reason, full=full))

    # Dispatch -----------------------------------------------------------------------------

    def _command(self, raw: bytes, length: int) -> Handled:
        """One command line (without its line ending); `length` counts the ending too."""
        if self._state is State.AUTH:
            return self._auth_response(raw, length)
        text = raw.decode("utf-8", "surrogateescape")
        word, _, arg = text.partition(" ")
        name = word.upper() if word.isascii() else ""
        verb = VERBS.get(name)
        if verb is _XCLIENT and not self._xclient:
            verb = None  # as any verb SMTP does not define
        known = name if verb is not None else ""  # the first word may hold control bytes
        if length > self._values.line_limits.get(verb, self.config.limits.command_line):
            self._refuse(known, replies.LINE_TOO_LONG)
            return None
        if b"\0" in raw or b"\r" in raw or b"\n" in raw:
            self._refuse(known, replies.BAD_CHARACTER)
            return None
        if verb is None or ((verb is Verb.LHLO) is not self.config.lmtp and verb in _GREETINGS):
            if self._state is State.REFUSED:  # RFC 5321 3.1: 503 to anything but QUIT
                self._refuse("", replies.BAD_SEQUENCE)
                return None
            if verb is None and self._is_extension(name):
                return self._extension_command(name, raw)
            return self._unknown_command(name)
        return self._dispatch(verb, arg.rstrip(" "))

    def _dispatch(self, verb: Verb, arg: str) -> Handled:
        reply = self._refusal(verb)
        if reply is not None:
            if verb is Verb.BDAT and self._silent_last_chunk(arg):
                return None
            # RFC 2034 4: answers to HELO/EHLO carry no enhanced code.
            self._refuse(verb.value, reply, enhanced=verb not in _GREETINGS)
            if verb is Verb.BDAT:
                self._skip_chunk(arg)  # RFC 3030 2: a refused BDAT still owns its octets
            return None
        return _HANDLERS[verb](self, arg)

    def _refusal(self, verb: Verb) -> Reply | None:
        """The reply for a verb the session's state does not take, or None."""
        if self._state is State.REFUSED and verb is not Verb.QUIT:
            return replies.BAD_SEQUENCE
        if (
            self.config.tls_mode is TlsMode.REQUIRED
            and not self._encrypted
            and verb not in BEFORE_TLS
        ):
            return replies.TLS_REQUIRED
        if verb is not Verb.QUIT and verb not in LEGAL.get(self._state, _NONE):
            return self._sequence_reply(verb)
        if verb in EXTENDED_ONLY and not self._extended:
            return replies.BAD_SEQUENCE
        return None

    def _sequence_reply(self, verb: Verb) -> Reply:
        if self._state is State.HELO:
            return replies.NEED_HELO
        if verb is Verb.MAIL and self._state in (State.MAIL, State.RCPT, State.CHUNKING):
            return replies.NESTED_MAIL
        if verb is Verb.DATA and self._state is State.CHUNKING:
            return replies.DATA_AFTER_BDAT
        if verb in (Verb.RCPT, Verb.DATA, Verb.BDAT) and self._state is not State.CHUNKING:
            return replies.NEED_MAIL if self._state is State.READY else replies.NEED_RCPT
        return replies.BAD_SEQUENCE

    def _unknown_command(self, name: str) -> Handled:
        """A verb no one here knows: 500 5.5.2, and 421 past the limit (a scan, or not SMTP)."""
        self._unknown += 1
        too_many = self._unknown > self.config.limits.unknown_commands
        self._refuse(name, replies.TOO_MANY_UNKNOWN if too_many else replies.UNRECOGNIZED)
        return None

    def _is_extension(self, name: str) -> bool:
        verbs = self.config.extension_verbs
        return name in verbs or ANY_VERB in verbs

    def _extension_command(self, name: str, raw: bytes) -> Handled:
        """A verb the application takes: it first passes the checks every command passes."""
        if name not in self.config.extension_verbs:  # heard through ANY_VERB: still unknown
            self._unknown += 1
            if self._unknown > self.config.limits.unknown_commands:
                self._refuse(name, replies.TOO_MANY_UNKNOWN)
                return None
        reply = None
        if self.config.tls_mode is TlsMode.REQUIRED and not self._encrypted:
            reply = replies.TLS_REQUIRED
        elif self._state is State.HELO:
            reply = replies.NEED_HELO
        elif self.config.auth_mode is AuthMode.REQUIRED and not self._authenticated:
            reply = replies.AUTH_REQUIRED
        if reply is not None:
            self._refuse(name, reply)
            return None
        return UnknownCommand(verb=name, line=raw.decode("utf-8", "replace"))

    # Session commands ---------------------------------------------------------------------

    def _helo(self, arg: str, verb: Verb) -> Handled:
        hostname = arg.strip()
        if not hostname or " " in hostname:
            self._refuse(verb.value, replies.NEED_DOMAIN, enhanced=False)
            return None
        return Helo(hostname=hostname, extended=verb is not Verb.HELO, lmtp=verb is Verb.LHLO)

    def _rset(self, arg: str) -> Handled:
        if arg:
            self._refuse("RSET", replies.NO_ARGUMENTS_ALLOWED)
            return None
        self._send(replies.RESET_OK)
        self._move(Move.RESET)
        self._reset_transaction("RSET")
        return None

    def _noop(self, arg: str) -> Handled:
        self._send(replies.NOOP_OK)  # RFC 5321 4.1.1.9: a parameter is allowed and ignored
        return None

    def _quit(self, arg: str) -> Handled:
        if arg:
            self._refuse("QUIT", replies.NO_ARGUMENTS_ALLOWED)
            return None
        self._send(replies.CLOSING)
        return None

    def _vrfy(self, arg: str) -> Handled:
        if not arg:
            self._refuse("VRFY", replies.BAD_SYNTAX)
        elif not self.config.vrfy:
            self._refuse("VRFY", replies.NOT_IMPLEMENTED)
        else:
            self._send(replies.CANNOT_VRFY)
        return None

    def _expn(self, arg: str) -> Handled:
        self._refuse("EXPN", replies.NO_EXPN)
        return None

    def _help(self, arg: str) -> Handled:
        self._send(replies.HELP)
        return None

    # Mail transaction ---------------------------------------------------------------------

    def _keywords(self) -> frozenset[str]:
        if not self._extended:
            return frozenset()  # RFC 5321 4.1.1.2: no parameters after HELO
        return self._values.keywords(encrypted=self._encrypted)

    def _mail_from(self, arg: str) -> Handled:
        if self.config.auth_mode is AuthMode.REQUIRED and not self._authenticated:
            self._refuse("MAIL", replies.AUTH_REQUIRED)
            return None
        try:
            path, text = split_path(arg, "FROM")
            params = parse_mail_params(text, self._keywords())
            address = parse_mailbox(path, kind="MAIL", utf8=params.smtputf8)
        except (AddressError, ParamError) as err:
            self._refuse("MAIL", err.reply)
            return None
        if params.size is not None and params.size > self.config.limits.message_size:
            self._refuse("MAIL", replies.MESSAGE_TOO_BIG)  # RFC 1870 6.1
            return None
        return MailFrom(address=address, params=params)

    def _rcpt_to(self, arg: str) -> Handled:
        if len(self._rcpts) >= self.config.limits.recipients:
            self._refuse("RCPT", replies.TOO_MANY_RECIPIENTS)  # RFC 5321 4.5.3.1.10
            return None
        utf8 = self._mail is not None and self._mail.smtputf8
        try:
            path, text = split_path(arg, "TO")
            params = parse_rcpt_params(text, self._keywords())
            address = parse_mailbox(path, kind="RCPT", utf8=utf8)
        except (AddressError, ParamError) as err:
            self._refuse("RCPT", err.reply)
            return None
        return RcptTo(address=address, params=params)

    def _data(self, arg: str) -> Handled:
        if arg:
            self._refuse("DATA", replies.NO_ARGUMENTS_ALLOWED)
            return None
        if self._mail is not None and self._mail.body is Body.BINARY_MIME:
            self._refuse("DATA", replies.NEED_BDAT)  # RFC 3030 3
            return None
        return _DATA_START

    def _bdat(self, arg: str) -> Handled:
        if not self.config.chunking:
            self._refuse("BDAT", replies.NOT_IMPLEMENTED)
            self._skip_chunk(arg)  # its octets are still never read as commands
            return None
        parsed = parse_bdat(arg)
        if parsed is None:
            self._refuse("BDAT", replies.BAD_BDAT)
            return None
        self._chunk = parsed
        if self._state is State.CHUNKING:
            self._start_chunk()
            return None
        return _BDAT_START

    def _start_chunk(self) -> None:
        if not isinstance(self._reader, ChunkReader):
            limits = self.config.limits
            self._reader = ChunkReader(limits.message_size, limits.header_block)
        self._reader.start_chunk(self._chunk[0], last=self._chunk[1])
        self._move(Move.CHUNK)

    def _silent_last_chunk(self, arg: str) -> bool:
        """RFC 2033 4.3: over LMTP, BDAT LAST with no recipient accepted gets one reply per
        recipient, so none; the chunk is discarded and the transaction is over."""
        if not self.config.lmtp or self._state is not State.MAIL:
            return False
        parsed = parse_bdat(arg)
        if parsed is None or not parsed[1]:
            return False  # a chunk before the last one still gets its one reply (503)
        self._skip_octets = parsed[0]
        self._move(Move.RESET)
        self._reset_transaction("MESSAGE")
        return True

    def _skip_chunk(self, arg: str) -> None:
        """A refused BDAT still owns its octets: they are never read as commands."""
        parsed = parse_bdat(arg)
        if parsed is not None:
            self._skip_octets = parsed[0]

    # AUTH and STARTTLS --------------------------------------------------------------------

    def _auth(self, arg: str) -> Handled:
        config = self.config
        if config.auth_mode is AuthMode.FORBIDDEN:
            self._refuse("AUTH", replies.AUTH_NOT_AVAILABLE)
            return None
        if self._authenticated:
            self._refuse("AUTH", replies.AUTH_ALREADY)  # RFC 4954 4
            return None
        if not auth_offered(config, encrypted=self._encrypted):
            self._refuse("AUTH", replies.AUTH_NEEDS_TLS)
            return None
        name, _, initial = arg.strip().partition(" ")
        name = name.upper()
        if not name:
            self._refuse("AUTH", replies.BAD_SYNTAX)
            return None
        if name not in mechanisms(config, cram_md5=self._nonce is not None):
            self._refuse("AUTH", replies.AUTH_UNKNOWN_MECHANISM)
            return None
        nonce = self._nonce() if self._nonce is not None and name == "CRAM-MD5" else ""
        self._sasl = SaslExchange(name, hostname=config.hostname, nonce=nonce)
        try:
            step = self._sasl.begin(initial.strip() or None)
        except SaslError as err:
            return self._auth_failed(err.reply)
        return self._sasl_step(step)

    def _auth_response(self, raw: bytes, length: int) -> Handled:
        if self._sasl is None:
            raise AssertionError("AUTH state without an exchange")
        if length > self.config.limits.auth_line:
            return self._auth_failed(replies.AUTH_LINE_TOO_LONG)
        try:
            step = self._sasl.respond(raw.decode("utf-8", "surrogateescape"))
        except SaslError as err:
            return self._auth_failed(err.reply)
        return self._sasl_step(step)

    def _sasl_step(self, step: Challenge | AuthCredentials) -> Handled:
        if isinstance(step, Challenge):
            self._out += f"334 {step.text}\r\n".encode("ascii")
            self._move(Move.SASL_CHALLENGE)
            return None
        self._sasl = None
        self._move(Move.SASL_END)
        return step

    def _auth_failed(self, reply: Reply) -> Handled:
        """A failed exchange or refused credentials; the failure budget ends the session."""
        self._sasl = None
        self._move(Move.SASL_END)
        if reply is not replies.AUTH_CANCELLED:
            self._auth_failures += 1
            if self._auth_failures > self.config.limits.auth_failures:
                reply = replies.TOO_MANY_AUTH_FAILURES
        self._refuse("AUTH", reply)
        return None

    def _xclient_command(self, arg: str) -> Handled:
        try:
            return XclientRequest(attributes=read_attributes(arg))
        except XclientError as err:
            self._refuse("XCLIENT", Reply(501, (str(err),), (5, 5, 4)))
            return None

    def _starttls(self, arg: str) -> Handled:
        if self.config.tls_mode is TlsMode.FORBIDDEN:
            self._refuse("STARTTLS", replies.NOT_IMPLEMENTED)
        elif self._encrypted:
            self._refuse("STARTTLS", replies.TLS_ALREADY)  # RFC 3207 4.2
        elif arg:
            self._refuse("STARTTLS", replies.NO_ARGUMENTS_ALLOWED)  # RFC 3207 4
        else:
            return StartTlsRequest()
        return None


_GREETINGS = frozenset({Verb.HELO, Verb.EHLO, Verb.LHLO})
_XCLIENT: Final = Verb.XCLIENT  # a module global: an Enum attribute costs 8 times more
XCLIENT_TAKEN: Final = 1
XCLIENT_OFFERED: Final = 2
# Events without per-command data are values: one of each serves every session.
_DATA_START: Final = DataStart(bdat=False)
_BDAT_START: Final = DataStart(bdat=True)
_RESETS: Final = {
    (reason, full): SessionReset(reason=reason, full=full)
    for reason in ("RSET", "HELO", "EHLO", "LHLO", "STARTTLS", "XCLIENT", "MESSAGE")
    for full in (False, True)
}
_NONE: frozenset[Verb] = frozenset()

_HANDLERS: dict[Verb, Callable[[Commands, str], Handled]] = {
    Verb.HELO: lambda c, a: c._helo(a, Verb.HELO),
    Verb.EHLO: lambda c, a: c._helo(a, Verb.EHLO),
    Verb.LHLO: lambda c, a: c._helo(a, Verb.LHLO),
    Verb.MAIL: Commands._mail_from,
    Verb.RCPT: Commands._rcpt_to,
    Verb.DATA: Commands._data,
    Verb.BDAT: Commands._bdat,
    Verb.RSET: Commands._rset,
    Verb.NOOP: Commands._noop,
    Verb.QUIT: Commands._quit,
    Verb.VRFY: Commands._vrfy,
    Verb.EXPN: Commands._expn,
    Verb.HELP: Commands._help,
    Verb.AUTH: Commands._auth,
    Verb.STARTTLS: Commands._starttls,
    Verb.XCLIENT: Commands._xclient_command,
}
