"""Exceptions: replies raised by hooks, and misuse of the core by its caller."""

from __future__ import annotations

from smtp_proto.replies import Enhanced, Reply


class LocalProtocolError(Exception):
    """The caller misused the core (answered twice, fed data after close): a bug to fix.

    The connection is unchanged when this is raised.
    """


class SmtpError(Exception):
    """Raise in a hook to answer with `reply`; `log` goes to the log, never to the client."""

    def __init__(
        self,
        code: int,
        text: str,
        *,
        enhanced: Enhanced | None = None,
        log: str = "",
    ) -> None:
        if not 400 <= code <= 599:
            raise ValueError(f"SmtpError needs a 4xx or 5xx code, not {code}")
        self.reply = Reply(code, (text,), enhanced or (code // 100, 0, 0))
        super().__init__(log or f"{code} {text}")


class FixedSmtpError(SmtpError):
    """Base of the `SmtpdNNNError` classes: code, text and enhanced code are fixed."""

    code: int = 0
    text: str = ""
    enhanced: Enhanced = (0, 0, 0)

    def __init__(self, text: str | None = None, *, log: str = "") -> None:
        super().__init__(self.code, text or self.text, enhanced=self.enhanced, log=log)

# One class per code the seed and RFC 5321 use; `text` may be replaced per raise.


class Smtpd421Error(FixedSmtpError):
    """421 4.3.0 Service not available, closing transmission channel."""

    code, text, enhanced = 421, "Service not available, closing transmission channel", (4, 3, 0)


class Smtpd450Error(FixedSmtpError):
    """450 4.2.0 Requested mail action not taken: mailbox unavailable."""

    code, text, enhanced = 450, "Requested mail action not taken: mailbox unavailable", (4, 2, 0)


class Smtpd451Error(FixedSmtpError):
    """451 4.3.0 Requested action aborted: local error in processing."""

    code, text, enhanced = 451, "Requested action aborted: local error in processing", (4, 3, 0)


class Smtpd452Error(FixedSmtpError):
    """452 4.3.1 Requested action not taken: insufficient system storage."""

    code, text, enhanced = 452, "Requested action not taken: insufficient system storage", (4, 3, 1)


class Smtpd454Error(FixedSmtpError):
    """454 4.7.0 Temporary authentication failure."""

    code, text, enhanced = 454, "Temporary authentication failure", (4, 7, 0)


class Smtpd500Error(FixedSmtpError):
    """500 5.5.2 Syntax error, command unrecognized."""

    code, text, enhanced = 500, "Syntax error, command unrecognized", (5, 5, 2)


class Smtpd501Error(FixedSmtpError):
    """501 5.5.4 Syntax error in parameters or arguments."""

    code, text, enhanced = 501, "Syntax error in parameters or arguments", (5, 5, 4)


class Smtpd502Error(FixedSmtpError):
    """502 5.5.1 Command not implemented."""

    code, text, enhanced = 502, "Command not implemented", (5, 5, 1)


class Smtpd503Error(FixedSmtpError):
    """503 5.5.1 Bad sequence of commands."""

    code, text, enhanced = 503, "Bad sequence of commands", (5, 5, 1)


class Smtpd504Error(FixedSmtpError):
    """504 5.5.4 Command parameter not implemented."""

    code, text, enhanced = 504, "Command parameter not implemented", (5, 5, 4)


class Smtpd521Error(FixedSmtpError):
    """521 5.3.2 Server does not accept mail."""

    code, text, enhanced = 521, "Server does not accept mail", (5, 3, 2)


class Smtpd530Error(FixedSmtpError):
    """530 5.7.0 Authentication required."""

    code, text, enhanced = 530, "Authentication required", (5, 7, 0)


class Smtpd534Error(FixedSmtpError):
    """534 5.7.9 Authentication mechanism is too weak."""

    code, text, enhanced = 534, "Authentication mechanism is too weak", (5, 7, 9)


class Smtpd535Error(FixedSmtpError):
    """535 5.7.8 Authentication credentials invalid."""

    code, text, enhanced = 535, "Authentication credentials invalid", (5, 7, 8)


class Smtpd538Error(FixedSmtpError):
    """538 5.7.11 Encryption required for requested authentication mechanism."""

    code, text, enhanced = 538, "Encryption required for requested authentication mechanism", (5, 7, 11)


class Smtpd550Error(FixedSmtpError):
    """550 5.1.1 Requested action not taken: mailbox unavailable."""

    code, text, enhanced = 550, "Requested action not taken: mailbox unavailable", (5, 1, 1)


class Smtpd551Error(FixedSmtpError):
    """551 5.1.6 User not local."""

    code, text, enhanced = 551, "User not local", (5, 1, 6)


class Smtpd552Error(FixedSmtpError):
    """552 5.3.4 Requested mail action aborted: exceeded storage allocation."""

    code, text, enhanced = 552, "Requested mail action aborted: exceeded storage allocation", (5, 3, 4)


class Smtpd553Error(FixedSmtpError):
    """553 5.1.3 Requested action not taken: mailbox name not allowed."""

    code, text, enhanced = 553, "Requested action not taken: mailbox name not allowed", (5, 1, 3)


class Smtpd554Error(FixedSmtpError):
    """554 5.0.0 Transaction failed."""

    code, text, enhanced = 554, "Transaction failed", (5, 0, 0)


class Smtpd556Error(FixedSmtpError):
    """556 5.1.10 Domain does not accept mail."""

    code, text, enhanced = 556, "Domain does not accept mail", (5, 1, 10)
