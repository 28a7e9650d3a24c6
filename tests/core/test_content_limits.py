"""Message content at the size limit and the header-block limit: the same events and bytes
however the input is split, the octets that fit handed out, and bounded memory for a
message that never ends its header block."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import CrlfMode, Limits, ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    NEED_DATA,
    CommandRejected,
    ConnectionClosed,
    DataStart,
    Decision,
    Event,
    HeadersComplete,
    MessageChunk,
    MessageReceived,
    Signal,
)
from smtp_proto.replies import Reply
from tests.helpers import CONFIG, EHLO, ENVELOPE, content, joined, of_type, session

START: Final = EHLO + ENVELOPE + b"DATA\r\n"
MIB: Final = 1024 * 1024


def with_limits(**limits: int) -> ServerConfig:
    return replace(CONFIG, limits=Limits(**limits))


def session_of(*chunks: bytes, config: ServerConfig) -> tuple[list[Event], bytes]:
    return session(*chunks, b"", config=config)


@pytest.mark.parametrize("size", [1, 3])
def test_data_over_the_size_limit_hands_out_what_fits_however_split(size: int) -> None:
    config = with_limits(message_size=9)
    data = START + b"Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    whole = session_of(data, config=config)
    parts = session_of(*[data[i : i + size] for i in range(0, len(data), size)], config=config)
    assert parts[1] == whole[1]
    assert joined(parts[0]) == joined(whole[0])
    assert content(whole[0]) == b"Subject: "  # the first 9 octets, then no more
    assert CommandRejected(command="DATA", reply=replies.MESSAGE_TOO_BIG) in whole[0]
    assert not of_type(whole[0], HeadersComplete)  # the header block never completed


def test_data_of_exactly_the_size_limit_is_accepted_one_more_octet_is_not() -> None:
    body = b"A: b\r\n\r\nxy\r\n"
    fits = session_of(START + body + b".\r\n", config=with_limits(message_size=len(body)))
    assert of_type(fits[0], MessageReceived) == [MessageReceived(size=len(body))]
    over = session_of(START + body + b".\r\n", config=with_limits(message_size=len(body) - 1))
    assert content(over[0]) == body[:-1]
    assert not of_type(over[0], MessageReceived)
    assert over[1].endswith(replies.MESSAGE_TOO_BIG.to_bytes())


def test_bdat_then_data_past_a_tiny_size_limit_give_the_same_events_however_split() -> None:
    for limit in range(1, 9):
        config = with_limits(message_size=limit)
        data = (
            EHLO
            + ENVELOPE
            + b"BDAT 6\r\nA: b\r\nBDAT 6 LAST\r\n\r\nbody"
            + ENVELOPE
            + b"DATA\r\nA: b\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        )
        whole = session_of(data, config=config)
        for size in (1, 2, 5):
            parts = session_of(
                *[data[i : i + size] for i in range(0, len(data), size)], config=config
            )
            assert parts[1] == whole[1]
            assert joined(parts[0]) == joined(whole[0])
        # A chunk is handed out whole or, when its size breaks the limit, not at all.
        chunks = b"A: b\r\n" if limit >= 6 else b""
        assert content(whole[0]) == chunks + b"A: b\r\n\r\nbody\r\n"[:limit]


@pytest.mark.parametrize(("block", "kept"), [(8, b"A: b\r\nC:"), (9, b"A: b\r\nC: ")])
def test_a_header_block_past_its_limit_is_kept_up_to_it_and_the_message_accepted(
    block: int, kept: bytes
) -> None:
    headers = b"A: b\r\nC: d\r\n"
    config = with_limits(header_block=block)
    data = START + headers + b"\r\nbody\r\n.\r\nQUIT\r\n"
    whole = session_of(data, config=config)
    parts = session_of(*[data[i : i + 1] for i in range(len(data))], config=config)
    assert joined(parts[0]) == joined(whole[0])
    assert of_type(whole[0], HeadersComplete) == [HeadersComplete(headers=kept)]
    assert content(whole[0]) == headers + b"\r\nbody\r\n"
    assert of_type(whole[0], MessageReceived) == [MessageReceived(size=len(headers) + 8)]


def test_a_header_block_of_exactly_its_limit_is_kept_whole() -> None:
    headers = b"A: b\r\nC: d\r\n"
    config = with_limits(header_block=len(headers))
    events, _ = session_of(START + headers + b"\r\nbody\r\n.\r\n", config=config)
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=headers)]


def test_a_bdat_header_block_past_its_limit_is_kept_up_to_it() -> None:
    config = with_limits(header_block=3)
    data = EHLO + ENVELOPE + b"BDAT 6\r\nA: b\r\nBDAT 6 LAST\r\n\r\nbody"
    events, _ = session_of(*[data[i : i + 1] for i in range(len(data))], config=config)
    assert joined(events) == joined(session_of(data, config=config)[0])
    assert of_type(events, HeadersComplete) == [HeadersComplete(headers=b"A: ")]


def test_header_block_limit_is_at_least_1() -> None:
    assert Limits(header_block=1).header_block == 1
    with pytest.raises(ValueError, match=r"Limits\.header_block must be at least 1"):
        Limits(header_block=0)


def _drive(conn: ServerConnection, pieces: Iterator[bytes]) -> list[Event]:
    """Feed `pieces` after each NEED_DATA, accept decisions, keep only non-content events."""
    kept: list[Event] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.data_to_send()
            conn.receive_data(next(pieces, b""))
            continue
        if isinstance(event, Decision):
            conn.accept()
        if isinstance(event, HeadersComplete | MessageReceived | CommandRejected):
            kept.append(event)
        if isinstance(event, ConnectionClosed):
            return kept


def test_a_bdat_chunk_without_a_blank_line_costs_the_core_bounded_memory() -> None:
    """The core keeps at most `header_block` octets of a message, not the message (which
    the application holds): 8 MiB without a blank line, with a 256 KiB header block.
    Before the limit it kept the whole message as its header block."""
    read = 64 * 1024
    total = 8 * MIB
    config = with_limits(header_block=256 * 1024)
    conn = ServerConnection(config)
    head = EHLO + ENVELOPE + b"BDAT %d LAST\r\n" % total

    def pieces() -> Iterator[bytes]:
        yield head
        for _ in range(total // read):
            yield b"x" * read

    tracemalloc.start()
    try:
        kept = _drive(conn, pieces())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 256 * 1024 + 4 * read  # the block, its copy in the event, some reads
    (headers,) = of_type(kept, HeadersComplete)
    assert headers.headers == b"x" * (256 * 1024)
    assert of_type(kept, MessageReceived) == [MessageReceived(size=total)]


APP_REFUSAL: Final = Reply(552, ("Content refused by the application",), (5, 3, 4))


def run_refusing(
    data: bytes, config: ServerConfig, octets: int, size: int
) -> tuple[list[Event], bytes]:
    """Feed `data` in `size`-octet reads; the application refuses at `octets` of content."""
    conn = ServerConnection(config)
    events: list[Event] = []
    seen = 0
    chunks = [data[i : i + size] for i in range(0, len(data), size)] + [b""]
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(chunks.pop(0))
            continue
        assert not isinstance(event, Signal)
        events.append(event)
        if isinstance(event, Decision):
            seen = 0 if isinstance(event, DataStart) else seen
            conn.accept()
        elif isinstance(event, MessageChunk):
            seen += len(event.data)
            if seen >= octets:
                conn.discard_message(APP_REFUSAL)
        elif isinstance(event, ConnectionClosed):
            return events, conn.data_to_send()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (replace(CONFIG, crlf_mode=CrlfMode.STRICT), b"A: b\r\n\r\n0123456789\r\nbare\nlf\r\n"),
        (with_limits(message_size=14), b"A: b\r\n\r\n0123456789\r\nmore\r\n"),
        (with_limits(text_line=12), b"A: b\r\n\r\n0123456789\r\n" + b"x" * 20 + b"\r\n"),
    ],
    ids=["bare LF", "size", "long line"],
)
def test_an_application_refusing_content_before_a_bad_line_answers_first_however_split(
    config: ServerConfig, message: bytes
) -> None:
    """The reader refuses at a line after content the application refused: the
    application's reply wins whether that content came in one read or in many."""
    data = START + message + b".\r\nQUIT\r\n"
    whole = run_refusing(data, config, 10, len(data))
    assert whole[1].endswith(APP_REFUSAL.to_bytes() + replies.CLOSING.to_bytes())
    for size in (1, 7):
        parts = run_refusing(data, config, 10, size)
        assert parts[1] == whole[1]
        assert [e for e in parts[0] if not isinstance(e, MessageChunk)] == [
            e for e in whole[0] if not isinstance(e, MessageChunk)
        ]


def test_the_reader_refusal_stands_when_the_application_refused_nothing() -> None:
    config = replace(CONFIG, crlf_mode=CrlfMode.STRICT)
    data = START + b"A: b\r\n\r\n0123456789\r\nbare\nlf\r\n.\r\nQUIT\r\n"
    for size in (1, len(data)):
        _, out = run_refusing(data, config, 10_000, size)
        assert out.endswith(replies.BARE_LINE_ENDING.to_bytes() + replies.CLOSING.to_bytes())


def test_a_refused_header_block_gives_no_headers_complete_however_split() -> None:
    """Refused while its last header line is handed out, a header block never completes."""
    data = START + b"A: b\r\nC: d\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    for size in (1, 3, len(data)):
        events, out = run_refusing(data, CONFIG, 5, size)
        assert not of_type(events, HeadersComplete)
        assert out.endswith(APP_REFUSAL.to_bytes() + replies.CLOSING.to_bytes())
