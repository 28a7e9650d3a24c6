"""Drivers for the core's tests: feed bytes to a `ServerConnection`, answer its decisions
and collect the events and reply bytes. No sockets: bytes in, events and bytes out."""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TypeVar

from smtp_proto.config import ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    BeginTls,
    ConnectionClosed,
    Decision,
    Event,
    MessageChunk,
)
from smtp_proto.replies import Reply

T = TypeVar("T")
Decide = Callable[[ServerConnection, Decision], None]
OnTls = Callable[[ServerConnection], None]

HOST: Final = "mx.example.test"
CONFIG: Final = ServerConfig(hostname=HOST)
GREETING: Final = b"220 mx.example.test ESMTP smtp-proto ready\r\n"
EHLO: Final = b"EHLO client.example\r\n"
# The EHLO reply of CONFIG, written out: tests must fail when the list changes.
EHLO_REPLY: Final = (
    b"250-mx.example.test Hello client.example\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 33554432\r\n"
    b"250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-CHUNKING\r\n"
    b"250-BINARYMIME\r\n"
    b"250-DSN\r\n"
    b"250 HELP\r\n"
)
ENVELOPE: Final = b"MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\n"
ENVELOPE_REPLY: Final = b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
NONCE: Final = "1896.697170952"

_REPLY_LINE: Final = re.compile(rb"([2-5][0-9][0-9])([ -])[\x20-\x7e]*\r\n")


def accept_all(conn: ServerConnection, event: Decision) -> None:
    """Accept every decision with its default reply."""
    conn.accept()


def answers(
    rejected: Mapping[type[Decision], Reply | None] | None = None,
    accepted: Mapping[type[Decision], Reply] | None = None,
) -> Decide:
    """Reject the decisions of the types in `rejected` (None: the default rejection), accept
    those in `accepted` with the given reply, accept everything else by default."""
    rejected = rejected or {}
    accepted = accepted or {}

    def decide(conn: ServerConnection, event: Decision) -> None:
        kind = type(event)
        if kind in rejected:
            conn.reject(rejected[kind])
        else:
            conn.accept(accepted.get(kind))

    return decide


def establish_tls(conn: ServerConnection) -> None:
    """What a transport does after BeginTls once the handshake succeeded."""
    conn.tls_established()


def pump(
    conn: ServerConnection,
    *chunks: bytes,
    decide: Decide = accept_all,
    on_tls: OnTls = establish_tls,
) -> list[Event]:
    """Feed `chunks` one at a time, each only after NEED_DATA; answer every decision with
    `decide` and every BeginTls with `on_tls`. Returns the events up to the point where the
    chunks ran out (NEED_DATA) or ConnectionClosed. PAUSED fails: a decision went unanswered.
    """
    pending = deque(chunks)
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            if not pending:
                return events
            conn.receive_data(pending.popleft())
            continue
        if event is PAUSED:
            raise AssertionError(f"PAUSED after {events[-1:]}: a decision was not answered")
        events.append(event)
        if isinstance(event, Decision):
            decide(conn, event)
        elif isinstance(event, BeginTls):
            on_tls(conn)
        elif isinstance(event, ConnectionClosed):
            return events


def session(
    *chunks: bytes,
    config: ServerConfig = CONFIG,
    decide: Decide = accept_all,
    on_tls: OnTls = establish_tls,
    encrypted: bool = False,
    nonce: Callable[[], str] | None = None,
) -> tuple[list[Event], bytes]:
    """A new connection driven by `pump`: (all its events, all the bytes it sent)."""
    conn = ServerConnection(config, encrypted=encrypted, nonce=nonce)
    events = pump(conn, *chunks, decide=decide, on_tls=on_tls)
    return events, conn.data_to_send()


def started(
    *chunks: bytes,
    config: ServerConfig = CONFIG,
    decide: Decide = accept_all,
    encrypted: bool = False,
    nonce: Callable[[], str] | None = None,
) -> ServerConnection:
    """A connection greeted and driven through `chunks`, its output so far taken away."""
    conn = ServerConnection(config, encrypted=encrypted, nonce=nonce)
    pump(conn, *chunks, decide=decide)
    conn.data_to_send()
    return conn


def joined(events: Iterable[Event]) -> list[Event]:
    """The events with each run of consecutive MessageChunks merged into one."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, MessageChunk) and out and isinstance(out[-1], MessageChunk):
            out[-1] = MessageChunk(data=out[-1].data + event.data)
        elif not (isinstance(event, MessageChunk) and not event.data):
            out.append(event)
    return out


def content(events: Iterable[Event]) -> bytes:
    """All message content handed out in MessageChunk events, joined."""
    return b"".join(e.data for e in events if isinstance(e, MessageChunk))


def of_type(events: Iterable[object], kind: type[T]) -> list[T]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, kind)]


def wire(*items: Reply, esc: bool = True) -> bytes:
    """The bytes of these replies, with enhanced codes when `esc` (after EHLO)."""
    return b"".join(r.to_bytes(enhanced=esc) for r in items)


def split_replies(out: bytes) -> list[bytes]:
    """Whole replies (continuation lines kept together); AssertionError when malformed."""
    result: list[bytes] = []
    current = b""
    pos = 0
    while pos < len(out):
        m = _REPLY_LINE.match(out, pos)
        if m is None:
            raise AssertionError(f"malformed reply line at {pos}: {out[pos : pos + 80]!r}")
        code = m.group(1)
        if current and current[:3] != code:
            raise AssertionError(f"continuation with another code: {out[pos : pos + 80]!r}")
        current += m.group(0)
        pos = m.end()
        if m.group(2) == b" ":
            result.append(current)
            current = b""
    if current:
        raise AssertionError(f"reply ends on a continuation line: {current!r}")
    return result


def dot_stuff(data: bytes) -> bytes:
    """What a client sends for `data` (ending in CRLF or empty): dots doubled at the start
    of each CRLF line, then the end marker (RFC 5321 4.5.2)."""
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


def reads(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """`data` cut at the given offsets (out of range and repeated ones ignored)."""
    points = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]
