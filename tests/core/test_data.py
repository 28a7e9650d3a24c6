"""DATA content: dot-unstuffing, the one end marker, headers, CRLF modes and every SMTP
smuggling variant, split at every byte position (RFC 5321 4.1.1.4, 4.5.2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import CrlfMode, ServerConfig
from smtp_proto.events import (
    CommandRejected,
    DataStart,
    Event,
    HeadersComplete,
    MailFrom,
    MessageChunk,
    MessageReceived,
    RcptTo,
)
from smtp_proto.replies import Reply
from smtp_proto.state import State
from tests.helpers import (
    CONFIG,
    EHLO,
    EHLO_REPLY,
    ENVELOPE,
    ENVELOPE_REPLY,
    GREETING,
    answers,
    content,
    dot_stuff,
    joined,
    of_type,
    pump,
    session,
    started,
    wire,
)

START: Final = EHLO + ENVELOPE + b"DATA\r\n"
START_REPLY: Final = (
    GREETING + EHLO_REPLY + ENVELOPE_REPLY + b"354 End data with <CR><LF>.<CR><LF>\r\n"
)
ACCEPTED: Final = b"250 2.6.0 Message accepted\r\n"


def config(mode: CrlfMode) -> ServerConfig:
    return replace(CONFIG, crlf_mode=mode)


def message_events(events: list[Event]) -> list[Event]:
    """The content events of a session, chunks joined."""
    kinds = (MessageChunk, HeadersComplete, MessageReceived, CommandRejected)
    return joined(e for e in events if isinstance(e, kinds))


def test_354_has_no_enhanced_code_and_the_message_gets_250() -> None:
    events, out = session(START + b"Subject: hi\r\n\r\nHello\r\n.\r\n")
    assert out == START_REPLY + ACCEPTED
    assert out.endswith(b"\r\n354 End data with <CR><LF>.<CR><LF>\r\n" + ACCEPTED)
    assert DataStart(bdat=False) in events
    assert message_events(events) == [
        MessageChunk(data=b"Subject: hi\r\n"),
        HeadersComplete(headers=b"Subject: hi\r\n"),
        MessageChunk(data=b"\r\nHello\r\n"),
        MessageReceived(size=22),
    ]


def test_headers_complete_comes_between_the_header_block_and_the_blank_line() -> None:
    data = START + b"Subject: x\r\nFrom: <a@example.test>\r\n\r\nbody\r\n\r\nmore\r\n.\r\n"
    whole, _ = session(data)
    for events in (whole, session(*(data[i : i + 1] for i in range(len(data))))[0]):
        assert message_events(events) == [
            MessageChunk(data=b"Subject: x\r\nFrom: <a@example.test>\r\n"),
            HeadersComplete(headers=b"Subject: x\r\nFrom: <a@example.test>\r\n"),
            MessageChunk(data=b"\r\nbody\r\n\r\nmore\r\n"),
            MessageReceived(size=52),
        ]


def test_message_without_a_blank_line_is_all_headers() -> None:
    events, out = session(START + b"Subject: only\r\n.\r\n")
    assert message_events(events) == [
        MessageChunk(data=b"Subject: only\r\n"),
        HeadersComplete(headers=b"Subject: only\r\n"),
        MessageReceived(size=15),
    ]
    assert out == START_REPLY + ACCEPTED


def test_message_starting_with_a_blank_line_has_empty_headers() -> None:
    events, _ = session(START + b"\r\nbody\r\n.\r\n")
    assert message_events(events) == [
        HeadersComplete(headers=b""),
        MessageChunk(data=b"\r\nbody\r\n"),
        MessageReceived(size=8),
    ]


def test_empty_message() -> None:
    events, out = session(START + b".\r\n")
    assert message_events(events) == [HeadersComplete(headers=b""), MessageReceived(size=0)]
    assert out == START_REPLY + ACCEPTED


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        (b"..leading dot\r\n", b".leading dot\r\n"),
        (b"...\r\n", b"..\r\n"),
        (b"..\r\n", b".\r\n"),
        (b"a.b\r\n.c\r\n", b"a.b\r\nc\r\n"),
        (b"x\r\n..\r\n..\r\n", b"x\r\n.\r\n.\r\n"),
    ],
)
def test_dot_unstuffing(sent: bytes, received: bytes) -> None:
    events, out = session(START + b"\r\n" + sent + b".\r\n")
    assert content(events) == b"\r\n" + received
    assert out.endswith(ACCEPTED)


def test_a_dot_stuffed_message_comes_out_byte_identical() -> None:
    original = (
        b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nnot.a.dot\r\n. \r\n\r\n.\r\n"
        b"QUIT\r\n.\r\nend\r\n"
    )
    events, out = session(START + dot_stuff(original))
    assert content(events) == original
    assert of_type(events, MessageReceived) == [MessageReceived(size=len(original))]
    assert out == START_REPLY + ACCEPTED


def test_the_transaction_is_over_after_the_message() -> None:
    conn = started(START + b"hi\r\n.\r\n")
    pump(conn, b"RCPT TO:<b@example.test>\r\nDATA\r\n")
    assert conn.data_to_send() == wire(replies.NEED_MAIL, replies.NEED_MAIL)
    assert conn.state is State.READY


def test_data_with_an_argument_gets_501() -> None:
    conn = started(EHLO + ENVELOPE)
    pump(conn, b"DATA now\r\n")
    assert conn.data_to_send() == wire(replies.NO_ARGUMENTS_ALLOWED)
    assert conn.state is State.RCPT


def test_rejected_data_start_keeps_the_transaction() -> None:
    conn = started(EHLO + ENVELOPE)
    pump(conn, b"DATA\r\n", decide=answers({DataStart: None}))
    assert conn.data_to_send() == b"554 5.0.0 Transaction failed\r\n"
    assert conn.state is State.RCPT


@pytest.mark.parametrize(
    "reply", [None, Reply(451, ("try later",), (4, 3, 0)), Reply(550, ("spam",), (5, 7, 1))]
)
def test_rejected_message_gets_the_reply_and_the_session_goes_on(reply: Reply | None) -> None:
    conn = started(START)
    pump(conn, b"hi\r\n.\r\n", decide=answers({MessageReceived: reply}))
    pump(conn, b"NOOP\r\n")
    expected = reply or replies.TRANSACTION_FAILED
    assert conn.data_to_send() == wire(expected, replies.NOOP_OK)
    assert conn.state is State.READY


# CRLF modes ------------------------------------------------------------------------------


MIXED: Final = b"Subject: x\n\r\nbare lf\nbare cr\rend\r\n"


def test_ensure_turns_bare_lf_lines_into_crlf_lines() -> None:
    events, out = session(START + MIXED + b".\r\n")
    assert content(events) == b"Subject: x\r\n\r\nbare lf\r\nbare cr\rend\r\n"
    assert out.endswith(ACCEPTED)


def test_leave_keeps_the_bytes_as_sent() -> None:
    events, out = session(START + MIXED + b".\r\n", config=config(CrlfMode.LEAVE))
    assert content(events) == MIXED
    assert out.endswith(ACCEPTED)


@pytest.mark.parametrize("text", [b"bare lf\n", b"bare cr\rx\r\n", b"ok\r\n\n", b"\r\r\n"])
def test_strict_refuses_a_bare_cr_or_lf_after_the_end_of_data(text: bytes) -> None:
    conn = started(START, config=config(CrlfMode.STRICT))
    events = pump(conn, b"Subject: x\r\n\r\n" + text + b"more\r\n.\r\nNOOP\r\n")
    assert conn.data_to_send() == (
        b"550 5.6.0 Bare CR or LF in message text is not allowed\r\n" + wire(replies.NOOP_OK)
    )
    assert CommandRejected(command="DATA", reply=replies.BARE_LINE_ENDING) in events
    assert not of_type(events, MessageReceived)
    assert conn.state is State.READY


def test_strict_takes_a_clean_message() -> None:
    events, out = session(START + b"a\r\nb\r\n.\r\n", config=config(CrlfMode.STRICT))
    assert content(events) == b"a\r\nb\r\n"
    assert out.endswith(ACCEPTED)


# SMTP smuggling: only <CRLF>.<CRLF> ends the data ---------------------------------------

SMUGGLED: Final = (
    b"MAIL FROM:<evil@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n"
)
# variant -> (content in ENSURE, content in LEAVE) between "hello" and the smuggled text.
VARIANTS: Final = {
    b"\n.\n": (b"\r\n.\r\n", b"\n.\n"),
    b"\n.\r\n": (b"\r\n.\r\n", b"\n.\r\n"),
    b"\r\n.\n": (b"\r\n\r\n", b"\r\n\n"),  # a CRLF line starting with a dot: unstuffed
    b"\r.\r": (b"\r.\r", b"\r.\r"),
    b"\r\n.\r": (b"\r\n\r", b"\r\n\r"),
    b"\r.\r\n": (b"\r.\r\n", b"\r.\r\n"),
}
MODES: Final = list(CrlfMode)


def smuggling_session(variant: bytes) -> bytes:
    return START + b"Subject: x\r\n\r\nhello" + variant + SMUGGLED + b".\r\nQUIT\r\n"


def expected(variant: bytes, mode: CrlfMode) -> tuple[bytes | None, bytes]:
    """(content or None when refused, output after the 354)."""
    if mode is CrlfMode.STRICT:
        return None, wire(replies.BARE_LINE_ENDING, replies.CLOSING)
    middle = VARIANTS[variant][mode is CrlfMode.LEAVE]
    return b"Subject: x\r\n\r\nhello" + middle + SMUGGLED, ACCEPTED + wire(replies.CLOSING)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("variant", list(VARIANTS), ids=repr)
def test_smuggled_end_never_ends_the_message(variant: bytes, mode: CrlfMode) -> None:
    events, out = session(smuggling_session(variant), config=config(mode))
    body, after = expected(variant, mode)
    assert out == START_REPLY + after
    assert [e.address for e in of_type(events, MailFrom)] == ["sender@example.test"]
    assert [e.address for e in of_type(events, RcptTo)] == ["rcpt@example.test"]
    assert of_type(events, DataStart) == [DataStart(bdat=False)]
    if body is None:
        assert not of_type(events, MessageReceived)
    else:
        assert content(events) == body
        assert of_type(events, MessageReceived) == [MessageReceived(size=len(body))]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("variant", list(VARIANTS), ids=repr)
def test_smuggling_split_at_every_byte_position(variant: bytes, mode: CrlfMode) -> None:
    data = smuggling_session(variant)
    whole, out = session(data, config=config(mode))
    reference = joined(whole)
    body, _ = expected(variant, mode)
    for cut in range(1, len(data)):
        events, out2 = session(data[:cut], data[cut:], config=config(mode))
        assert out2 == out, cut
        if body is not None:
            assert joined(events) == reference, cut
        else:  # refused: how much was streamed before the refusal follows the reads
            sent, _ = expected(variant, CrlfMode.LEAVE)
            assert sent is not None
            assert sent.startswith(content(events)), cut
            assert [e for e in events if not isinstance(e, MessageChunk)] == [
                e for e in whole if not isinstance(e, MessageChunk)
            ], cut
