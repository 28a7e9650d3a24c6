"""Events: what the client did, as the core saw it.

A `Decision` must be answered with `accept()` or `reject()` before the core goes on;
every other event is a notice. Events are immutable values and never touch I/O.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final

from smtp_proto.params import MailParams, RcptParams
from smtp_proto.proxy import ProxyHeader
from smtp_proto.replies import Reply


class Signal(enum.Enum):
    """What `next_event()` returns when it has no event."""

    NEED_DATA = enum.auto()  # feed more bytes with receive_data()
    PAUSED = enum.auto()  # answer the pending decision first


NEED_DATA: Final = Signal.NEED_DATA
PAUSED: Final = Signal.PAUSED


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something the client did, as the core saw it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(Event):
    """An event the application must answer with accept() or reject()."""


# Decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHeaderReceived(Decision):
    """The PROXY header a load balancer sent first (`ServerConfig.proxy_protocol`): accept to
    go on to `ConnectionOpened` and the greeting; reject to close with nothing sent. Both
    take no reply. A malformed header closes the connection before this, unanswered."""

    header: ProxyHeader


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened(Decision):
    """A client connected: accept to greet it (220), reject to refuse it (554 by default)."""

    encrypted: bool = False  # implicit TLS (RFC 8314): encrypted from the first byte


@dataclass(frozen=True, slots=True, kw_only=True)
class Helo(Decision):
    """HELO, EHLO or (LMTP) LHLO; accept sends 250 (with capabilities after EHLO/LHLO)."""

    hostname: str  # the client's domain or address literal, as sent
    extended: bool  # EHLO or LHLO
    lmtp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthCredentials(Decision):
    """A completed SASL exchange; accept sends 235 2.7.0, reject 535 5.7.8 by default.

    For PLAIN and LOGIN `secret` is the password. For CRAM-MD5 it is the client's hex
    digest of `challenge`: use `verify(password)` to check it.
    """

    mechanism: str
    authorization_id: str  # empty when the client asked for no other identity
    authentication_id: str
    secret: str = field(repr=False)
    challenge: bytes = field(default=b"", repr=False)

    def verify(self, password: str) -> bool:
        """Whether `password` matches, compared in constant time."""
        if self.mechanism == "CRAM-MD5":
            key = password.encode("utf-8")
            expected = hmac.new(key, self.challenge, hashlib.md5).hexdigest()
            return hmac.compare_digest(expected, self.secret.lower())
        return hmac.compare_digest(password.encode("utf-8"), self.secret.encode("utf-8"))


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFrom(Decision):
    """MAIL FROM; accept sends 250 2.1.0."""

    address: str  # no angle brackets, case kept; "" for the null reverse-path <>
    params: MailParams = field(default_factory=MailParams)


@dataclass(frozen=True, slots=True, kw_only=True)
class RcptTo(Decision):
    """RCPT TO; accept sends 250 2.1.5."""

    address: str  # no angle brackets, case kept, source route dropped
    params: RcptParams = field(default_factory=RcptParams)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataStart(Decision):
    """DATA, or the first BDAT of a transaction; accept sends 354 (DATA) or reads the chunk."""

    bdat: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(Decision):
    """The whole message arrived; accept sends the 250 that commits delivery.

    In LMTP mode a rejection is repeated for each recipient; after an accept, one
    `RecipientDelivery` per recipient follows.
    """

    size: int  # octets of content as handed out in MessageChunk events


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientDelivery(Decision):
    """LMTP (RFC 2033): the reply for one recipient after the end of data."""

    address: str
    index: int  # position among the accepted recipients, from 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownCommand(Decision):
    """A verb `ServerConfig.extension_verbs` names (SMTP does not define it), after the
    checks every command passes; reject (500 5.5.2 by default) or accept with a `Reply`.
    Other verbs SMTP does not define never come here: the core answers 500 5.5.2."""

    verb: str  # upper-cased first word
    line: str  # the whole line without CRLF, undecodable bytes replaced


@dataclass(frozen=True, slots=True, kw_only=True)
class XclientRequest(Decision):
    """XCLIENT from a client the session takes it from (`ServerConnection(xclient=True)`):
    accept with its new 220 greeting (the default one when no reply is given) to start the
    session over as that client; reject (550 5.7.0 by default) to refuse it."""

    attributes: tuple[tuple[str, str], ...]  # (NAME, value), decoded (smtp_proto.xclient)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTlsRequest(Decision):
    """STARTTLS; accept sends 220 and then `BeginTls`, reject sends 454 4.7.0 by default."""


# Notices ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageChunk(Event):
    """A slice of message content, dot-unstuffed and line endings handled per CRLF mode."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadersComplete(Event):
    """The blank line after the header block passed; `headers` excludes that blank line."""

    headers: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginTls(Event):
    """Run the TLS handshake now (the 220 is queued), then call tls_established()."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRejected(Event):
    """The core itself answered a command with an error (syntax, order, limits)."""

    command: str  # the verb, or "DATA"/"BDAT" for content refused after the end of data
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReset(Event):
    """The mail transaction was cleared; `full` also cleared HELO and AUTH (STARTTLS)."""

    reason: str  # "RSET", "HELO", "EHLO", "LHLO", "STARTTLS", "XCLIENT", "MESSAGE"
    full: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The session is over: nothing more will be read; send what data_to_send() holds."""

    by_client: bool  # the client closed (or vanished) rather than QUIT or a 421
