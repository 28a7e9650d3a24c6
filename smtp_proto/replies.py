"""SMTP replies: the `Reply` value and every reply the core sends, by name.

Nothing here parses client input; tests assert against these same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

Enhanced = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: a code, one or more text lines and an optional enhanced code.

    Raises `ValueError` for a code outside 200..599, an empty line list, or text that
    is not printable ASCII (no CR or LF, so a hook cannot inject extra replies).
    """

    code: int
    lines: tuple[str, ...]
    enhanced: Enhanced | None = None
    # The wire forms once built (plain, with the enhanced code): replies are sent often.
    _wire: list[bytes | None] = field(
        default_factory=lambda: [None, None], init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"reply code {self.code} is outside 200..599")
        if not self.lines:
            raise ValueError("a reply needs at least one line")
        text = "".join(self.lines)  # one check for all lines: EHLO replies have many
        if not text.isascii() or not text.isprintable():
            bad = next(line for line in self.lines if not (line.isascii() and line.isprintable()))
            raise ValueError(f"reply text must be printable ASCII: {bad!r}")
        if self.enhanced is not None:
            cls, subject, detail = self.enhanced
            if cls != self.code // 100 or not (0 <= subject <= 999 and 0 <= detail <= 999):
                raise ValueError(f"enhanced code {self.enhanced} does not fit {self.code}")

    @property
    def closes(self) -> bool:
        """True for 421 and 221: the server closes the connection after sending it."""
        return self.code in (421, 221)

    @property
    def is_error(self) -> bool:
        """True for a 4xx or 5xx reply."""
        return self.code >= 400

    def to_bytes(self, *, enhanced: bool = True) -> bytes:
        """The wire form: `250-` continuation lines, the enhanced code on each line."""
        coded = enhanced and self.enhanced is not None
        wire = self._wire[coded]
        if wire is None:
            prefix = "{}.{}.{} ".format(*self.enhanced) if coded and self.enhanced else ""
            last = len(self.lines) - 1
            out = [
                f"{self.code}{' ' if i == last else '-'}{prefix}{line}\r\n"
                for i, line in enumerate(self.lines)
            ]
            wire = self._wire[coded] = "".join(out).encode("ascii")
        return wire


def _r(code: int, text: str, enhanced: Enhanced | None) -> Reply:
    return Reply(code, (text,), enhanced)


# Greeting and session end (RFC 5321 4.2, 4.1.1.10).
SERVICE_REFUSED: Final = _r(554, "No SMTP service here", (5, 3, 2))
CLOSING: Final = _r(221, "Bye", (2, 0, 0))
SHUTTING_DOWN: Final = _r(421, "Service shutting down, closing transmission channel", (4, 3, 2))
TOO_BUSY: Final = _r(421, "Too many connections, try again later", (4, 3, 2))
TIMEOUT: Final = _r(421, "Timeout, closing transmission channel", (4, 4, 2))
TOO_MANY_ERRORS: Final = _r(421, "Too many errors, closing transmission channel", (4, 7, 0))
TOO_MANY_UNKNOWN: Final = _r(421, "Too many unknown commands, closing connection", (4, 7, 0))
TOO_MANY_AUTH_FAILURES: Final = _r(421, "Too many failed authentications, closing", (4, 7, 0))

# Success.
OK: Final = _r(250, "OK", (2, 0, 0))
SENDER_OK: Final = _r(250, "Sender OK", (2, 1, 0))
RECIPIENT_OK: Final = _r(250, "Recipient OK", (2, 1, 5))
MESSAGE_ACCEPTED: Final = _r(250, "Message accepted", (2, 6, 0))
RESET_OK: Final = _r(250, "Reset OK", (2, 0, 0))
NOOP_OK: Final = _r(250, "OK", (2, 0, 0))
CHUNK_OK: Final = _r(250, "Chunk received", (2, 0, 0))
CANNOT_VRFY: Final = _r(
    252, "Cannot VRFY user, but will accept message and attempt delivery", (2, 5, 2)
)
START_DATA: Final = _r(354, "End data with <CR><LF>.<CR><LF>", None)
HELP: Final = Reply(
    214,
    (
        "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP AUTH STARTTLS",
        "See RFC 5321",
    ),
    (2, 0, 0),
)

# Syntax and sequence (RFC 5321 4.2.2, RFC 3463).
UNRECOGNIZED: Final = _r(500, "Command unrecognized", (5, 5, 2))
LINE_TOO_LONG: Final = _r(500, "Line too long", (5, 5, 6))
BAD_SYNTAX: Final = _r(501, "Syntax error in parameters or arguments", (5, 5, 4))
BAD_ADDRESS_SYNTAX: Final = _r(501, "Syntax error in mailbox address", (5, 1, 3))
BAD_SENDER_SYNTAX: Final = _r(501, "Bad sender address syntax", (5, 1, 7))
BAD_RECIPIENT_SYNTAX: Final = _r(501, "Bad destination mailbox address syntax", (5, 1, 3))
BAD_DOMAIN: Final = _r(501, "Syntax error in domain name", (5, 5, 4))
NO_ARGUMENTS_ALLOWED: Final = _r(501, "No arguments allowed", (5, 5, 4))
NOT_IMPLEMENTED: Final = _r(502, "Command not implemented", (5, 5, 1))
BAD_SEQUENCE: Final = _r(503, "Bad sequence of commands", (5, 5, 1))
NEED_HELO: Final = _r(503, "Send HELO/EHLO first", (5, 5, 1))
NEED_MAIL: Final = _r(503, "Need MAIL before RCPT", (5, 5, 1))
NEED_RCPT: Final = _r(503, "Need RCPT before DATA", (5, 5, 1))
NESTED_MAIL: Final = _r(503, "Sender already specified", (5, 5, 1))
PARAMETER_NOT_IMPLEMENTED: Final = _r(504, "Command parameter not implemented", (5, 5, 4))
UNKNOWN_PARAMETER: Final = _r(555, "Unsupported MAIL/RCPT parameter", (5, 5, 4))
BAD_PARAMETER: Final = _r(501, "Syntax error in MAIL/RCPT parameter", (5, 5, 4))
NO_EXPN: Final = _r(502, "EXPN not available", (5, 5, 1))
UNKNOWN_MAILBOX: Final = _r(550, "Mailbox unavailable", (5, 1, 1))
MAILBOX_NAME_NOT_ALLOWED: Final = _r(553, "Mailbox name not allowed", (5, 1, 3))

# Limits.
MESSAGE_TOO_BIG: Final = _r(552, "Message size exceeds fixed maximum message size", (5, 3, 4))
TOO_MANY_RECIPIENTS: Final = _r(452, "Too many recipients", (4, 5, 3))
TEXT_LINE_TOO_LONG: Final = _r(500, "Line too long in message text", (5, 5, 6))

# Content (RFC 6531, 6152, 3030, 5321 4.1.1.4).
NEED_SMTPUTF8: Final = _r(553, "Address needs the SMTPUTF8 parameter", (5, 6, 7))
EIGHT_BIT_NOT_ALLOWED: Final = _r(554, "8-bit content needs BODY=8BITMIME", (5, 6, 1))
BARE_LINE_ENDING: Final = _r(550, "Bare CR or LF in message text is not allowed", (5, 6, 0))
NEED_BDAT: Final = _r(503, "BODY=BINARYMIME requires BDAT", (5, 5, 1))
DATA_AFTER_BDAT: Final = _r(503, "DATA not allowed after BDAT", (5, 5, 1))
BAD_BDAT: Final = _r(501, "Syntax error in BDAT size", (5, 5, 4))
TRANSACTION_FAILED: Final = _r(554, "Transaction failed", (5, 0, 0))
LOCAL_ERROR: Final = _r(451, "Requested action aborted: local error in processing", (4, 3, 0))

# AUTH (RFC 4954).
AUTH_OK: Final = _r(235, "Authentication successful", (2, 7, 0))
AUTH_FAILED: Final = _r(535, "Authentication credentials invalid", (5, 7, 8))
AUTH_CANCELLED: Final = _r(501, "Authentication cancelled", (5, 0, 0))
AUTH_BAD_BASE64: Final = _r(501, "Invalid base64 data", (5, 5, 2))
AUTH_MALFORMED: Final = _r(501, "Malformed authentication data", (5, 5, 2))
AUTH_UNKNOWN_MECHANISM: Final = _r(504, "Unrecognized authentication mechanism", (5, 5, 4))
AUTH_REQUIRED: Final = _r(530, "Authentication required", (5, 7, 0))
AUTH_NEEDS_TLS: Final = _r(
    538, "Encryption required for requested authentication mechanism", (5, 7, 11)
)
AUTH_ALREADY: Final = _r(503, "Already authenticated", (5, 5, 1))
AUTH_NOT_AVAILABLE: Final = _r(502, "AUTH not available", (5, 5, 1))
AUTH_LINE_TOO_LONG: Final = _r(500, "Authentication line too long", (5, 5, 6))

# STARTTLS (RFC 3207).
READY_FOR_TLS: Final = _r(220, "Ready to start TLS", (2, 0, 0))
TLS_NOT_AVAILABLE: Final = _r(454, "TLS not available", (4, 7, 0))
TLS_REQUIRED: Final = _r(530, "Must issue a STARTTLS command first", (5, 7, 0))

# XCLIENT (Postfix's XCLIENT_README).
XCLIENT_DENIED: Final = _r(550, "XCLIENT not authorized", (5, 7, 0))
TLS_ALREADY: Final = _r(503, "TLS already active", (5, 5, 1))

# Added for the command dispatcher.
BAD_CHARACTER: Final = _r(500, "NUL, bare CR or bare LF in command line", (5, 5, 2))
LINE_NEVER_ENDS: Final = _r(421, "Line too long, closing connection", (4, 7, 0))
NEED_DOMAIN: Final = _r(501, "Domain name required", (5, 5, 4))
HELO_REJECTED: Final = _r(550, "Access denied", (5, 7, 1))
SENDER_REJECTED: Final = _r(550, "Sender rejected", (5, 7, 1))
DELIVERED: Final = _r(250, "Delivered", (2, 1, 5))
