"""Every limit in `Limits` at its edge and one past it, with its exact reply, and the
memory a connection holds while a huge input streams through it."""

from __future__ import annotations

import base64
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import ANY_VERB, AuthMode, CrlfMode, Limits, ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    AuthCredentials,
    CommandRejected,
    ConnectionClosed,
    Decision,
    MessageReceived,
    RcptTo,
    UnknownCommand,
)
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

START: Final = EHLO + ENVELOPE + b"DATA\r\n"
READ: Final = 64 * 1024
GIB: Final = 1024 * 1024 * 1024


def with_limits(**limits: int) -> ServerConfig:
    return replace(CONFIG, limits=Limits(**limits))


def reads(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# Command lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, len(b"x") * 4096])
def test_command_line_of_512_octets_is_taken_513_gets_500(size: int) -> None:
    conn = started(EHLO)
    data = b"NOOP" + b" " * 506 + b"\r\n" + b"NOOP" + b" " * 507 + b"\r\nNOOP\r\n"
    events = pump(conn, *reads(data, size))
    assert conn.data_to_send() == wire(replies.NOOP_OK, replies.LINE_TOO_LONG, replies.NOOP_OK)
    assert events == [CommandRejected(command="NOOP", reply=replies.LINE_TOO_LONG)]


def test_command_line_limit_is_configurable() -> None:
    conn = started(EHLO, config=with_limits(command_line=30))
    pump(conn, b"NOOP" + b" " * 24 + b"\r\nNOOP" + b" " * 25 + b"\r\n")
    assert conn.data_to_send() == wire(replies.NOOP_OK, replies.LINE_TOO_LONG)


# MAIL and RCPT get 512 plus SIZE 26, 8BITMIME 20, SMTPUTF8 10 and DSN 600 (AUTH off).
MAIL_LINE: Final = 512 + 26 + 20 + 10 + 600


@pytest.mark.parametrize(
    ("verb", "prefix", "ok"),
    [
        ("MAIL", b"", replies.SENDER_OK),
        ("RCPT", b"MAIL FROM:<a@example.test>\r\n", replies.RECIPIENT_OK),
    ],
)
def test_mail_and_rcpt_lines_get_the_extension_allowances(
    verb: str, prefix: bytes, ok: replies.Reply
) -> None:
    line = b"MAIL FROM:<a@example.test>" if verb == "MAIL" else b"RCPT TO:<b@example.test>"
    conn = started(EHLO + prefix)
    pad = MAIL_LINE - len(line) - 2
    pump(conn, line + b" " * pad + b"\r\n")
    assert conn.data_to_send() == wire(ok)
    conn = started(EHLO + prefix)
    events = pump(conn, line + b" " * (pad + 1) + b"\r\n")
    assert conn.data_to_send() == wire(replies.LINE_TOO_LONG)
    assert events == [CommandRejected(command=verb, reply=replies.LINE_TOO_LONG)]


def test_auth_adds_its_allowance_to_mail_lines() -> None:
    config = replace(CONFIG, auth_mode=AuthMode.OPTIONAL)
    line = b"MAIL FROM:<a@example.test>"
    conn = started(EHLO, config=config)
    pump(conn, line + b" " * (MAIL_LINE + 500 - len(line) - 2) + b"\r\nRSET\r\n")
    pump(conn, line + b" " * (MAIL_LINE + 500 - len(line) - 1) + b"\r\n")
    assert conn.data_to_send() == wire(replies.SENDER_OK, replies.RESET_OK, replies.LINE_TOO_LONG)


def _auth_line(octets: int) -> bytes:
    """An AUTH PLAIN line of exactly `octets` octets with CRLF (trailing spaces pad it)."""
    room = octets - len(b"AUTH PLAIN \r\n")
    password = b"p" * ((room // 4) * 3 - len(b"\0user\0"))
    initial = base64.b64encode(b"\0user\0" + password)
    return b"AUTH PLAIN " + initial + b" " * (room - len(initial)) + b"\r\n"


def test_auth_line_of_12288_octets_is_taken_12289_gets_500() -> None:
    config = replace(CONFIG, auth_mode=AuthMode.OPTIONAL)
    conn = started(EHLO, config=config)
    events = pump(conn, _auth_line(12288), decide=answers({AuthCredentials: None}))
    assert len(_auth_line(12288)) == 12288
    assert [len(e.secret) for e in of_type(events, AuthCredentials)] == [9198]
    assert conn.data_to_send() == wire(replies.AUTH_FAILED)
    events = pump(conn, _auth_line(12289) + b"NOOP\r\n")
    assert conn.data_to_send() == wire(replies.LINE_TOO_LONG, replies.NOOP_OK)
    assert events == [CommandRejected(command="", reply=replies.LINE_TOO_LONG)]


def test_auth_response_line_over_the_limit_fails_the_exchange() -> None:
    config = replace(CONFIG, auth_mode=AuthMode.OPTIONAL, limits=Limits(auth_line=102))
    conn = started(EHLO, config=config)
    pump(conn, b"AUTH PLAIN\r\n")
    assert conn.data_to_send() == b"334 \r\n"
    ok = base64.b64encode(b"\0user\0" + b"p" * 69) + b"\r\n"
    assert len(ok) == 102
    events = pump(conn, ok, decide=answers({AuthCredentials: None}))
    assert conn.data_to_send() == wire(replies.AUTH_FAILED)
    pump(conn, b"AUTH PLAIN\r\n", ok[:-2] + b" \r\nNOOP\r\n")
    assert conn.data_to_send() == (b"334 \r\n" + wire(replies.AUTH_LINE_TOO_LONG, replies.NOOP_OK))
    assert conn.state is State.READY
    assert of_type(events, AuthCredentials)


@pytest.mark.parametrize("size", [1, 64, 100_000])
def test_endless_line_past_line_buffer_gets_421(size: int) -> None:
    limit = Limits().line_buffer
    # Octets before the CRLF: at the limit, then one past it.
    edge = EHLO + b"X" * limit + b"\r\nNOOP\r\n"
    conn = started()
    pump(conn, *reads(edge, size))
    assert conn.data_to_send().endswith(wire(replies.LINE_TOO_LONG, replies.NOOP_OK))
    conn = started()
    events = pump(conn, *reads(EHLO + b"X" * (limit + 1) + b"\r\nNOOP\r\n", size))
    assert conn.data_to_send().endswith(
        b"250 HELP\r\n421 4.7.0 Line too long, closing connection\r\n"
    )
    assert events[-2:] == [
        CommandRejected(command="", reply=replies.LINE_NEVER_ENDS),
        ConnectionClosed(by_client=False),
    ]


def test_an_overlong_line_does_not_swallow_the_commands_after_it() -> None:
    conn = started(EHLO)
    pump(conn, b"Y" * 13000 + b"\r\nNOOP\r\nRSET\r\n")
    assert conn.data_to_send() == wire(replies.LINE_TOO_LONG, replies.NOOP_OK, replies.RESET_OK)


# Text lines in DATA ----------------------------------------------------------------------


def _text_session(line: bytes, size: int, mode: CrlfMode = CrlfMode.ENSURE) -> bytes:
    conn = started(START, config=replace(CONFIG, crlf_mode=mode))
    data = b"\r\n" + line + b"after\r\n.\r\nNOOP\r\n"
    pump(conn, *reads(data, size))
    return conn.data_to_send()


TEXT_OK: Final = wire(replies.MESSAGE_ACCEPTED, replies.NOOP_OK)
TEXT_REFUSED: Final = b"500 5.5.6 Line too long in message text\r\n" + wire(replies.NOOP_OK)


@pytest.mark.parametrize("size", [1, 3, 999, 1000, 1001, READ])
def test_text_line_of_1000_octets_is_taken_1001_is_refused(size: int) -> None:
    assert _text_session(b"a" * 998 + b"\r\n", size) == TEXT_OK
    assert _text_session(b"a" * 999 + b"\r\n", size) == TEXT_REFUSED


@pytest.mark.parametrize("size", [1, 1000, READ])
def test_a_dot_stuffed_line_gets_one_octet_more(size: int) -> None:
    assert _text_session(b"." + b"a" * 998 + b"\r\n", size) == TEXT_OK
    assert _text_session(b"." + b"a" * 999 + b"\r\n", size) == TEXT_REFUSED


@pytest.mark.parametrize("mode", [CrlfMode.ENSURE, CrlfMode.LEAVE])
def test_text_line_ending_in_bare_lf_counts_the_octets_sent(mode: CrlfMode) -> None:
    assert _text_session(b"a" * 999 + b"\n", 1, mode) == TEXT_OK
    assert _text_session(b"a" * 1000 + b"\n", 1, mode) == TEXT_REFUSED


def test_text_line_limit_is_configurable() -> None:
    conn = started(START, config=with_limits(text_line=10))
    events = pump(conn, b"12345678\r\n123456789\r\n.\r\n")
    assert conn.data_to_send() == wire(replies.TEXT_LINE_TOO_LONG)
    assert CommandRejected(command="DATA", reply=replies.TEXT_LINE_TOO_LONG) in events


# Message size ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 5, READ])
def test_message_at_the_size_limit_is_taken_one_more_octet_gets_552(size: int) -> None:
    config = with_limits(message_size=100)
    body = b"Subject: x\r\n\r\n" + b"b" * 84 + b"\r\n"
    assert len(body) == 100
    conn = started(START, config=config)
    events = pump(conn, *reads(body + b".\r\n", size))
    assert of_type(events, MessageReceived) == [MessageReceived(size=100)]
    assert content(events) == body
    assert conn.data_to_send() == wire(replies.MESSAGE_ACCEPTED)
    conn = started(START, config=config)
    events = pump(conn, *reads(b"x" + body + b".\r\n" + ENVELOPE + b"DATA\r\n.\r\n", size))
    assert conn.data_to_send() == (
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        + wire(replies.SENDER_OK, replies.RECIPIENT_OK, replies.START_DATA)
        + wire(replies.MESSAGE_ACCEPTED)
    )
    assert of_type(events, MessageReceived) == [MessageReceived(size=0)]


def test_size_counts_content_after_unstuffing_and_normalising() -> None:
    for limit, reply in ((7, replies.MESSAGE_ACCEPTED), (6, replies.MESSAGE_TOO_BIG)):
        conn = started(START, config=with_limits(message_size=limit))
        pump(conn, b"..a\nb\r\n.\r\n")  # ".a\r\nb\r\n": 7 octets delivered
        assert conn.data_to_send() == wire(reply)


def test_the_first_limit_broken_decides_the_reply_whatever_the_reads() -> None:
    config = with_limits(text_line=10, message_size=5)
    data = START + b"123456\r\n" + b"x" * 20 + b"\r\n.\r\n"
    for chunks in ([data], reads(data, 1)):
        conn = started(config=config)
        pump(conn, *chunks)
        assert conn.data_to_send().endswith(wire(replies.MESSAGE_TOO_BIG))


# Recipients, unknown commands, errors, AUTH failures --------------------------------------


def test_recipients_at_the_limit_then_452() -> None:
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n", config=with_limits(recipients=3))
    rcpts = b"".join(b"RCPT TO:<r%d@example.test>\r\n" % i for i in range(4))
    events = pump(conn, rcpts)
    assert conn.data_to_send() == wire(replies.RECIPIENT_OK) * 3 + (
        b"452 4.5.3 Too many recipients\r\n"
    )
    assert events[-1] == CommandRejected(command="RCPT", reply=replies.TOO_MANY_RECIPIENTS)
    assert len(of_type(events, RcptTo)) == 3


def test_refused_recipients_do_not_count_and_a_new_transaction_starts_over() -> None:
    config = with_limits(recipients=2)
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n", config=config)
    pump(conn, b"RCPT TO:<x@example.test>\r\n", decide=answers({RcptTo: None}))
    pump(conn, b"RCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRSET\r\n")
    pump(conn, b"MAIL FROM:<a@example.test>\r\nRCPT TO:<c@example.test>\r\n")
    assert conn.data_to_send() == wire(
        replies.UNKNOWN_MAILBOX,
        replies.RECIPIENT_OK,
        replies.RECIPIENT_OK,
        replies.RESET_OK,
        replies.SENDER_OK,
        replies.RECIPIENT_OK,
    )


@pytest.mark.parametrize("verbs", [frozenset(), frozenset({ANY_VERB})], ids=["core", "any-verb"])
def test_unknown_commands_at_the_limit_then_421(verbs: frozenset[str]) -> None:
    # Whether the core answers them or the application hears them, unknown verbs count.
    config = replace(with_limits(unknown_commands=3), extension_verbs=verbs)
    conn = started(EHLO, config=config)
    events = pump(conn, b"XA\r\nXB\r\nXC\r\nXD\r\nNOOP\r\n", decide=answers({UnknownCommand: None}))
    assert len(of_type(events, UnknownCommand)) == (3 if verbs else 0)
    assert conn.data_to_send() == wire(replies.UNRECOGNIZED) * 3 + (
        b"421 4.7.0 Too many unknown commands, closing connection\r\n"
    )
    assert events[-1] == ConnectionClosed(by_client=False)


def test_accepted_unknown_commands_count_too() -> None:
    config = replace(with_limits(unknown_commands=1), extension_verbs=frozenset({ANY_VERB}))
    conn = started(EHLO, config=config)
    pump(conn, b"XA\r\nXB\r\n", decide=answers(accepted={UnknownCommand: replies.OK}))
    assert conn.data_to_send() == wire(replies.OK, replies.TOO_MANY_UNKNOWN)
    assert conn.closed


def test_named_extension_verbs_are_not_unknown() -> None:
    config = replace(with_limits(unknown_commands=1), extension_verbs=frozenset({"XA"}))
    conn = started(EHLO, config=config)
    ok = answers(accepted={UnknownCommand: replies.OK})
    pump(conn, b"XA\r\n" * 5 + b"XB\r\nXC\r\n", decide=ok)
    assert conn.data_to_send() == wire(replies.OK) * 5 + wire(
        replies.UNRECOGNIZED, replies.TOO_MANY_UNKNOWN
    )


def test_errors_at_the_limit_then_421() -> None:
    conn = started(EHLO, config=with_limits(errors=3))
    events = pump(conn, b"RCPT TO:<a@example.test>\r\n" * 2 + b"VRFY\r\nDATA\r\nNOOP\r\n")
    assert conn.data_to_send() == wire(replies.NEED_MAIL, replies.NEED_MAIL, replies.BAD_SYNTAX) + (
        b"421 4.7.0 Too many errors, closing transmission channel\r\n"
    )
    assert events[-2:] == [
        CommandRejected(command="DATA", reply=replies.TOO_MANY_ERRORS),
        ConnectionClosed(by_client=False),
    ]


def test_errors_from_the_application_count() -> None:
    conn = started(EHLO, config=with_limits(errors=1))
    pump(conn, b"MAIL FROM:<a@example.test>\r\nMAIL FROM:<b@example.test>\r\n", decide=reject_all)
    assert conn.data_to_send() == wire(replies.SENDER_REJECTED, replies.TOO_MANY_ERRORS)


def reject_all(conn: ServerConnection, event: Decision) -> None:
    conn.reject()


@pytest.mark.parametrize("failures", [1, 3])
def test_auth_failures_at_the_limit_then_421(failures: int) -> None:
    config = replace(CONFIG, auth_mode=AuthMode.OPTIONAL, limits=Limits(auth_failures=failures))
    conn = started(EHLO, config=config)
    attempt = b"AUTH PLAIN " + base64.b64encode(b"\0user\0wrong") + b"\r\n"
    events = pump(conn, attempt * (failures + 1) + b"NOOP\r\n", decide=reject_all)
    assert conn.data_to_send() == wire(replies.AUTH_FAILED) * failures + (
        b"421 4.7.0 Too many failed authentications, closing\r\n"
    )
    assert len(of_type(events, AuthCredentials)) == failures + 1
    assert events[-1] == ConnectionClosed(by_client=False)


# Memory: a huge input costs no more than a limit plus one read ---------------------------


def _drive(conn: ServerConnection, pieces: Iterator[bytes], bound: int) -> list[object]:
    """Feed pieces after NEED_DATA, accept decisions, drop chunks; check the buffer bound."""
    kept: list[object] = []
    for piece in pieces:
        while (event := conn.next_event()) is not NEED_DATA:
            assert event is not PAUSED
            if isinstance(event, Decision):
                conn.accept()
            if isinstance(event, CommandRejected | MessageReceived | ConnectionClosed):
                kept.append(event)
            if isinstance(event, ConnectionClosed):
                return kept
        conn.receive_data(piece)
        assert conn.buffered <= bound
    kept.extend(pump(conn))
    return kept


def _lines(total: int) -> Iterator[bytes]:
    piece = (b"x" * 98 + b"\r\n") * (READ // 100)
    for _ in range(total // len(piece)):
        yield piece


def _peak(run: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_1_gib_message_over_the_size_limit_keeps_memory_bounded() -> None:
    config = with_limits(message_size=1024 * 1024)
    conn = started(START, config=config)
    kept: list[object] = []

    def run() -> None:
        kept.extend(_drive(conn, _message(GIB), READ + 1000))

    assert _peak(run) < 512 * 1024
    assert kept[:1] == [CommandRejected(command="DATA", reply=replies.MESSAGE_TOO_BIG)]
    assert conn.data_to_send() == wire(replies.MESSAGE_TOO_BIG)


def _message(total: int) -> Iterator[bytes]:
    yield b"Subject: big\r\n\r\n"
    yield from _lines(total)
    yield b".\r\n"


def test_a_1_gib_bdat_chunk_over_the_size_limit_keeps_memory_bounded() -> None:
    total = GIB
    config = with_limits(message_size=1024 * 1024)
    size = sum(len(piece) for piece in _message(total))
    conn = started(EHLO + ENVELOPE + b"BDAT %d LAST\r\n" % size, config=config)
    kept: list[object] = []

    def run() -> None:
        kept.extend(_drive(conn, _message(total), READ + 1000))

    assert _peak(run) < 512 * 1024
    assert conn.data_to_send() == wire(replies.MESSAGE_TOO_BIG)


def test_an_endless_command_line_keeps_memory_bounded() -> None:
    conn = started(EHLO)
    kept: list[object] = []

    def run() -> None:
        pieces = (b"z" * READ for _ in range(1000))
        kept.extend(_drive(conn, pieces, READ + Limits().auth_line))

    assert _peak(run) < 512 * 1024
    assert kept[-1] == ConnectionClosed(by_client=False)
    assert conn.data_to_send() == wire(replies.LINE_NEVER_ENDS)


@pytest.mark.parametrize("text_line", [2, 3])
def test_data_end_marker_read_a_byte_at_a_time_under_any_text_line_limit(text_line: int) -> None:
    config = replace(CONFIG, limits=Limits(text_line=text_line))
    data = EHLO + ENVELOPE + b"DATA\r\n.\r\nQUIT\r\n"
    whole = session(data, config=config)
    bytewise = session(*[data[i : i + 1] for i in range(len(data))], config=config)
    assert bytewise[1] == whole[1]
    assert bytewise[1].endswith(b"250 2.6.0 Message accepted\r\n221 2.0.0 Bye\r\n")


@pytest.mark.parametrize(
    ("name", "least"), [("command_line", 6), ("line_buffer", 6), ("auth_line", 2), ("text_line", 2)]
)
def test_limits_below_the_shortest_line_they_must_pass_are_refused(name: str, least: int) -> None:
    assert getattr(Limits(**{name: least}), name) == least
    with pytest.raises(ValueError, match=f"Limits.{name} must be at least {least}"):
        Limits(**{name: least - 1})


def test_a_header_block_cut_by_an_overlong_line_never_completes_whatever_the_split() -> None:
    data = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + b"X" * 1001 + b"\r\n\n"
    whole = session(data, b"")
    bytewise = session(*[data[i : i + 1] for i in range(len(data))], b"")
    assert [type(e).__name__ for e in whole[0][-2:]] == ["DataStart", "ConnectionClosed"]
    assert whole == bytewise


def test_a_bdat_read_past_the_size_limit_is_refused_without_a_copy() -> None:
    config = replace(CONFIG, limits=Limits(message_size=1024))
    conn = started(EHLO + ENVELOPE, config=config)
    big = b"x" * (8 * 1024 * 1024)
    conn.receive_data(b"BDAT %d LAST\r\n" % len(big) + big)
    tracemalloc.start()
    try:
        pump(conn)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(big) // 2
    assert b"552" in conn.data_to_send()


def test_a_bdat_chunk_past_a_tiny_size_limit_gives_the_same_content_however_split() -> None:
    config = replace(CONFIG, limits=Limits(message_size=3))
    data = EHLO + ENVELOPE + b"BDAT 8 LAST\r\nabcdefgh" + ENVELOPE + b"DATA\r\nabcdefgh\r\n.\r\n"
    whole = session(data, b"", config=config)
    bytewise = session(*[data[i : i + 1] for i in range(len(data))], b"", config=config)
    assert joined(whole[0]) == joined(bytewise[0])
    assert whole[1] == bytewise[1]
    assert content(whole[0]).startswith(b"abc")
