"""`Handler`: the hooks an application overrides, under the MidiSmtpServer names.

Each hook takes `ctx` first. A hook says no by raising an `SmtpError` (`Smtpd550Error`, ...);
any other exception answers 451 4.3.0. Overrides may be `def` or `async def` (except
`on_logging_event`, which is always a plain `def`). Nothing here knows about sockets.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar, Union

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd500Error, Smtpd535Error, SmtpError
from smtp_proto.logs import SessionLogger
from smtp_proto.replies import Reply

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
_NONBLOCKING: Final = "__smtp_proto_nonblocking__"

MaybeAwaitable = Union[T, Awaitable[T]]  # noqa: UP007 (a generic alias needs Union here)
"""What a base hook returns: the value, or an awaitable of it when overridden `async def`."""

HOOKS: Final = (
    "on_connect_event",
    "on_disconnect_event",
    "on_helo_event",
    "on_auth_event",
    "on_mail_from_event",
    "on_rcpt_to_event",
    "on_message_data_start_event",
    "on_message_data_receiving_event",
    "on_message_data_headers_event",
    "on_message_data_event",
    "on_process_line_unknown_event",
    "on_starttls_event",
    "on_lmtp_delivery_event",
    "on_xclient_event",
)
"""The names of the hooks that may be `async def` (all but `on_logging_event`)."""


def nonblocking(hook: F) -> F:
    """Mark a plain `def` hook as one that never blocks (no I/O, no locks held long, no
    sleeping): an anyio server then runs it on its loop instead of in a worker thread,
    which saves two thread hand-overs a call. Leave a hook unmarked when in doubt: a
    marked hook that blocks stalls every session of that server while it runs."""
    if inspect.iscoroutinefunction(hook):
        raise TypeError("nonblocking marks plain def hooks; an async def hook runs on the loop")
    setattr(hook, _NONBLOCKING, True)
    return hook


class Handler:
    """Base class for applications: override the hooks you need; the rest keep the defaults.

    Defaults accept everything, except `on_auth_event` (denies: 535 5.7.8) and
    `on_process_line_unknown_event` (500 5.5.2). Hooks run one at a time per session;
    one handler serves every session, so keep per-session state in `ctx`.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if inspect.iscoroutinefunction(cls.__dict__.get("on_logging_event")):
            raise TypeError(f"{cls.__qualname__}.on_logging_event must be a plain def")

    @functools.cached_property
    def async_hooks(self) -> frozenset[str]:
        """Names of the hooks this handler overrides with `async def` (decided once)."""
        return frozenset(name for name in HOOKS if inspect.iscoroutinefunction(getattr(self, name)))

    @functools.cached_property
    def nonblocking_hooks(self) -> frozenset[str]:
        """Names of the plain hooks marked with `@nonblocking` (decided once)."""
        return frozenset(
            name for name in HOOKS if getattr(getattr(self, name), _NONBLOCKING, False)
        )

    @functools.cached_property
    def default_hooks(self) -> frozenset[str]:
        """Names of the hooks (and `on_logging_event`) this handler keeps from `Handler`."""
        names = (*HOOKS, "on_logging_event")
        return frozenset(name for name in names if hook_is_default(self, name))

    @staticmethod
    def authenticated(ctx: Context) -> bool:
        """Whether this session has authenticated (MidiSmtpServer's `authenticated?(ctx)`)."""
        return ctx.server.authenticated is not None

    @staticmethod
    def encrypted(ctx: Context) -> bool:
        """Whether this session is encrypted (MidiSmtpServer's `encrypted?(ctx)`)."""
        return ctx.server.encrypted is not None

    def on_logging_event(
        self, ctx: Context, level: int, message: str, err: BaseException | None = None
    ) -> None:
        """Every log line of a session: `level` is a `logging` level, `err` the exception.

        The default writes to the `smtp_proto` logger with `[session_id]` in front and
        `record.session_id`, `record.client`, `record.user` and `record.tls` set (see
        `smtp_proto.logs`); a traceback is added when `err` is not an `SmtpError`.
        Never receives AUTH secrets.
        """
        exc_info = err if err is not None and not isinstance(err, SmtpError) else None
        SessionLogger(ctx.server.session_id, ctx=ctx).log(level, message, exc_info=exc_info)

    def on_connect_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """A client connected, before the greeting.

        May set `ctx.server.local_response` (the 220 text) and `ctx.server.helo_response`
        (the first line of the HELO/EHLO reply); may refuse with `Smtpd554Error` (the client
        may then only QUIT) or `Smtpd421Error` (closes at once). An unexpected exception
        answers 421 4.3.0, since a greeting may only be 220, 554 or 421 (RFC 5321 4.3.2).
        """
        return None

    def on_disconnect_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """The session is over (QUIT, 421, or the client went away); nothing is sent after."""
        return None

    def on_helo_event(self, ctx: Context, helo: str) -> MaybeAwaitable[None]:
        """HELO/EHLO/LHLO with the client's name; may change `ctx.server.helo_response`."""
        return None

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> MaybeAwaitable[str | None]:
        """Check AUTH credentials; the default denies (535 5.7.8).

        `authentication` is the password for PLAIN and LOGIN; for CRAM-MD5 it is the
        client's digest, so check with `ctx.server.auth_credentials.verify(password)`
        (which works for every mechanism). Return a string to replace the authorization id
        (None keeps the client's, or the authentication id when the client sent none);
        raise `Smtpd535Error` to deny.
        """
        raise Smtpd535Error

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> MaybeAwaitable[str | None]:
        """MAIL FROM (no angle brackets; "" for <>); a returned string replaces the address.

        `ctx.envelope.mail_params` and the encodings are already set for this command.
        """
        return None

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> MaybeAwaitable[str | None]:
        """RCPT TO (no angle brackets); a returned string replaces the address."""
        return None

    def on_message_data_start_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """DATA (or the first BDAT) is about to be read; `ctx.message.data` is empty.

        Bytes appended to `ctx.message.data` here come before the client's headers (e.g. a
        `Received:` line ending in `ctx.message.crlf`).
        """
        return None

    def on_message_data_receiving_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """More content was appended to `ctx.message.data`.

        Raise e.g. `Smtpd552Error` to refuse the message: the rest is read and dropped, the
        client gets that one reply after the end of data, and the session goes on.
        """
        return None

    def on_message_data_headers_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """The header block is complete (`ctx.message.headers`); the blank line follows.

        Bytes appended to `ctx.message.data` here end up as the last header lines.
        """
        return None

    def on_message_data_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """The whole message is in `ctx.message.data`; returning accepts it (250).

        Store or forward it before returning: the 250 tells the client it is delivered.
        """
        return None

    def on_process_line_unknown_event(self, ctx: Context, line: str) -> MaybeAwaitable[None]:
        """A command line the server does not know; the default answers 500 5.5.2.

        `ctx.server.exceptions` counts the error replies so far, to end abusive sessions
        with `Smtpd421Error`.
        """
        raise Smtpd500Error

    def on_starttls_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """STARTTLS was asked for; returning lets the handshake start."""
        return None

    def on_xclient_event(self, ctx: Context, attributes: dict[str, str]) -> MaybeAwaitable[None]:
        """XCLIENT (Postfix's) names the client: `attributes` by name (NAME, ADDR, PORT,
        PROTO, HELO, LOGIN, DESTADDR, DESTPORT), decoded, "[UNAVAILABLE]" where the front
        end did not know. Returning takes it: ctx then names that client and the session
        starts over with a new greeting. Raise `Smtpd550Error` to refuse.

        Kept as it is, XCLIENT is taken only from `ServerConfig.xclient_trusted` peers (550
        5.7.0 for others); overridden, this hook decides for every peer, as a handler may
        know its front ends by more than their address.
        """
        return None

    def on_lmtp_delivery_event(
        self, ctx: Context, rcpt_to: str, index: int
    ) -> MaybeAwaitable[None]:
        """LMTP (RFC 2033): the outcome for recipient `index` of the message just accepted.

        Returning answers 250 for that recipient; raise an `SmtpError` to fail it alone.
        """
        return None


def hook_is_default(handler: Handler, name: str) -> bool:
    """Whether `handler` keeps the base class's `name` hook (so it need not be called)."""
    bound = getattr(handler, name)
    return getattr(bound, "__func__", None) is getattr(Handler, name)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a hook gave.

    `reply` is set when the hook raised an `SmtpError` (then `error` is that exception, for
    its log text); with `reply` None, an `error` is unexpected and answers 451 4.3.0.
    """

    value: object = None
    reply: Reply | None = None
    error: BaseException | None = None


def _hook_name(hook: Callable[..., object]) -> str:
    return getattr(hook, "__name__", repr(hook))


@dataclass(frozen=True, slots=True)
class HookCall:
    """One hook to run with its arguments; `is_async`: the hook is `async def`;
    `blocks`: a plain hook not marked `@nonblocking` (an event loop runs it elsewhere)."""

    hook: Callable[..., object]
    args: tuple[object, ...]
    is_async: bool
    blocks: bool = True

    def run(self) -> Outcome:
        """Run a sync hook; an awaitable result is an error (use `run_async`)."""
        try:
            value = self.hook(*self.args)
        except SmtpError as err:
            return Outcome(reply=err.reply, error=err)
        except Exception as err:  # any hook failure answers 451
            return Outcome(error=err)
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()  # never awaited: close it so no warning leaks
            message = f"{_hook_name(self.hook)} returned an awaitable; run it with run_async()"
            return Outcome(error=TypeError(message))
        return Outcome(value=value)

    async def run_async(self) -> Outcome:
        """Run the hook and await its result when it is awaitable."""
        try:
            value = self.hook(*self.args)
            if inspect.isawaitable(value):
                value = await value
        except SmtpError as err:
            return Outcome(reply=err.reply, error=err)
        except Exception as err:  # any hook failure answers 451
            return Outcome(error=err)
        return Outcome(value=value)
