"""`@nonblocking` hooks: an anyio server runs them on its loop, every engine runs them."""

from __future__ import annotations

import smtplib
import threading

import pytest

from smtp_proto import Context, Handler, nonblocking
from smtp_proto.handler import HookCall
from tests.transports.transport_support import TIMEOUT, ServerFactory, address_of


class Threads(Handler):
    """Records the thread each message hook ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, str] = {}

    @nonblocking
    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> None:
        self.threads["marked"] = threading.current_thread().name

    def on_message_data_event(self, ctx: Context) -> None:
        self.threads["plain"] = threading.current_thread().name


def test_marked_hooks_are_listed_and_their_calls_do_not_block() -> None:
    handler = Threads()
    assert handler.nonblocking_hooks == frozenset({"on_rcpt_to_event"})
    assert Handler().nonblocking_hooks == frozenset()
    call = HookCall(handler.on_rcpt_to_event, (), is_async=False)
    assert call.blocks  # the default: a plain hook may block


def test_an_async_hook_cannot_be_marked() -> None:
    async def on_helo_event(ctx: Context, helo: str) -> None:
        return None

    with pytest.raises(TypeError, match="plain def hooks"):
        nonblocking(on_helo_event)


def test_a_marked_hook_runs_beside_the_session_and_an_unmarked_one_in_a_worker_on_anyio(
    server_factory: ServerFactory, engine: str
) -> None:
    handler = Threads()
    server = server_factory(handler)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.sendmail("a@example.org", ["b@example.test"], "Subject: s\r\n\r\nhi\r\n")
    if engine in ("asyncio", "uvloop", "trio"):
        assert handler.threads["marked"] != handler.threads["plain"]
        assert handler.threads["plain"].startswith("smtp-proto-hook")
        assert not handler.threads["marked"].startswith("smtp-proto-hook")  # the loop's
    else:  # threads and gevent run every hook beside the session anyway
        assert set(handler.threads) == {"marked", "plain"}
