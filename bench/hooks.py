"""The applications the transport benchmark attaches to our engines.

A real application overrides at least `on_message_data_event`; the base Handler runs no hook
at all, which makes its figures a floor, not what users see.
"""

from __future__ import annotations

from pathlib import Path

from smtp_proto.context import Context
from smtp_proto.handler import Handler, nonblocking
from smtp_proto.handlers.maildir import MaildirHandler


class PlainHook(Handler):
    """A plain `def on_message_data_event` that reads the message, as an application does."""

    def __init__(self) -> None:
        super().__init__()
        self.octets = 0

    def on_message_data_event(self, ctx: Context) -> None:
        self.octets += len(ctx.message.data)


class NonblockingHook(Handler):
    """The plain hook marked `@nonblocking`: anyio engines run it on the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.octets = 0

    @nonblocking
    def on_message_data_event(self, ctx: Context) -> None:
        self.octets += len(ctx.message.data)


class AsyncHook(Handler):
    """The same hook as `async def`, awaited on the loop (anyio engines only)."""

    def __init__(self) -> None:
        super().__init__()
        self.octets = 0

    async def on_message_data_event(self, ctx: Context) -> None:
        self.octets += len(ctx.message.data)


def handler_for(maildir: Path | None, hook: str, *, async_ok: bool) -> Handler:
    """The handler for `hook` ("none", "plain", "nonblocking", "async"; async falls back to
    plain where the engine runs no `async def` hooks); a Maildir's handler when `maildir`
    is given."""
    if maildir is not None:
        return MaildirHandler(maildir)
    if hook == "async" and async_ok:
        return AsyncHook()
    if hook == "nonblocking":
        return NonblockingHook()
    if hook in ("plain", "async"):
        return PlainHook()
    return Handler()
