"""Message content survives transfer: a message dot-stuffed by the client comes out of
DATA byte-identical, and a BDAT message split into any chunk sizes and any reads arrives
byte-identical."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from hypothesis import given
from hypothesis import strategies as st

from smtp_proto.config import CrlfMode, Limits
from smtp_proto.events import CommandRejected, Event, HeadersComplete, MessageChunk, MessageReceived
from tests.helpers import CONFIG, EHLO, ENVELOPE, content, dot_stuff, of_type, reads, session

BIG: Final = Limits(text_line=100_000, message_size=1_000_000)
LEAVE: Final = replace(CONFIG, crlf_mode=CrlfMode.LEAVE, limits=BIG)
START: Final = EHLO + ENVELOPE + b"DATA\r\n"
# Bytes that make lines interesting: dots, line endings in every form, the end marker.
PIECES: Final = st.one_of(
    st.sampled_from([b".", b"..", b"\r\n", b"\r", b"\n", b"\r\n.\r\n", b"\r\n.", b"\x00", b" "]),
    st.binary(max_size=12),
)


def header_block(content: bytes) -> bytes:
    """The header block: the content up to the first empty line (ended by LF or CRLF)."""
    if content.startswith((b"\n", b"\r\n")):
        return b""
    m = re.search(rb"\n\r?\n", content)
    return content if m is None else content[: m.start() + 1]


def assert_headers_in_place(events: list[Event], original: bytes) -> None:
    """One HeadersComplete, holding the header block, after exactly the header block's
    content: a hook adding header lines at that moment adds them before the blank line."""
    (headers,) = of_type(events, HeadersComplete)
    assert headers.headers == header_block(original)
    before = events[: events.index(headers)]
    assert b"".join(e.data for e in before if isinstance(e, MessageChunk)) == headers.headers


def message(pieces: list[bytes]) -> bytes:
    """Content a client can send by DATA: empty, or ending in CRLF."""
    body = b"".join(pieces)
    return body if not body or body.endswith(b"\r\n") else body + b"\r\n"


@given(pieces=st.lists(PIECES, max_size=40), cuts=st.lists(st.integers(1, 600), max_size=12))
def test_dot_stuffed_message_is_byte_identical_in_leave_mode(
    pieces: list[bytes], cuts: list[int]
) -> None:
    original = message(pieces)
    events, out = session(*reads(START + dot_stuff(original) + b"QUIT\r\n", cuts), config=LEAVE)
    assert content(events) == original
    assert of_type(events, MessageReceived) == [MessageReceived(size=len(original))]
    assert out.endswith(b"250 2.6.0 Message accepted\r\n221 2.0.0 Bye\r\n")
    assert_headers_in_place(events, original)


LINE: Final = st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(
    lines=st.lists(st.one_of(LINE, st.sampled_from([b".", b"..", b".x", b""])), max_size=30),
    mode=st.sampled_from(list(CrlfMode)),
    cuts=st.lists(st.integers(1, 600), max_size=12),
)
def test_crlf_clean_message_is_byte_identical_in_every_mode(
    lines: list[bytes], mode: CrlfMode, cuts: list[int]
) -> None:
    original = b"".join(line + b"\r\n" for line in lines)
    config = replace(CONFIG, crlf_mode=mode, limits=BIG)
    events, _ = session(*reads(START + dot_stuff(original), cuts), config=config)
    assert content(events) == original
    assert not of_type(events, CommandRejected)
    assert_headers_in_place(events, original)


@given(
    data=st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=20).map(b"".join),
    sizes=st.lists(st.integers(0, 80), max_size=20),
    cuts=st.lists(st.integers(1, 800), max_size=12),
)
def test_bdat_message_in_any_chunk_sizes_is_byte_identical(
    data: bytes, sizes: list[int], cuts: list[int]
) -> None:
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    wire = b"".join(b"BDAT %d\r\n" % len(c) + c for c in chunks[:-1])
    wire += b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1]
    events, out = session(*reads(EHLO + ENVELOPE + wire + b"QUIT\r\n", cuts))
    assert content(events) == data
    assert of_type(events, MessageReceived) == [MessageReceived(size=len(data))]
    assert_headers_in_place(events, data)
    expected = b"".join(b"250 2.0.0 %d octets received\r\n" % len(c) for c in chunks[:-1])
    assert out.endswith(expected + b"250 2.6.0 Message accepted\r\n221 2.0.0 Bye\r\n")
