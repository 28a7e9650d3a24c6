"""`SinkHandler`: keeps every accepted message in memory, for tests and experiments.

Thread-safe: one handler may serve sessions on many threads at once.
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from datetime import datetime

from smtp_proto.context import Context
from smtp_proto.handler import Handler, MaybeAwaitable
from smtp_proto.params import MailParams, RcptParams


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """One accepted message with its envelope and the session facts worth checking."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes  # the content as accepted, with any header lines hooks added
    queue_id: str
    session_id: str
    helo: str
    remote_ip: str
    authorization_id: str  # "" when the session did not authenticate
    encrypted: bool
    mail_params: MailParams
    rcpt_params: tuple[RcptParams, ...]
    received: datetime | None
    delivered: datetime | None

    @property
    def message(self) -> email.message.EmailMessage:
        """The content parsed by the standard library (its modern `EmailMessage`)."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)  # noqa: S101 (the policy's class)
        return parsed

    @classmethod
    def from_context(cls, ctx: Context) -> StoredMessage:
        """A snapshot of the message in `ctx` (copies the data)."""
        server, envelope, message = ctx.server, ctx.envelope, ctx.message
        return cls(
            mail_from=envelope.mail_from,
            rcpt_to=tuple(envelope.rcpt_to),
            data=bytes(message.data),
            queue_id=message.queue_id,
            session_id=server.session_id,
            helo=server.helo,
            remote_ip=server.remote_ip,
            authorization_id=server.authorization_id,
            encrypted=server.encrypted is not None,
            mail_params=envelope.mail_params,
            rcpt_params=tuple(envelope.rcpt_params),
            received=message.received,
            delivered=message.delivered,
        )


class SinkHandler(Handler):
    """Accepts every message and keeps it in `messages`; subclass it to add checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[StoredMessage] = []

    def on_message_data_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """Keep the message (see `keep`); the 250 follows."""
        self.keep(ctx)
        return None

    def keep(self, ctx: Context) -> StoredMessage:
        """Keep a snapshot of the message in `ctx` (for overrides, also `async def` ones)."""
        stored = StoredMessage.from_context(ctx)
        with self._lock:
            self._messages.append(stored)
        return stored

    @property
    def messages(self) -> list[StoredMessage]:
        """The messages accepted so far, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> list[StoredMessage]:
        """Forget the messages kept so far and return them."""
        with self._lock:
            taken, self._messages = self._messages, []
        return taken

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
