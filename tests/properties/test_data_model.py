"""The DATA reader against a line-by-line model of RFC 5321 4.5.2: lines end in CRLF, a
line of one dot ends the data, any other line's leading dot is removed; then the CRLF
mode applies. Random content made of the tricky pieces, split into random reads."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import replies
from smtp_proto.config import CrlfMode, Limits
from smtp_proto.events import CommandRejected, MessageReceived
from smtp_proto.replies import Reply
from tests.helpers import CONFIG, EHLO, ENVELOPE, content, of_type, reads, session

START: Final = EHLO + ENVELOPE + b"DATA\r\n"
PIECES: Final = st.lists(
    st.one_of(
        st.sampled_from(
            [b".", b"\r\n", b"\r", b"\n", b"\r\n.\r\n", b"\r\n.", b".\r\n", b"\n.\n", b"\r.\r"]
        ),
        st.binary(max_size=6),
    ),
    max_size=40,
)
BARE_LF: Final = re.compile(rb"(?<!\r)\n")
BARE: Final = re.compile(rb"(?<!\r)\n|\r(?!\n)")


def model(data: bytes, mode: CrlfMode) -> bytes | None:
    """The content DATA delivers for `data`, b"REFUSED" in STRICT with a bare CR or LF, or
    None while the end marker has not come."""
    lines, pos = [], 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        line = data[pos:end]
        if line == b".":
            break
        lines.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
        pos = end + 2
    body = b"".join(lines)
    if mode is CrlfMode.ENSURE:
        return BARE_LF.sub(b"\r\n", body)
    if mode is CrlfMode.STRICT and BARE.search(body):
        return b"REFUSED"
    return body


@given(pieces=PIECES, mode=st.sampled_from(list(CrlfMode)), cuts=st.lists(st.integers(1, 300)))
def test_data_reader_matches_the_line_model(
    pieces: list[bytes], mode: CrlfMode, cuts: list[int]
) -> None:
    data = b"".join(pieces)
    config = replace(CONFIG, crlf_mode=mode, limits=Limits(text_line=100_000))
    events, out = session(*reads(START + data, cuts), config=config)
    expected = model(data, mode)
    if expected is None:
        assert not of_type(events, MessageReceived)
        assert not of_type(events, CommandRejected)
        assert out.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    elif expected == b"REFUSED":
        assert "DATA" in [e.command for e in of_type(events, CommandRejected)]
        assert not of_type(events, MessageReceived)
    else:
        assert content(events) == expected
        assert of_type(events, MessageReceived) == [MessageReceived(size=len(expected))]


def model_limits(
    data: bytes, mode: CrlfMode, text_line: int, size: int
) -> tuple[Reply, bytes] | None:
    """The reply after the end of data when `data` is read in stream order, and the content
    handed out: the first limit a line breaks refuses the message (its length as sent, a
    stuffed dot not counted; then STRICT's bare CR or LF; then the content size so far).
    Content stops before a bad line, or after the octets that fit the size. None while the
    end has not come."""
    failure: Reply | None = None
    out, bol = b"", True
    for part in data.split(b"\n")[:-1]:  # the text after the last LF cannot hold the end
        line = part + b"\n"
        if bol and line == b".\r\n":
            return failure or replies.MESSAGE_ACCEPTED, out
        stuffed = bol and line.startswith(b".")
        bol = line.endswith(b"\r\n")
        if failure is not None:
            continue
        body = line[1:] if stuffed else line
        if len(body) > text_line:
            failure = replies.TEXT_LINE_TOO_LONG
        elif mode is CrlfMode.STRICT and BARE.search(body):
            failure = replies.BARE_LINE_ENDING
        else:
            out += BARE_LF.sub(b"\r\n", body) if mode is CrlfMode.ENSURE else body
            if len(out) > size:
                failure, out = replies.MESSAGE_TOO_BIG, out[:size]
    return None


@given(
    pieces=PIECES,
    mode=st.sampled_from(list(CrlfMode)),
    text_line=st.integers(2, 12),
    size=st.integers(1, 40),
    cuts=st.one_of(st.none(), st.just([]), st.lists(st.integers(1, 300))),
)
def test_limits_in_stream_order_match_the_model(
    pieces: list[bytes], mode: CrlfMode, text_line: int, size: int, cuts: list[int] | None
) -> None:
    """Whatever the reads (a byte each when `cuts` is None, one, random), the first limit
    broken decides the reply, and the content handed out before it is the same."""
    data = b"".join(pieces)
    config = replace(CONFIG, crlf_mode=mode, limits=Limits(text_line=text_line, message_size=size))
    wire = START + data
    events, out = session(*reads(wire, range(len(wire)) if cuts is None else cuts), config=config)
    expected = model_limits(data, mode, text_line, size)
    tail = out.split(b"354 End data with <CR><LF>.<CR><LF>\r\n", 1)[1]
    if expected is None:
        assert tail == b""
    else:
        reply, handed_out = expected
        assert tail.startswith(reply.to_bytes())
        assert content(events) == handed_out
