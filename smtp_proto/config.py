"""Configuration of the core: limits, CRLF, AUTH and TLS modes, extensions.

All frozen and checked on creation; derive variants with `dataclasses.replace`.
Ports, hosts, time-outs and certificates belong to the transports, not here.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Final

from smtp_proto.proxy import ProxyVersion
from smtp_proto.state import VERBS

MECHANISMS: Final = ("PLAIN", "LOGIN", "CRAM-MD5")
# In `ServerConfig.extension_verbs`: every verb SMTP does not define reaches the application.
ANY_VERB: Final = "*"
_VERB: Final = re.compile(r"[A-Z][A-Z0-9-]{0,19}")


class CrlfMode(enum.Enum):
    """How line endings inside message text are treated (only CRLF.CRLF ends DATA)."""

    ENSURE = "ensure"  # a line ending in a bare LF becomes a CRLF line
    LEAVE = "leave"  # bytes are kept as sent
    STRICT = "strict"  # a bare CR or LF refuses the message after end of data: 550 5.6.0


class AuthMode(enum.Enum):
    """Whether AUTH is offered, and whether MAIL needs it first (530 5.7.0)."""

    FORBIDDEN = "forbidden"
    OPTIONAL = "optional"
    REQUIRED = "required"


class TlsMode(enum.Enum):
    """Whether STARTTLS is offered, and whether mail needs it first (530 5.7.0)."""

    FORBIDDEN = "forbidden"
    OPTIONAL = "optional"
    REQUIRED = "required"


# The shortest line each limit must let through: "DATA<CRLF>", a bare CRLF.
_LEAST: Final = {"command_line": 6, "line_buffer": 6, "auth_line": 2, "text_line": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on what one session may make the server hold or do; each at least 1."""

    command_line: int = 512  # octets incl. CRLF, RFC 5321 4.5.3.1.4, plus extension allowances
    auth_line: int = 12288  # octets incl. CRLF, RFC 4954 4
    line_buffer: int = 16384  # a command line with no CRLF past this gets 421 and close
    text_line: int = 1000  # octets incl. CRLF, RFC 5321 4.5.3.1.6
    message_size: int = 32 * 1024 * 1024  # octets of message content (SIZE)
    # Octets of the header block kept for HeadersComplete; a longer block is not refused.
    header_block: int = 1024 * 1024
    recipients: int = 1000  # RFC 5321 4.5.3.1.8 asks for at least 100
    unknown_commands: int = 10
    errors: int = 20  # 4xx/5xx replies per session before 421 and close
    auth_failures: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            least = _LEAST.get(f.name, 1)
            if getattr(self, f.name) < least:
                raise ValueError(f"Limits.{f.name} must be at least {least}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """What one `ServerConnection` offers and enforces."""

    hostname: str = "localhost"
    greeting: str = "ESMTP smtp-proto ready"
    limits: Limits = field(default_factory=Limits)
    crlf_mode: CrlfMode = CrlfMode.ENSURE
    lmtp: bool = False  # LHLO instead of HELO/EHLO, one reply per recipient (RFC 2033)
    pipelining: bool = True
    size: bool = True
    eightbitmime: bool = True
    smtputf8: bool = True
    enhanced_status_codes: bool = True
    chunking: bool = True
    binarymime: bool = True  # needs chunking
    dsn: bool = True
    vrfy: bool = True  # VRFY answers 252; off: 502
    auth_mode: AuthMode = AuthMode.FORBIDDEN
    auth_mechanisms: tuple[str, ...] = MECHANISMS
    auth_plaintext: bool = False  # offer AUTH before STARTTLS although TLS is available
    tls_mode: TlsMode = TlsMode.FORBIDDEN
    # Verbs SMTP does not define that the application answers (`UnknownCommand`), after
    # the checks every command passes; others get 500 5.5.2 from the core. `ANY_VERB`: all.
    extension_verbs: frozenset[str] = frozenset()
    # A PROXY header (HAProxy's protocol) must come first, of this version; None: none.
    proxy_protocol: ProxyVersion | None = None
    proxy_max_tlvs: int = 2048  # octets of v2 TLVs taken at most
    # The peers whose PROXY headers are believed (CIDR); any other peer is closed unanswered.
    # Loopback alone by default: a load balancer on another host must be named.
    proxy_trusted: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # The peers that may send XCLIENT (CIDR), to whom EHLO offers it; none by default. A
    # handler's own `on_xclient_event` may take it from others (and refuse it to these).
    xclient_trusted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.hostname or not self.hostname.isascii() or not self.hostname.isprintable():
            raise ValueError("hostname must be printable ASCII")
        if " " in self.hostname:
            raise ValueError("hostname must not contain spaces")
        if not self.greeting.isascii() or not self.greeting.isprintable():
            raise ValueError("greeting must be printable ASCII")
        unknown = set(self.auth_mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"unknown AUTH mechanisms: {sorted(unknown)}")
        if self.auth_mode is not AuthMode.FORBIDDEN and not self.auth_mechanisms:
            raise ValueError("AUTH needs at least one mechanism")
        self._check_extension_verbs()
        if self.proxy_max_tlvs < 0:
            raise ValueError("proxy_max_tlvs must be at least 0")
        for name in ("proxy_trusted", "xclient_trusted"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            for network in getattr(self, name):
                ipaddress.ip_network(network)  # ValueError names a bad one
        if self.binarymime and not self.chunking:
            raise ValueError("BINARYMIME needs CHUNKING")

    def _check_extension_verbs(self) -> None:
        given: object = self.extension_verbs  # typed a frozenset; a str would pass as one
        if isinstance(given, str):
            raise TypeError("extension_verbs is a set of verbs, not a string")
        # A set or list given is kept as a frozenset: the config stays hashable.
        object.__setattr__(self, "extension_verbs", frozenset(self.extension_verbs))
        for verb in self.extension_verbs:
            # XCLIENT is the application's unless the session takes it itself (xclient_trusted).
            defined = verb in VERBS and verb != "XCLIENT"
            if verb != ANY_VERB and (not _VERB.fullmatch(verb) or defined):
                raise ValueError(
                    f"extension verb {verb!r}: not an upper-case word, or a verb SMTP defines"
                )
