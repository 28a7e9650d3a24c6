"""`async def` hooks driven with run_async() under asyncio and trio (through anyio)."""

from __future__ import annotations

import functools

import anyio
import anyio.lowlevel
import pytest

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd550Error, Smtpd552Error
from smtp_proto.handlers import SinkHandler
from smtp_proto.session import Finish, RunHook, Session
from tests.session.session_support import lines, make_session, pump_async

BACKENDS = ["asyncio", "trio"]


class AsyncPolicy(SinkHandler):
    """Async overrides next to the sync ones inherited from SinkHandler."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks = 0

    async def on_connect_event(self, ctx: Context) -> None:
        await anyio.lowlevel.checkpoint()
        ctx.server.local_response = "async welcome"

    async def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str:
        await anyio.lowlevel.checkpoint()
        if rcpt_to.startswith("no"):
            raise Smtpd550Error
        return rcpt_to.upper()

    async def on_message_data_start_event(self, ctx: Context) -> None:
        await anyio.lowlevel.checkpoint()
        ctx.message.data += b"X-Async: yes" + ctx.message.crlf

    async def on_message_data_receiving_event(self, ctx: Context) -> None:
        await anyio.lowlevel.checkpoint()
        self.chunks += 1
        if len(ctx.message.data) > 100:
            raise Smtpd552Error

    async def on_message_data_event(self, ctx: Context) -> None:
        await anyio.lowlevel.checkpoint()
        if b"crash" in ctx.message.data:
            raise LookupError("async failure")
        self.keep(ctx)


def run(backend: str, session: Session, *chunks: bytes) -> bytes:
    return anyio.run(functools.partial(pump_async, session, *chunks), backend=backend)


def test_async_hooks_are_listed() -> None:
    assert AsyncPolicy().async_hooks == frozenset(
        {
            "on_connect_event",
            "on_rcpt_to_event",
            "on_message_data_start_event",
            "on_message_data_receiving_event",
            "on_message_data_event",
        }
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_hooks_rewrite_reject_and_store(backend: str) -> None:
    handler = AsyncPolicy()
    out = run(
        backend,
        make_session(handler),
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<no@d.test>\r\n"
        b"RCPT TO:<c@d.test>\r\nDATA\r\nSubject: x\r\n\r\nok\r\n.\r\n",
    )
    assert lines(out)[0] == b"220 async welcome\r\n"
    assert lines(out)[-4:] == [
        b"550 5.1.1 Requested action not taken: mailbox unavailable\r\n",
        b"250 2.1.5 Recipient OK\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.6.0 Message accepted\r\n",
    ]
    (stored,) = handler.messages
    assert stored.rcpt_to == ("C@D.TEST",)
    assert stored.data == b"X-Async: yes\r\nSubject: x\r\n\r\nok\r\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_receiving_hook_refuses_and_the_session_goes_on(backend: str) -> None:
    handler = AsyncPolicy()
    out = run(
        backend,
        make_session(handler),
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
        b"Subject: big\r\n\r\n" + b"y" * 200 + b"\r\n",
        b".\r\nNOOP\r\n",
    )
    assert lines(out)[-2:] == [
        b"552 5.3.4 Requested mail action aborted: exceeded storage allocation\r\n",
        b"250 2.0.0 OK\r\n",
    ]
    assert handler.messages == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_data_hook_failure_answers_451(backend: str) -> None:
    handler = AsyncPolicy()
    out = run(
        backend,
        make_session(handler),
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\ncrash\r\n.\r\n",
    )
    assert lines(out)[-1] == b"451 4.3.0 Requested action aborted: local error in processing\r\n"
    assert handler.messages == []


def test_an_async_hook_run_synchronously_fails_as_a_hook_error() -> None:
    session = make_session(AsyncPolicy())
    step = session.next_step()
    assert isinstance(step, RunHook)
    assert step.call.is_async
    outcome = step.call.run()
    assert isinstance(outcome.error, TypeError)
    session.hook_done(outcome)
    assert session.next_step() == Finish(
        b"421 Service not available, closing transmission channel\r\n"
    )
