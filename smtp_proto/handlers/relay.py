"""`RelayHandler`: forwards each message to an upstream SMTP or LMTP server with `smtplib`.

Where the forwarding happens: the upstream is asked step by step, while the client waits.
MAIL opens (or reuses) the session's upstream connection and sends MAIL there; each RCPT
is sent upstream before it is answered; the message goes upstream at the end of data, and
the client's reply is the upstream's. So a recipient the upstream refuses is refused to
the client at RCPT time, for that recipient alone, and no 250 ever goes out before the
upstream said 250: nothing is queued here, so nothing can be lost here. Forwarding only at
the end of data would leave no honest answer when the upstream refuses some recipients
of a message the client was told would reach all of them (Postfix calls this design a
before-queue proxy filter).

Replies are mapped so a client never gives up on mail the upstream would take later:

- an upstream 5xx to MAIL, RCPT or the message stays that 5xx, with its text and
  enhanced code; one that refuses the relay itself (its greeting, EHLO, our login) is
  `451 4.4.0`, a setting to fix rather than the mail's fault;
- an upstream 4xx becomes `451 4.4.0`, an unreachable upstream `451 4.4.1`, a lost
  connection, a time-out or a failed TLS handshake `451 4.4.2` (the client tries again);
- with an LMTP upstream and an SMTP client, a message that some recipients took and others
  did not is answered 451: the client sends it again, and a duplicate beats a loss.

Each wait for the upstream is bounded by `timeout` (seconds, per connect and per reply).
TLS certificates are verified against `host` unless an `ssl_context` says otherwise.
The message is held whole (it already is in `ctx.message.data`) and sent with DATA:
BODY=BINARYMIME cannot be relayed, so serve it with `ServerConfig(binarymime=False)`.
DSN parameters are not passed on. Hooks block while the upstream answers: run this
handler on threads or anyio (worker threads), not on gevent, where it would hold the hub.
Thread-safe: one handler serves any number of sessions, each with its own connection.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from typing import Final

from smtp_proto.context import Context
from smtp_proto.errors import SmtpError
from smtp_proto.handler import Handler, MaybeAwaitable
from smtp_proto.handlers.maildir import local_name, received_header
from smtp_proto.params import Body

DEFAULT_TIMEOUT: Final = 60.0
# The longest upstream text passed on (a reply line holds 512 octets, RFC 5321 4.5.3.1.5).
_TEXT_MAX: Final = 400
_ENHANCED: Final = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\s+")


class RelayTls(enum.Enum):
    """How the connection to the upstream is encrypted."""

    STARTTLS = "starttls"  # required: an upstream without STARTTLS gets nothing
    IMPLICIT = "implicit"  # TLS from the first byte (RFC 8314), port 465 by default
    OFF = "off"  # plain text


_DEFAULT_PORTS: Final = {RelayTls.STARTTLS: 25, RelayTls.IMPLICIT: 465, RelayTls.OFF: 25}
LMTP_PORT: Final = 24


def _printable(text: str) -> str:
    """Reply-safe text: printable ASCII, whitespace collapsed, bounded."""
    cleaned = "".join(ch if ch.isascii() and ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())[:_TEXT_MAX] or "(no text)"


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return _printable(text)


def upstream_refusal(code: int, raw: bytes | str) -> SmtpError:
    """The error a client gets for an upstream reply `code raw` that was not a success.

    A 5xx keeps its code, text and enhanced code; anything else becomes 451 4.4.0 with
    the upstream's reply quoted.
    """
    text = _reply_text(raw)
    log = f"upstream said {code} {text}"
    if 500 <= code <= 599:
        found = _ENHANCED.match(text)
        if found and found.group(1) == "5":
            enhanced = (5, int(found.group(2)), int(found.group(3)))
            return SmtpError(code, text[found.end() :] or "Refused", enhanced=enhanced, log=log)
        return SmtpError(code, text, enhanced=(5, 0, 0), log=log)
    return SmtpError(451, f"Upstream server deferred: {code} {text}", enhanced=(4, 4, 0), log=log)


def _unreachable(where: str, err: BaseException) -> SmtpError:
    return SmtpError(
        451,
        "Upstream server unreachable, try again later",
        enhanced=(4, 4, 1),
        log=f"upstream {where} unreachable: {type(err).__name__}: {err}",
    )


def _lost(where: str, err: BaseException) -> SmtpError:
    # smtplib turns a failed read into SMTPServerDisconnected; the cause is its context.
    cause = err.__context__ if isinstance(err, smtplib.SMTPServerDisconnected) else err
    if isinstance(cause, TimeoutError):
        text = "Upstream server timed out, try again later"
    elif isinstance(cause, ssl.SSLError | ssl.CertificateError):
        text = "TLS with the upstream server failed, try again later"
    else:
        text = "Connection to the upstream server lost, try again later"
    return SmtpError(
        451, text, enhanced=(4, 4, 2), log=f"upstream {where}: {type(err).__name__}: {err}"
    )


def _failed_setup(text: str, log: str) -> SmtpError:
    return SmtpError(451, text, enhanced=(4, 4, 0), log=log)


def _helo_name(name: str) -> str:
    """A name for EHLO: an address becomes an address literal (RFC 5321 4.1.3)."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


@dataclass
class _Upstream:
    """One session's connection to the upstream and its open transaction."""

    smtp: smtplib.SMTP
    open: bool = False  # MAIL was sent and the transaction is not finished
    rcpts: list[str] = field(default_factory=list)  # accepted upstream, in order
    deliveries: list[SmtpError | None] = field(default_factory=list)  # per rcpt, for LMTP


class RelayHandler(Handler):
    """Forwards every message to `host`:`port` (see the module docs for how and when).

    `tls`: `RelayTls.STARTTLS` (default; required), `IMPLICIT` or `OFF`; `ssl_context`
    replaces the default verifying one (to trust a private CA, say). `auth`: (user,
    password) to log in upstream. `lmtp`: speak LMTP (port 24 by default; a `host` that
    is a path is a Unix socket). `hostname` names this server in EHLO and in the Received
    header it adds (default: the name its greeting gave, see `local_name`).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: RelayTls | str = RelayTls.STARTTLS,
        ssl_context: ssl.SSLContext | None = None,
        auth: tuple[str, str] | None = None,
        lmtp: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        hostname: str | None = None,
    ) -> None:
        self.tls = RelayTls(tls)
        if lmtp and self.tls is RelayTls.IMPLICIT:
            raise ValueError("an LMTP upstream takes STARTTLS or no TLS, not implicit TLS")
        if not timeout > 0:
            raise ValueError("the upstream time-out must be positive")
        self.host = host
        self.port = port or (LMTP_PORT if lmtp else _DEFAULT_PORTS[self.tls])
        if not 0 < self.port < 65536:
            raise ValueError(f"bad upstream port {self.port}")
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.auth = auth
        self.lmtp = lmtp
        self.timeout = timeout
        self.hostname = hostname
        self._lock = threading.Lock()
        self._sessions: dict[int, _Upstream] = {}  # by id(ctx): one ctx per live session

    @property
    def address(self) -> str:
        """The upstream as host:port (for logs)."""
        return self.host if self.host.startswith("/") else f"{self.host}:{self.port}"

    # Hooks ------------------------------------------------------------------------------

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> MaybeAwaitable[str | None]:
        """Open (or reuse) the upstream connection and send MAIL there first."""
        params = ctx.envelope.mail_params
        if params.body is Body.BINARY_MIME:
            raise SmtpError(555, "BODY=BINARYMIME cannot be relayed", enhanced=(5, 5, 4))
        upstream = self._reusable(ctx)
        if upstream is not None:
            try:
                self._mail(ctx, upstream, mail_from)
                return None
            except SmtpError:
                if self._session(ctx) is not None:  # refused, not disconnected
                    raise
            # The upstream dropped an idle connection: one new try.
        self._mail(ctx, self._connect(ctx), mail_from)
        return None

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> MaybeAwaitable[str | None]:
        """Ask the upstream first: its refusal is this recipient's."""
        upstream = self._open_transaction(ctx)
        code, text = self._command(ctx, upstream, "RCPT", f"TO:<{rcpt_to}>")
        if code not in (250, 251):
            raise upstream_refusal(code, text)
        upstream.rcpts.append(rcpt_to)
        return None

    def on_message_data_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """Send the message with a Received header; answer with what the upstream said."""
        upstream = self._open_transaction(ctx)
        hostname = self.hostname or local_name(ctx)
        content = received_header(ctx, hostname=hostname) + bytes(ctx.message.data)
        results = self._data(ctx, upstream, content)
        if ctx.server.helo_verb == "LHLO":  # an LMTP client hears each recipient's own
            upstream.deliveries = results
            return None
        failed = [r for r in results if r is not None]
        if not failed:
            return None
        permanent = sum(r.reply.code >= 500 for r in failed)
        if len(failed) == len(results) and permanent in (0, len(failed)):
            raise failed[0]  # every recipient alike: the upstream's reply, mapped
        refused = ", ".join(
            f"<{rcpt}>: {r.reply.code}"
            for rcpt, r in zip(upstream.rcpts, results, strict=True)
            if r
        )
        raise SmtpError(
            451,
            "Upstream server did not take the message for every recipient, try again later",
            enhanced=(4, 4, 0),
            log=f"upstream refused {refused}",
        )

    def on_lmtp_delivery_event(
        self, ctx: Context, rcpt_to: str, index: int
    ) -> MaybeAwaitable[None]:
        """An LMTP client's recipient `index` gets the upstream's reply for it."""
        upstream = self._session(ctx)
        if upstream is not None and index < len(upstream.deliveries):
            result = upstream.deliveries[index]
            if result is not None:
                raise result
        return None

    def on_disconnect_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """Say QUIT upstream and close (call it from an override)."""
        self._close(ctx, quit_=True)
        return None

    # The upstream connection ------------------------------------------------------------

    def _session(self, ctx: Context) -> _Upstream | None:
        with self._lock:
            return self._sessions.get(id(ctx))

    def _reusable(self, ctx: Context) -> _Upstream | None:
        """The session's connection, its last transaction ended (RSET when needed)."""
        upstream = self._session(ctx)
        if upstream is None:
            return None
        upstream.rcpts, upstream.deliveries = [], []
        if upstream.open:
            try:
                code, _ = upstream.smtp.rset()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self._close(ctx)
                return None
            upstream.open = False
        return upstream

    def _open_transaction(self, ctx: Context) -> _Upstream:
        upstream = self._session(ctx)
        if upstream is None or not upstream.open:  # e.g. a subclass refused MAIL after us
            raise SmtpError(
                451,
                "Connection to the upstream server lost, try again later",
                enhanced=(4, 4, 2),
                log=f"no open transaction with upstream {self.address}",
            )
        return upstream

    def _connect(self, ctx: Context) -> _Upstream:
        """A new connection, greeted, encrypted and logged in as configured."""
        self._close(ctx)
        try:
            smtp = self._open(_helo_name(self.hostname or local_name(ctx)))
        except smtplib.SMTPConnectError as err:  # it refuses us, not this message
            said = f"{err.smtp_code} {_reply_text(err.smtp_error)}"
            raise _failed_setup(
                f"Upstream server refused the connection: {said}",
                f"upstream {self.address} greeted with {said}",
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            if isinstance(err, TimeoutError | ssl.SSLError | smtplib.SMTPServerDisconnected):
                raise _lost(f"{self.address} at connect", err) from err
            raise _unreachable(self.address, err) from err
        try:
            self._start(smtp)
        except BaseException:
            smtp.close()
            raise
        upstream = _Upstream(smtp)
        with self._lock:
            self._sessions[id(ctx)] = upstream
        self.on_logging_event(ctx, logging.DEBUG, f"connected to upstream {self.address}")
        return upstream

    def _open(self, name: str) -> smtplib.SMTP:
        """A connection, greeted (the constructors connect; TLS checks the host name)."""
        host, port, timeout = self.host, self.port, self.timeout
        if self.lmtp:
            return smtplib.LMTP(host, port, local_hostname=name, timeout=timeout)
        if self.tls is RelayTls.IMPLICIT:
            context = self.ssl_context
            return smtplib.SMTP_SSL(
                host, port, local_hostname=name, timeout=timeout, context=context
            )
        return smtplib.SMTP(host, port, local_hostname=name, timeout=timeout)

    def _start(self, smtp: smtplib.SMTP) -> None:
        """EHLO (LHLO), STARTTLS and AUTH as configured; SmtpError when refused."""
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.tls is RelayTls.STARTTLS:
                if not smtp.has_extn("starttls"):
                    raise _failed_setup(
                        "Upstream server offers no STARTTLS, try again later",
                        f"upstream {self.address} offers no STARTTLS",
                    )
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.auth is not None:
                smtp.login(*self.auth)
        except smtplib.SMTPHeloError as err:
            said = f"{err.smtp_code} {_reply_text(err.smtp_error)}"
            raise _failed_setup(
                f"Upstream server refused our greeting: {said}",
                f"upstream {self.address} refused EHLO: {said}",
            ) from err
        except smtplib.SMTPAuthenticationError as err:
            raise _failed_setup(
                "Upstream server refused our login, try again later",
                f"upstream {self.address} refused AUTH: {err.smtp_code} "
                + _reply_text(err.smtp_error),
            ) from err
        except smtplib.SMTPNotSupportedError as err:
            raise _failed_setup(
                "Upstream server does not offer AUTH, try again later",
                f"upstream {self.address}: {err}",
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            raise _lost(f"{self.address} before MAIL", err) from err

    def _mail(self, ctx: Context, upstream: _Upstream, mail_from: str) -> None:
        options = self._mail_options(ctx, upstream.smtp)
        code, text = self._command(ctx, upstream, "MAIL", f"FROM:<{mail_from}>{options}")
        if code != 250:
            raise upstream_refusal(code, text)
        upstream.open = True

    def _mail_options(self, ctx: Context, smtp: smtplib.SMTP) -> str:
        """MAIL parameters the upstream understands; SmtpError when one is needed but
        not offered."""
        params, options = ctx.envelope.mail_params, []
        if params.size is not None and smtp.has_extn("size"):
            options.append(f"SIZE={params.size}")
        if params.body is Body.EIGHT_BIT_MIME:
            if not smtp.has_extn("8bitmime"):
                raise SmtpError(550, "Upstream server takes no 8-bit mail", enhanced=(5, 6, 3))
            options.append("BODY=8BITMIME")
        if params.smtputf8:
            if not smtp.has_extn("smtputf8"):
                raise SmtpError(553, "Upstream server takes no SMTPUTF8 mail", enhanced=(5, 6, 7))
            smtp.command_encoding = "utf-8"
            options.append("SMTPUTF8")
        else:
            smtp.command_encoding = "ascii"
        return "".join(f" {option}" for option in options)

    def _command(
        self, ctx: Context, upstream: _Upstream, verb: str, args: str
    ) -> tuple[int, bytes]:
        """Send one command; a lost connection is closed and answered 451 4.4.2."""
        try:
            code, text = upstream.smtp.docmd(verb, args)
        except (smtplib.SMTPException, OSError, UnicodeError) as err:
            self._close(ctx)
            raise _lost(f"{self.address} after {verb}", err) from err
        if code == 421:  # the upstream is closing: so do we
            self._close(ctx)
        return code, text

    def _data(self, ctx: Context, upstream: _Upstream, content: bytes) -> list[SmtpError | None]:
        """DATA, the content, and the reply for each recipient (LMTP) or all (SMTP)."""
        smtp, count = upstream.smtp, len(upstream.rcpts)
        replies: list[tuple[int, bytes | str]]
        try:
            replies = [smtp.data(content)]
            if self.lmtp:  # RFC 2033 4.2: one reply per accepted recipient
                replies += [smtp.getreply() for _ in range(count - 1)]
        except smtplib.SMTPDataError as err:  # DATA refused, no 354: RSET before the next
            return [upstream_refusal(err.smtp_code, err.smtp_error) for _ in range(count)]
        except (smtplib.SMTPException, OSError) as err:
            self._close(ctx)
            raise _lost(f"{self.address} after DATA", err) from err
        upstream.open = False
        if not self.lmtp:  # one reply for all: each recipient gets its own copy
            replies *= count
        return [None if c == 250 else upstream_refusal(c, t) for c, t in replies]

    def _close(self, ctx: Context, *, quit_: bool = False) -> None:
        with self._lock:
            upstream = self._sessions.pop(id(ctx), None)
        if upstream is None:
            return
        try:
            if quit_:
                upstream.smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # it is going away either way
        finally:
            upstream.smtp.close()
