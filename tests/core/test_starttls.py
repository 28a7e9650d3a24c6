"""STARTTLS through the connection (RFC 3207): advertising, refusals, the discard rule for
plaintext pipelined after the command (CVE-2011-0411 class), the session starting over,
TlsMode.REQUIRED and implicit TLS (RFC 8314)."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import AuthMode, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    BeginTls,
    CommandRejected,
    ConnectionClosed,
    ConnectionOpened,
    MailFrom,
    SessionReset,
    StartTlsRequest,
)
from smtp_proto.state import State, Verb
from tests.helpers import (
    CONFIG,
    EHLO,
    EHLO_REPLY,
    GREETING,
    answers,
    of_type,
    pump,
    session,
    started,
    wire,
)

TLS: Final = replace(CONFIG, tls_mode=TlsMode.OPTIONAL, auth_mode=AuthMode.OPTIONAL)
EHLO_TLS: Final = EHLO_REPLY.replace(b"250 HELP", b"250-STARTTLS\r\n250 HELP")
EHLO_AFTER_TLS: Final = EHLO_REPLY.replace(b"250 HELP", b"250-AUTH PLAIN LOGIN\r\n250 HELP")
READY_FOR_TLS: Final = b"220 2.0.0 Ready to start TLS\r\n"
INJECTED: Final = b"MAIL FROM:<evil@example.test>\r\nRCPT TO:<victim@example.test>\r\nQUIT\r\n"


def test_starttls_is_advertised_only_when_available_and_not_active() -> None:
    _, out = session(EHLO, config=TLS)
    assert out == GREETING + EHLO_TLS
    _, out = session(EHLO)
    assert out == GREETING + EHLO_REPLY
    _, out = session(EHLO, config=TLS, encrypted=True)
    assert out == GREETING + EHLO_AFTER_TLS


def test_accepted_starttls_sends_220_then_begin_tls_and_starts_over() -> None:
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\nRSET\r\n", config=TLS)
    conn.receive_data(b"STARTTLS\r\n")
    assert conn.next_event() == StartTlsRequest()
    conn.accept()
    assert conn.next_event() == BeginTls()
    assert conn.data_to_send() == READY_FOR_TLS
    assert conn.state is State.TLS
    assert conn.next_event() is PAUSED  # until the handshake is reported done
    conn.tls_established()
    assert conn.encrypted
    assert conn.next_event() == SessionReset(reason="STARTTLS", full=True)
    assert conn.next_event() is NEED_DATA
    events = pump(
        conn, b"MAIL FROM:<a@example.test>\r\n" + EHLO + b"MAIL FROM:<a@example.test>\r\n"
    )
    assert conn.data_to_send() == b"503 5.5.1 Send HELO/EHLO first\r\n" + EHLO_AFTER_TLS + wire(
        replies.SENDER_OK
    )
    assert len(of_type(events, MailFrom)) == 1


def test_bytes_pipelined_after_starttls_in_the_same_read_are_never_read() -> None:
    events, out = session(EHLO + b"STARTTLS\r\n" + INJECTED, b"NOOP\r\n", config=TLS)
    assert out == GREETING + EHLO_TLS + READY_FOR_TLS + b"250 2.0.0 OK\r\n"
    assert not of_type(events, MailFrom)
    assert events[-1] == SessionReset(reason="STARTTLS", full=True)


def test_bytes_received_while_the_decision_is_pending_are_never_read() -> None:
    conn = started(EHLO, config=TLS)
    conn.receive_data(b"STARTTLS\r\n")
    assert conn.next_event() == StartTlsRequest()
    conn.receive_data(INJECTED)
    conn.accept()
    assert conn.next_event() == BeginTls()
    conn.tls_established()
    events = pump(conn, b"NOOP\r\n")
    assert conn.data_to_send() == READY_FOR_TLS + b"250 2.0.0 OK\r\n"
    assert events == [SessionReset(reason="STARTTLS", full=True)]


@pytest.mark.parametrize("split", [1, 5, 1000])
def test_bytes_in_later_reads_before_the_handshake_are_never_read(split: int) -> None:
    def handshake(conn: ServerConnection) -> None:
        for i in range(0, len(INJECTED), split):
            conn.receive_data(INJECTED[i : i + split])
            assert conn.next_event() is PAUSED
        conn.tls_established()

    events, out = session(EHLO + b"STARTTLS\r\n", b"NOOP\r\n", config=TLS, on_tls=handshake)
    assert out == GREETING + EHLO_TLS + READY_FOR_TLS + b"250 2.0.0 OK\r\n"
    assert not of_type(events, MailFrom)
    assert not of_type(events, ConnectionClosed)


def test_auth_is_cleared_by_starttls() -> None:
    config = replace(TLS, auth_plaintext=True, auth_mode=AuthMode.REQUIRED)
    plain = b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    conn = started(EHLO + plain + b"STARTTLS\r\n", config=config)
    pump(conn, EHLO + b"MAIL FROM:<a@example.test>\r\n" + plain)
    out = conn.data_to_send()
    assert out.endswith(b"530 5.7.0 Authentication required\r\n" + wire(replies.AUTH_OK))


def test_rejected_starttls_gets_454_and_the_session_goes_on_in_clear() -> None:
    conn = started(EHLO, config=TLS)
    events = pump(conn, b"STARTTLS\r\nNOOP\r\n", decide=answers({StartTlsRequest: None}))
    assert conn.data_to_send() == b"454 4.7.0 TLS not available\r\n" + wire(replies.NOOP_OK)
    assert not of_type(events, BeginTls)
    assert not conn.encrypted


@pytest.mark.parametrize(
    ("prefix", "line", "expected"),
    [
        (EHLO, b"STARTTLS now\r\n", b"501 5.5.4 No arguments allowed\r\n"),
        (b"", b"STARTTLS\r\n", b"503 5.5.1 Send HELO/EHLO first\r\n"),
        (b"HELO client.example\r\n", b"STARTTLS\r\n", b"503 5.5.1 Bad sequence of commands\r\n"),
        (EHLO + b"MAIL FROM:<a@example.test>\r\n", b"STARTTLS\r\n", wire(replies.BAD_SEQUENCE)),
    ],
)
def test_starttls_refusals(prefix: bytes, line: bytes, expected: bytes) -> None:
    conn = started(*[prefix] if prefix else [], config=TLS)
    events = pump(conn, line)
    assert conn.data_to_send() == expected
    assert not of_type(events, StartTlsRequest)


def test_starttls_inside_tls_gets_503() -> None:
    conn = started(EHLO + b"STARTTLS\r\n", config=TLS)
    pump(conn, EHLO + b"STARTTLS\r\n")
    assert conn.data_to_send() == EHLO_AFTER_TLS + b"503 5.5.1 TLS already active\r\n"
    conn = started(EHLO, config=TLS, encrypted=True)
    pump(conn, b"STARTTLS\r\n")
    assert conn.data_to_send() == wire(replies.TLS_ALREADY)


def test_starttls_forbidden_gets_502() -> None:
    conn = started(EHLO)
    pump(conn, b"STARTTLS\r\n")
    assert conn.data_to_send() == b"502 5.5.1 Command not implemented\r\n"


def test_tls_established_is_refused_outside_a_handshake() -> None:
    conn = started(EHLO + b"STARTTLS\r\n", config=TLS)
    with pytest.raises(LocalProtocolError):
        conn.tls_established()


def test_the_client_closing_during_the_handshake() -> None:
    def vanish(conn: ServerConnection) -> None:
        conn.receive_data(b"")
        conn.tls_established()

    events, out = session(EHLO + b"STARTTLS\r\n", config=TLS, on_tls=vanish)
    assert events[-1] == ConnectionClosed(by_client=True)
    assert out.endswith(READY_FOR_TLS)


# TlsMode.REQUIRED (RFC 3207 4) -----------------------------------------------------------

REQUIRED: Final = replace(TLS, tls_mode=TlsMode.REQUIRED)
LINES: Final[dict[Verb, bytes]] = {
    Verb.MAIL: b"MAIL FROM:<a@example.test>\r\n",
    Verb.RCPT: b"RCPT TO:<a@example.test>\r\n",
    Verb.DATA: b"DATA\r\n",
    Verb.BDAT: b"BDAT 6 LAST\r\nNOOP\r\n",
    Verb.VRFY: b"VRFY a\r\n",
    Verb.EXPN: b"EXPN a\r\n",
    Verb.HELP: b"HELP\r\n",
    Verb.AUTH: b"AUTH PLAIN\r\n",
}


@pytest.mark.parametrize("verb", list(LINES), ids=lambda v: v.value)
def test_tls_required_refuses_all_but_the_session_verbs_before_starttls(verb: Verb) -> None:
    conn = started(EHLO, config=REQUIRED)
    events = pump(conn, LINES[verb] + b"NOOP\r\nRSET\r\n")
    assert conn.data_to_send() == b"530 5.7.0 Must issue a STARTTLS command first\r\n" + wire(
        replies.NOOP_OK, replies.RESET_OK
    )
    assert events[0] == CommandRejected(command=verb.value, reply=replies.TLS_REQUIRED)


def test_tls_required_serves_everything_after_starttls() -> None:
    conn = started(EHLO + b"STARTTLS\r\n", config=REQUIRED)
    pump(conn, EHLO + b"MAIL FROM:<a@example.test>\r\nHELP\r\n")
    assert conn.data_to_send().startswith(EHLO_AFTER_TLS + wire(replies.SENDER_OK))


def test_tls_required_on_an_implicit_tls_connection() -> None:
    events, out = session(EHLO + b"MAIL FROM:<a@example.test>\r\n", config=REQUIRED, encrypted=True)
    assert out == GREETING + EHLO_AFTER_TLS + wire(replies.SENDER_OK)
    assert events[0] == ConnectionOpened(encrypted=True)
