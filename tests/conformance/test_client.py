"""The suite's own reply parser and raw client: strict on syntax, exact on bytes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from conformance.client import (
    Client,
    ConnectionClosed,
    MalformedReply,
    NoReply,
    Transcript,
    enhanced_code,
    parse_reply,
)


def test_single_line_reply_is_parsed_and_rest_kept() -> None:
    reply, rest = parse_reply(b"250 2.0.0 OK\r\n221 bye\r\n")
    assert reply is not None
    assert (reply.code, reply.lines, reply.raw) == (250, ("2.0.0 OK",), b"250 2.0.0 OK\r\n")
    assert rest == b"221 bye\r\n"
    assert reply.enhanced == (2, 0, 0)


def test_multi_line_reply_collects_every_line() -> None:
    reply, rest = parse_reply(b"250-mx.example\r\n250-SIZE 100\r\n250 PIPELINING\r\n")
    assert reply is not None
    assert reply.lines == ("mx.example", "SIZE 100", "PIPELINING")
    assert rest == b""


@pytest.mark.parametrize("partial", [b"", b"250", b"250 OK", b"250 OK\r", b"250-a\r\n250 b"])
def test_incomplete_reply_waits_for_more(partial: bytes) -> None:
    assert parse_reply(partial) == (None, partial)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"250 OK\n", "not ended by CRLF"),
        (b"\n", "not ended by CRLF"),
        (b"25 OK\r\n", "valid 3-digit code"),
        (b"2500 OK\r\n", "space or hyphen"),
        (b"abc OK\r\n", "valid 3-digit code"),
        (b"650 OK\r\n", "valid 3-digit code"),
        (b"160 OK\r\n", "valid 3-digit code"),
        (b"260 OK\r\n", "valid 3-digit code"),
        (b"250_OK\r\n", "space or hyphen"),
        (b"250-first\r\n251 second\r\n", "changes its code"),
        (b"250 bad\x00text\r\n", "control character"),
        (b"250 bad\rtext\r\n", "control character"),
    ],
)
def test_malformed_replies_are_refused_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedReply, match=why):
        parse_reply(raw)


def test_code_alone_and_empty_text_are_well_formed() -> None:
    bare, _ = parse_reply(b"250\r\n")
    empty, _ = parse_reply(b"334 \r\n")
    assert bare is not None
    assert bare.lines == ("",)
    assert empty is not None
    assert (empty.code, empty.lines) == (334, ("",))


@pytest.mark.parametrize(
    ("text", "code"),
    [("5.7.8 nope", (5, 7, 8)), ("2.1.10 ok", (2, 1, 10)), ("2.0.0", (2, 0, 0))],
)
def test_enhanced_code_is_read_from_the_text(text: str, code: tuple[int, int, int]) -> None:
    assert enhanced_code(text) == code


@pytest.mark.parametrize("text", ["3.0.0 no class 3", "2.0 short", "2.0.0x", "OK"])
def test_text_without_enhanced_code(text: str) -> None:
    assert enhanced_code(text) is None


@pytest.fixture
def pair() -> Iterator[tuple[Client, socket.socket]]:
    """A client on one end of a socket pair, the fake server on the other."""
    ours, theirs = socket.socketpair()
    client = Client(ours, Transcript(), timeout=0.2)
    try:
        yield client, theirs
    finally:
        client.close()
        theirs.close()


def test_replies_split_across_reads_are_joined(pair: tuple[Client, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"250-a\r\n25")
    assert client.poll(0.05) is None
    server.sendall(b"0 b\r\n")
    assert client.reply().lines == ("a", "b")


def test_silence_is_no_reply(pair: tuple[Client, socket.socket]) -> None:
    client, _ = pair
    with pytest.raises(NoReply, match=r"no reply within 0\.2s"):
        client.reply()


def test_close_is_reported_and_recorded(pair: tuple[Client, socket.socket]) -> None:
    client, server = pair
    client.send(b"QUIT\r\n")
    assert server.recv(100) == b"QUIT\r\n"
    server.sendall(b"221 bye\r\n")
    server.close()
    assert client.reply().code == 221
    with pytest.raises(ConnectionClosed):
        client.reply()
    assert client.transcript.render() == [
        "C: QUIT\\r\\n",
        "S: 221 bye\\r\\n",
        "*: connection closed by server",
    ]


def test_wait_closed_returns_the_last_replies(pair: tuple[Client, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"421 going away\r\n")
    server.close()
    assert [r.code for r in client.wait_closed()] == [421]


def test_wait_closed_fails_while_the_server_stays(pair: tuple[Client, socket.socket]) -> None:
    client, _ = pair
    with pytest.raises(NoReply, match="still open"):
        client.wait_closed(0.05)


def test_long_payloads_are_shortened_in_the_transcript() -> None:
    transcript = Transcript()
    transcript.add("C", b"x" * 500)
    (line,) = transcript.render(limit=10)
    assert line == "C: xxxxxxxxxx... (500 bytes)"
