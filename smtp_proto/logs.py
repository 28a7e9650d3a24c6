"""Logging for the session layer: the `smtp_proto` logger with a session id on every record,
and the session's facts (client, AUTH user, TLS) on every record that has a session.

Only the session layer and the transports log; the protocol core never does.
Records carry `session_id` and, when the session is known, `client` (`host[address]` as
Postfix writes it), `user` (the AUTH identity, "" before AUTH) and `tls` (a bool);
`SessionFormatter` writes the facts after each line at INFO and above, so that every
refusal and every accepted message says who, as whom, and whether encrypted.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Final

from smtp_proto.context import Context

LOGGER: Final = logging.getLogger("smtp_proto")


def client(ctx: Context) -> str:
    """The client as `name[address]`, or `[address]` when it has no other name."""
    server = ctx.server
    name = server.remote_host if server.remote_host != server.remote_ip else ""
    return f"{name}[{server.remote_ip}]"


def session_facts(ctx: Context) -> dict[str, Any]:
    """The `extra` a record about this session carries: client, user, tls."""
    server = ctx.server
    user = server.authentication_id if server.authenticated is not None else ""
    return {"client": client(ctx), "user": user, "tls": server.encrypted is not None}


def facts_text(record: logging.LogRecord) -> str:
    """`client=... user=... tls=yes|no` for a record with session facts, else ""."""
    where = getattr(record, "client", None)
    if where is None:
        return ""
    user = getattr(record, "user", "")
    tls = "yes" if getattr(record, "tls", False) else "no"
    return f"client={where}" + (f" user={user}" if user else "") + f" tls={tls}"


class SessionLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each message with `[session_id]` and sets `record.session_id`; given the
    session's `ctx`, also `record.client`, `record.user` and `record.tls`."""

    def __init__(
        self, session_id: str, logger: logging.Logger = LOGGER, *, ctx: Context | None = None
    ) -> None:
        super().__init__(logger, {"session_id": session_id})
        self.session_id = session_id
        self.ctx = ctx

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the session id (and facts) to the record's `extra`, the id to the text."""
        extra = {**(kwargs.get("extra") or {}), "session_id": self.session_id}
        if self.ctx is not None:
            extra.update(session_facts(self.ctx))
        kwargs["extra"] = extra
        return f"[{self.session_id}] {msg}", kwargs


class SessionFormatter(logging.Formatter):
    """A `logging.Formatter` that ends each line at INFO and above about a session with
    its facts: `[S1] RCPT TO <x@y> refused: 550 ... client=[192.0.2.1] user=alice tls=yes`.
    Lines without a session (a listener starting, say) are formatted as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line as the format says, then the facts (before any traceback)."""
        text = super().formatMessage(record)
        facts = facts_text(record) if record.levelno >= logging.INFO else ""
        return f"{text} {facts}" if facts else text
