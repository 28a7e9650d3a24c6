"""The session context `ctx` that hooks see and may change, and the `Peer` a transport gives.

Plain data only: the session driver fills and resets it; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from smtp_proto.events import AuthCredentials
from smtp_proto.params import NO_MAIL_PARAMS, Body, MailParams, RcptParams
from smtp_proto.proxy import ProxyHeader

CRLF: Final = b"\r\n"

# ctx.envelope.encoding_body for each BODY= value (MidiSmtpServer's spelling; "" when absent).
ENCODING_BODY: Final = {
    Body.SEVEN_BIT: "7bit",
    Body.EIGHT_BIT_MIME: "8bitmime",
    Body.BINARY_MIME: "binarymime",
}


@dataclass(frozen=True, slots=True)
class Peer:
    """Both ends of the connection, as the transport saw them; hosts are names or addresses."""

    local_ip: str
    local_port: int
    local_host: str
    remote_ip: str
    remote_port: int
    remote_host: str


@dataclass(slots=True, kw_only=True)
class ServerContext:
    """`ctx.server`: the connection, the greeting texts, HELO, AUTH and TLS state.

    `local_response` is the text of the 220 greeting and `helo_response` the first line of
    the 250 reply to HELO/EHLO/LHLO; `on_connect_event` (and `on_helo_event` for the latter)
    may change them. CR and LF are stripped; other text must be printable ASCII.
    """

    local_response: str
    helo_response: str
    local_ip: str
    local_host: str
    local_port: int
    remote_ip: str
    remote_host: str
    remote_port: int
    connected: datetime  # UTC, when the session started
    session_id: str
    helo: str = ""  # the client's HELO/EHLO/LHLO argument; "" before and after a full reset
    helo_verb: str = ""  # "HELO", "EHLO" or "LHLO": which one the client used
    # 4xx/5xx replies sent in this session (refused commands, unknown commands, rejections).
    exceptions: int = 0
    authorization_id: str = ""  # the identity the client acts as (RFC 4954)
    authentication_id: str = ""  # the identity whose credentials were checked
    authenticated: datetime | None = None  # UTC, when AUTH succeeded
    encrypted: datetime | None = None  # UTC, when TLS was established
    # The SASL result while on_auth_event runs (None otherwise): for CRAM-MD5 the hook
    # checks a password with `ctx.server.auth_credentials.verify(password)`.
    auth_credentials: AuthCredentials | None = None
    messages: int = 0  # mail transactions that reached DATA/BDAT in this session
    # Behind a load balancer speaking the PROXY protocol: its header, and the load
    # balancer's own address; remote_* and local_* then name the client and the address
    # it connected to, as the header says.
    proxy: ProxyHeader | None = None
    proxy_ip: str = ""
    proxy_port: int = 0
    # After XCLIENT (a trusted front end naming the client, Postfix's extension): the
    # attributes it sent last, and the front end's own address; remote_* and local_* then
    # name the client and the address it connected to, as the attributes say.
    xclient: tuple[tuple[str, str], ...] = ()
    xclient_ip: str = ""
    xclient_port: int = 0


@dataclass(slots=True, kw_only=True)
class EnvelopeContext:
    """`ctx.envelope`: the current mail transaction (MAIL FROM and the RCPT TOs)."""

    mail_from: str = ""  # "" also for the null reverse-path <>
    rcpt_to: list[str] = field(default_factory=list)  # accepted recipients, in order
    encoding_body: str = ""  # "", "7bit", "8bitmime" or "binarymime" (BODY=)
    encoding_utf8: str = ""  # "" or "utf8" (SMTPUTF8)
    mail_params: MailParams = NO_MAIL_PARAMS  # immutable: one empty value serves all
    rcpt_params: list[RcptParams] = field(default_factory=list)  # one per rcpt_to entry


@dataclass(slots=True, kw_only=True)
class MessageContext:
    """`ctx.message`: the message content of the current transaction.

    MidiSmtpServer's single `headers` flag is split in two: `headers_complete` says the blank line
    after the header block has passed, and `headers` holds that block as the client sent
    it (without the blank line and without lines hooks added to `data`).
    """

    queue_id: str = ""  # "<session_id>.<n>", set when DATA/BDAT starts; logs and Received use it
    received: datetime | None = None  # UTC, when message data started
    delivered: datetime | None = None  # UTC, when message data was complete
    headers_complete: bool = False
    headers: bytes = b""
    bytesize: int = 0  # len(data) once the message is complete
    crlf: bytes = CRLF  # the line break used in `data`
    # The content as it arrives; on_message_data_start_event and
    # on_message_data_headers_event may append header lines here.
    data: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class Context:
    """`ctx`: the one mutable thing a hook sees, one per session."""

    server: ServerContext
    envelope: EnvelopeContext = field(default_factory=EnvelopeContext)
    message: MessageContext = field(default_factory=MessageContext)

    def reset(self, *, full: bool = False) -> None:
        """Clear the mail transaction; `full` also clears HELO and AUTH (as after STARTTLS)."""
        self.envelope = EnvelopeContext()
        self.message = MessageContext()
        if full:
            server = self.server
            server.helo = server.helo_verb = ""
            server.authorization_id = server.authentication_id = ""
            server.authenticated = None
