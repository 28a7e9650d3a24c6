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
    """Base of the `SmtpdNNNError` classes: the code is fixed; the text and the enhanced
    code have defaults a raise may replace (`Smtpd550Error("Relaying denied",
    enhanced=(5, 7, 1))`). An enhanced code must be of the reply's class: ValueError."""

    code: int = 0
    text: str = ""
    enhanced: Enhanced = (0, 0, 0)

    def __init__(
        self, text: str | None = None, *, enhanced: Enhanced | None = None, log: str = ""
    ) -> None:
        super().__init__(self.code, text or self.text, enhanced=enhanced or self.enhanced, log=log)


# One class per code MidiSmtpServer and RFC 5321 use; `text` may be replaced per raise.


class Smtpd421Error(FixedSmtpError):
    """421 4.3.0 Service not available, closing transmission channel."""

    code = 421
    text = "Service not available, closing transmission channel"
    enhanced = (4, 3, 0)


class Smtpd450Error(FixedSmtpError):
    """450 4.2.0 Requested mail action not taken: mailbox unavailable."""

    code = 450
    text = "Requested mail action not taken: mailbox unavailable"
    enhanced = (4, 2, 0)


class Smtpd451Error(FixedSmtpError):
    """451 4.3.0 Requested action aborted: local error in processing."""

    code = 451
    text = "Requested action aborted: local error in processing"
    enhanced = (4, 3, 0)


class Smtpd452Error(FixedSmtpError):
    """452 4.3.1 Requested action not taken: insufficient system storage."""

    code = 452
    text = "Requested action not taken: insufficient system storage"
    enhanced = (4, 3, 1)


class Smtpd454Error(FixedSmtpError):
    """454 4.7.0 Temporary authentication failure."""

    code = 454
    text = "Temporary authentication failure"
    enhanced = (4, 7, 0)


class Smtpd500Error(FixedSmtpError):
    """500 5.5.2 Syntax error, command unrecognized."""

    code = 500
    text = "Syntax error, command unrecognized"
    enhanced = (5, 5, 2)


class Smtpd501Error(FixedSmtpError):
    """501 5.5.4 Syntax error in parameters or arguments."""

    code = 501
    text = "Syntax error in parameters or arguments"
    enhanced = (5, 5, 4)


class Smtpd502Error(FixedSmtpError):
    """502 5.5.1 Command not implemented."""

    code = 502
    text = "Command not implemented"
    enhanced = (5, 5, 1)


class Smtpd503Error(FixedSmtpError):
    """503 5.5.1 Bad sequence of commands."""

    code = 503
    text = "Bad sequence of commands"
    enhanced = (5, 5, 1)


class Smtpd504Error(FixedSmtpError):
    """504 5.5.4 Command parameter not implemented."""

    code = 504
    text = "Command parameter not implemented"
    enhanced = (5, 5, 4)


class Smtpd521Error(FixedSmtpError):
    """521 5.3.2 Server does not accept mail."""

    code = 521
    text = "Server does not accept mail"
    enhanced = (5, 3, 2)


class Smtpd530Error(FixedSmtpError):
    """530 5.7.0 Authentication required."""

    code = 530
    text = "Authentication required"
    enhanced = (5, 7, 0)


class Smtpd534Error(FixedSmtpError):
    """534 5.7.9 Authentication mechanism is too weak."""

    code = 534
    text = "Authentication mechanism is too weak"
    enhanced = (5, 7, 9)


class Smtpd535Error(FixedSmtpError):
    """535 5.7.8 Authentication credentials invalid."""

    code = 535
    text = "Authentication credentials invalid"
    enhanced = (5, 7, 8)


class Smtpd538Error(FixedSmtpError):
    """538 5.7.11 Encryption required for requested authentication mechanism."""

    code, text, enhanced = (
        538,
        "Encryption required for requested authentication mechanism",
        (5, 7, 11),
    )


class Smtpd550Error(FixedSmtpError):
    """550 5.1.1 Requested action not taken: mailbox unavailable."""

    code = 550
    text = "Requested action not taken: mailbox unavailable"
    enhanced = (5, 1, 1)


class Smtpd551Error(FixedSmtpError):
    """551 5.1.6 User not local."""

    code = 551
    text = "User not local"
    enhanced = (5, 1, 6)


class Smtpd552Error(FixedSmtpError):
    """552 5.3.4 Requested mail action aborted: exceeded storage allocation."""

    code, text, enhanced = (
        552,
        "Requested mail action aborted: exceeded storage allocation",
        (5, 3, 4),
    )


class Smtpd553Error(FixedSmtpError):
    """553 5.1.3 Requested action not taken: mailbox name not allowed."""

    code = 553
    text = "Requested action not taken: mailbox name not allowed"
    enhanced = (5, 1, 3)


class Smtpd554Error(FixedSmtpError):
    """554 5.0.0 Transaction failed."""

    code = 554
    text = "Transaction failed"
    enhanced = (5, 0, 0)


class Smtpd556Error(FixedSmtpError):
    """556 5.1.10 Domain does not accept mail."""

    code = 556
    text = "Domain does not accept mail"
    enhanced = (5, 1, 10)
