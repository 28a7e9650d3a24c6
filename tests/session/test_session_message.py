"""Message content hooks through a real ServerConnection: header injection, streaming checks,
refusing a message part-way, and what the handler finally stores."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd421Error, Smtpd552Error
from smtp_proto.handler import Handler
from smtp_proto.handlers import MaildirHandler, SinkHandler
from tests.session.session_support import lines, make_session, pump

ENVELOPE = b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
MESSAGE = b"Subject: hi\r\nFrom: a@b.test\r\n\r\nbody line\r\n"
SEED_RECEIVED = (
    b"Received: from client.example.test (127.0.0.2) by mx.example.test (127.0.0.1) "
    b"with MySmtpd Server; Thu, 01 Nov 2018 12:00:01 +0000\r\n"
)
TOO_BIG = b"552 5.3.4 Requested mail action aborted: exceeded storage allocation\r\n"
LOCAL_ERROR = b"451 4.3.0 Requested action aborted: local error in processing\r\n"


class SeedReceived(SinkHandler):
    """The seed README's Received example, in Python."""

    def on_message_data_start_event(self, ctx: Context) -> None:
        received = ctx.message.received
        assert received is not None
        ctx.message.data += (
            b"Received: "
            + f"from {ctx.server.remote_host} ({ctx.server.remote_ip}) ".encode()
            + f"by {ctx.server.local_host} ({ctx.server.local_ip}) ".encode()
            + b"with MySmtpd Server; "
            + received.strftime("%a, %d %b %Y %H:%M:%S %z").encode()
            + ctx.message.crlf
        )


class SeedHeader(SinkHandler):
    """The seed README's X-MyHeader example."""

    def on_message_data_headers_event(self, ctx: Context) -> None:
        ctx.message.data += b"X-MyHeader: 1.0" + ctx.message.crlf


class Both(SeedReceived, SeedHeader):
    pass


def deliver(handler: Handler, message: bytes, *, bytewise: bool = False) -> bytes:
    wire = ENVELOPE + b"DATA\r\n" + message + b".\r\n"
    chunks = [wire[i : i + 1] for i in range(len(wire))] if bytewise else [wire]
    return pump(make_session(handler), *chunks)


def test_seed_received_example_lands_at_the_top() -> None:
    sink = SeedReceived()
    deliver(sink, MESSAGE)
    assert sink.messages[0].data == SEED_RECEIVED + MESSAGE


@pytest.mark.parametrize("bytewise", [False, True])
def test_seed_header_example_lands_at_the_end_of_the_header_block(bytewise: bool) -> None:
    sink = SeedHeader()
    deliver(sink, MESSAGE, bytewise=bytewise)
    assert sink.messages[0].data == (
        b"Subject: hi\r\nFrom: a@b.test\r\nX-MyHeader: 1.0\r\n\r\nbody line\r\n"
    )


@pytest.mark.parametrize(
    ("message", "stored"),
    [
        (b"\r\nno headers\r\n", b"X-MyHeader: 1.0\r\n\r\nno headers\r\n"),
        (b"Subject: only\r\n", b"Subject: only\r\nX-MyHeader: 1.0\r\n"),
        (b"", b"X-MyHeader: 1.0\r\n"),
    ],
)
def test_header_hook_with_no_headers_or_no_body(message: bytes, stored: bytes) -> None:
    sink = SeedHeader()
    deliver(sink, message)
    assert sink.messages[0].data == stored


def test_both_seed_examples_together() -> None:
    sink = Both()
    deliver(sink, MESSAGE)
    assert sink.messages[0].data == (
        SEED_RECEIVED + b"Subject: hi\r\nFrom: a@b.test\r\nX-MyHeader: 1.0\r\n\r\nbody line\r\n"
    )


def test_header_hook_sees_the_clients_header_block() -> None:
    seen: list[tuple[bool, bytes, bytes]] = []

    class Spy(SeedReceived):
        def on_message_data_headers_event(self, ctx: Context) -> None:
            m = ctx.message
            seen.append((m.headers_complete, m.headers, bytes(m.data)))

    deliver(Spy(), MESSAGE)
    assert seen == [
        (
            True,
            b"Subject: hi\r\nFrom: a@b.test\r\n",
            SEED_RECEIVED + b"Subject: hi\r\nFrom: a@b.test\r\n",
        )
    ]


def test_bdat_runs_the_same_hooks() -> None:
    sink = Both()
    out = pump(
        make_session(sink),
        ENVELOPE
        + b"BDAT 13\r\nSubject: hi\r\n"
        + b"BDAT 29 LAST\r\nFrom: a@b.test\r\n\r\nbody line\r\n",
    )
    assert lines(out)[-2:] == [
        b"250 2.0.0 13 octets received\r\n",
        b"250 2.6.0 Message accepted\r\n",
    ]
    assert sink.messages[0].data == (
        SEED_RECEIVED + b"Subject: hi\r\nFrom: a@b.test\r\nX-MyHeader: 1.0\r\n\r\nbody line\r\n"
    )


class Limited(SinkHandler):
    """The seed README's size check while receiving, at `limit` octets."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.calls = 0

    def on_message_data_receiving_event(self, ctx: Context) -> None:
        self.calls += 1
        if len(ctx.message.data) > self.limit:
            raise Smtpd552Error(log="too big for this mailbox")


def test_receiving_hook_limit_at_the_edge_accepts() -> None:
    sink = Limited(len(MESSAGE))
    out = deliver(sink, MESSAGE)
    assert lines(out)[-1] == b"250 2.6.0 Message accepted\r\n"
    assert len(sink) == 1


def test_receiving_hook_552_one_past_the_edge_drains_and_goes_on() -> None:
    sink = Limited(len(MESSAGE) - 1)
    session = make_session(sink)
    body = b"".join(b"line %d\r\n" % i for i in range(200))
    out = pump(
        session,
        ENVELOPE + b"DATA\r\n" + MESSAGE,  # the hook refuses once this has arrived
        body + b".\r\n",  # drained without another hook call
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nshort\r\n.\r\n",
    )
    assert lines(out)[-6:] == [
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        TOO_BIG,
        b"250 2.1.0 Sender OK\r\n",
        b"250 2.1.5 Recipient OK\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.6.0 Message accepted\r\n",
    ]
    assert out.count(b"552") == 1
    assert [m.data for m in sink.messages] == [b"short\r\n"]
    # The refused message: its header block, then the rest (refused); then "short".
    assert sink.calls == 3
    assert session.ctx.server.exceptions == 1


def test_a_refused_message_frees_its_data() -> None:
    sink = Limited(5)
    session = make_session(sink)
    pump(session, ENVELOPE + b"DATA\r\n" + MESSAGE)
    assert session.ctx.message.data == b""


@pytest.mark.parametrize(
    "hook", ["on_message_data_receiving_event", "on_message_data_headers_event"]
)
def test_a_crash_while_receiving_answers_451_after_the_data(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="smtp_proto")
    sink = SinkHandler()

    def crash(ctx: Context) -> None:
        raise ZeroDivisionError("oops")

    setattr(sink, hook, crash)
    out = deliver(sink, MESSAGE)
    assert lines(out)[-1] == LOCAL_ERROR
    assert len(sink) == 0
    (record,) = caplog.records
    assert record.getMessage() == "[S1] message S1.1 failed: ZeroDivisionError: oops"
    assert record.exc_info is not None


def test_421_while_receiving_closes_without_draining() -> None:
    class Teergrube(SinkHandler):
        def on_message_data_receiving_event(self, ctx: Context) -> None:
            raise Smtpd421Error("Go away")

    session = make_session(Teergrube())
    out = pump(session, ENVELOPE + b"DATA\r\n" + MESSAGE, b"more\r\n.\r\nQUIT\r\n")
    assert lines(out)[-1] == b"421 4.3.0 Go away\r\n"
    assert session.closed
    assert session.ctx.server.exceptions == 1


def test_start_hook_refusal_keeps_the_envelope() -> None:
    class NoData(SinkHandler):
        def on_message_data_start_event(self, ctx: Context) -> None:
            raise Smtpd552Error("No room today")

    session = make_session(NoData())
    out = pump(session, ENVELOPE + b"DATA\r\n")
    assert lines(out)[-1] == b"552 5.3.4 No room today\r\n"
    assert session.ctx.envelope.rcpt_to == ["c@d.test"]
    assert session.ctx.message.queue_id == ""


def test_one_info_line_per_accepted_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    session = make_session(Handler())
    pump(
        session,
        ENVELOPE + b"RCPT TO:<e@f.test>\r\nDATA\r\n" + MESSAGE + b".\r\n"
        b"MAIL FROM:<>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n",
    )
    info = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.getMessage() for r in info] == [
        f"[S1] accepted S1.1 from=<a@b.test> to=<c@d.test>,<e@f.test> size={len(MESSAGE)}",
        "[S1] accepted S1.2 from=<> to=<c@d.test> size=3",
    ]
    assert all(getattr(r, "session_id", None) == "S1" for r in caplog.records)
    assert all(r.getMessage().startswith("[S1] ") for r in caplog.records)


def test_a_maildir_that_cannot_store_answers_451_never_250(tmp_path: Path) -> None:
    handler = MaildirHandler(tmp_path / "md")
    shutil.rmtree(tmp_path / "md" / "tmp")  # Maildir.add writes into tmp/ first
    out = deliver(handler, MESSAGE)
    assert lines(out)[-1] == LOCAL_ERROR
    assert b"250 2.6.0" not in out
