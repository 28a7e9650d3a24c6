"""CHUNKING and BINARYMIME through the connection (RFC 3030): exact counts, binary-safe
content, replies per chunk under pipelining, the size limit across chunks, and refused
chunks consumed byte-exactly."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import Limits
from smtp_proto.events import (
    CommandRejected,
    DataStart,
    HeadersComplete,
    MailFrom,
    MessageChunk,
    MessageReceived,
)
from smtp_proto.replies import Reply
from smtp_proto.state import State
from tests.helpers import (
    CONFIG,
    EHLO,
    ENVELOPE,
    answers,
    content,
    joined,
    of_type,
    pump,
    session,
    started,
    wire,
)

START: Final = EHLO + ENVELOPE
ACCEPTED: Final = b"250 2.6.0 Message accepted\r\n"


def octets(n: int) -> bytes:
    return b"250 2.0.0 %d octets received\r\n" % n


def bdat(data: bytes, *, last: bool = False) -> bytes:
    return b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data


def test_one_chunk_message() -> None:
    conn = started(START)
    events = pump(conn, bdat(b"Subject: x\r\n\r\nbody\r\n", last=True))
    assert conn.data_to_send() == ACCEPTED
    assert joined(events) == [
        DataStart(bdat=True),
        MessageChunk(data=b"Subject: x\r\n"),
        HeadersComplete(headers=b"Subject: x\r\n"),
        MessageChunk(data=b"\r\nbody\r\n"),
        MessageReceived(size=20),
        *events[-1:],
    ]
    assert conn.state is State.READY


def test_pipelined_chunks_get_one_reply_each_in_order() -> None:
    data = bdat(b"Subject: x\r\n") + bdat(b"\r\nfirst ") + bdat(b"second", last=True)
    conn = started(START)
    events = pump(conn, data + b"NOOP\r\n")
    assert conn.data_to_send() == octets(12) + octets(8) + ACCEPTED + wire(replies.NOOP_OK)
    assert content(events) == b"Subject: x\r\n\r\nfirst second"
    assert of_type(events, DataStart) == [DataStart(bdat=True)]  # one decision per message
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"Subject: x\r\n")]


def test_bdat_0_last_ends_the_message() -> None:
    conn = started(START)
    events = pump(conn, bdat(b"abc") + b"BDAT 0 LAST\r\n")
    assert conn.data_to_send() == octets(3) + ACCEPTED
    assert of_type(events, MessageReceived) == [MessageReceived(size=3)]
    conn = started(START)
    events = pump(conn, b"BDAT 0 LAST\r\n")
    assert of_type(events, MessageReceived) == [MessageReceived(size=0)]
    assert conn.data_to_send() == ACCEPTED


def test_content_is_binary_safe() -> None:
    data = bytes(range(256)) + b"\r\n.\r\n" + b"\n.\n" + b".\r\n" + b"\x00" * 10 + b"\r"
    events, out = session(START + bdat(data, last=True) + b"QUIT\r\n")
    assert content(events) == data
    assert out.endswith(ACCEPTED + wire(replies.CLOSING))


def test_content_is_never_read_as_commands_nor_unstuffed() -> None:
    data = b"..x\r\nQUIT\r\nMAIL FROM:<evil@example.test>\r\n.\r\n"
    events, out = session(START + bdat(data) + b"BDAT 0 LAST\r\n")
    assert content(events) == data
    assert [e.address for e in of_type(events, MailFrom)] == ["sender@example.test"]
    assert out.endswith(octets(len(data)) + ACCEPTED)


@pytest.mark.parametrize("size", [1, 2, 7])
def test_chunk_octets_split_over_reads(size: int) -> None:
    data = START + bdat(b"Subject: x\r\n\r\nhello", last=True) + b"NOOP\r\n"
    whole, out = session(data)
    events, out2 = session(*(data[i : i + size] for i in range(0, len(data), size)))
    assert out2 == out
    assert joined(events) == joined(whole)


def test_header_end_split_across_chunks() -> None:
    events, _ = session(START + bdat(b"Subject: x\r\n\r") + bdat(b"\nbody", last=True))
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"Subject: x\r\n")]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_header_end_split_across_chunks_in_small_reads(size: int) -> None:
    """The LF of the blank line may start the LAST chunk after a read that holds none of it."""
    data = START + bdat(b"Subject: x\r\n\r") + bdat(b"\nbody", last=True)
    events, out = session(*(data[i : i + size] for i in range(0, len(data), size)))
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"Subject: x\r\n")]
    assert joined(events) == joined(session(data)[0])
    assert out.endswith(ACCEPTED)


@pytest.mark.parametrize("size", [1, 100])
def test_the_header_block_never_reaches_past_the_last_chunk(size: int) -> None:
    """The LF after a LAST chunk of one CR belongs to the next command, not to a blank line."""
    data = START + b"BDAT 1 LAST\r\n\r\nNOOP\r\n"
    events, _ = session(*(data[i : i + size] for i in range(0, len(data), size)))
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"\r")]
    assert content(events) == b"\r"


def test_a_chunk_ending_in_cr_then_an_empty_last_chunk_keeps_every_octet() -> None:
    events, out = session(START + bdat(b"Subject: x\r\n\r") + b"BDAT 0 LAST\r\n\nNOOP\r\n")
    assert content(events) == b"Subject: x\r\n\r"
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"Subject: x\r\n\r")]
    assert out.endswith(octets(13) + ACCEPTED + wire(replies.BAD_CHARACTER))  # a bare LF: no line


def test_data_after_bdat_gets_503() -> None:
    conn = started(START + bdat(b"abc"))
    events = pump(conn, b"DATA\r\nBDAT 1 LAST\r\nd")
    assert conn.data_to_send() == b"503 5.5.1 DATA not allowed after BDAT\r\n" + ACCEPTED
    assert events[0] == CommandRejected(command="DATA", reply=replies.DATA_AFTER_BDAT)


def test_binarymime_message_by_bdat() -> None:
    events, out = session(
        EHLO
        + b"MAIL FROM:<a@example.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.test>\r\n"
        + bdat(b"\x00\xff\r\n", last=True)
    )
    assert content(events) == b"\x00\xff\r\n"
    assert out.endswith(ACCEPTED)


@pytest.mark.parametrize(
    "arg", [b"", b" x", b" -1", b" 1 MORE", b" 1LAST", b" 123456789012345678901"]
)
def test_bad_count_gets_501(arg: bytes) -> None:
    conn = started(START)
    events = pump(conn, b"BDAT" + arg + b"\r\nNOOP\r\n")
    assert conn.data_to_send() == b"501 5.5.4 Syntax error in BDAT size\r\n" + wire(replies.NOOP_OK)
    assert events[0] == CommandRejected(command="BDAT", reply=replies.BAD_BDAT)
    assert conn.state is State.RCPT


def test_last_is_case_insensitive() -> None:
    conn = started(START)
    pump(conn, b"BDAT 2 last\r\nab")
    assert conn.data_to_send() == ACCEPTED


# Limits and refusals -----------------------------------------------------------------


def test_size_limit_across_chunks_consumes_the_rest() -> None:
    config = replace(CONFIG, limits=Limits(message_size=10))
    conn = started(START, config=config)
    events = pump(conn, bdat(b"123456") + bdat(b"7890X", last=True) + b"NOOP\r\n")
    assert conn.data_to_send() == octets(6) + (
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    ) + wire(replies.NOOP_OK)
    assert CommandRejected(command="BDAT", reply=replies.MESSAGE_TOO_BIG) in events
    assert not of_type(events, MessageReceived)
    assert conn.state is State.READY


def test_size_limit_at_the_edge() -> None:
    config = replace(CONFIG, limits=Limits(message_size=10))
    conn = started(START, config=config)
    events = pump(conn, bdat(b"123456") + bdat(b"7890", last=True))
    assert conn.data_to_send() == octets(6) + ACCEPTED
    assert of_type(events, MessageReceived) == [MessageReceived(size=10)]


@pytest.mark.parametrize("first", [b"", b"Subject: x\r\n"], ids=["first-chunk", "second-chunk"])
def test_a_chunk_that_cannot_fit_is_refused_before_any_octet(first: bytes) -> None:
    # Its size alone breaks the limit: nothing of it goes out, not even the octets that
    # would fit, so a `BDAT 1000000000` costs the application nothing.
    config = replace(CONFIG, limits=Limits(message_size=20))
    conn = started(START, config=config)
    chunk = b"Subject: y\r\n\r\n" + b"z" * 10
    head = bdat(first) if first else b""
    events = pump(conn, head + bdat(chunk, last=True) + b"NOOP\r\n")
    assert content(events) == first
    assert not of_type(events, HeadersComplete)
    reply = wire(replies.MESSAGE_TOO_BIG, replies.NOOP_OK)
    assert conn.data_to_send() == (octets(len(first)) if first else b"") + reply
    assert conn.state is State.READY


def test_a_chunk_that_just_fits_is_read() -> None:
    config = replace(CONFIG, limits=Limits(message_size=20))
    conn = started(START, config=config)
    events = pump(conn, bdat(b"Subject: y\r\n") + bdat(b"\r\n" + b"z" * 6, last=True))
    assert of_type(events, MessageReceived) == [MessageReceived(size=20)]
    assert conn.data_to_send() == octets(12) + ACCEPTED


def test_chunks_pipelined_after_a_failed_chunk_are_skipped_byte_exactly() -> None:
    config = replace(CONFIG, limits=Limits(message_size=3))
    conn = started(START, config=config)
    pump(conn, bdat(b"12345") + bdat(b"NOOP\r\n", last=True) + b"RSET\r\n")
    assert conn.data_to_send() == wire(replies.MESSAGE_TOO_BIG, replies.NEED_MAIL, replies.RESET_OK)


def test_a_refused_first_chunk_is_consumed_byte_exactly() -> None:
    conn = started(START)
    events = pump(
        conn, bdat(b"QUIT\r\n", last=True) + b"NOOP\r\n", decide=answers({DataStart: None})
    )
    assert conn.data_to_send() == b"554 5.0.0 Transaction failed\r\n" + wire(replies.NOOP_OK)
    assert not of_type(events, MessageChunk)
    assert conn.state is State.RCPT


@pytest.mark.parametrize(
    ("prefix", "reply"),
    [
        (EHLO, replies.NEED_MAIL),
        (EHLO + b"MAIL FROM:<a@example.test>\r\n", replies.NEED_RCPT),
        (b"HELO client.example\r\n" + ENVELOPE, replies.BAD_SEQUENCE),
    ],
)
def test_bdat_out_of_sequence_is_skipped_byte_exactly(prefix: bytes, reply: Reply) -> None:
    conn = started(prefix)
    pump(conn, b"BDAT 6 LAST\r\nQUIT\r\n" + b"NOOP\r\n")
    assert conn.data_to_send() == wire(reply, replies.NOOP_OK)


def test_bdat_when_chunking_is_off_gets_502_and_is_skipped() -> None:
    config = replace(CONFIG, chunking=False, binarymime=False)
    conn = started(START, config=config)
    pump(conn, b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
    assert conn.data_to_send() == wire(replies.NOT_IMPLEMENTED, replies.NOOP_OK)


def test_rejected_message_after_the_last_chunk() -> None:
    conn = started(START)
    pump(conn, bdat(b"abc", last=True) + b"NOOP\r\n", decide=answers({MessageReceived: None}))
    assert conn.data_to_send() == wire(replies.TRANSACTION_FAILED, replies.NOOP_OK)
