"""XCLIENT in the core (Postfix's semantics): taken only where the session says so, offered
in EHLO only to those it offers it to; its attributes checked (501 5.5.4), refused inside a
mail transaction (503 5.5.1); accepted, a new 220 greeting and a session that starts over."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import replies
from smtp_proto.config import ServerConfig, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    CommandRejected,
    Decision,
    Event,
    SessionReset,
    UnknownCommand,
    XclientRequest,
)
from smtp_proto.replies import Reply
from smtp_proto.state import State
from smtp_proto.xclient import XclientError, read_attributes
from tests.helpers import CONFIG, EHLO, ENVELOPE, accept_all, answers, joined, pump, reads, wire

GREETING = b"220 mx.example.test ESMTP smtp-proto ready\r\n"
LINE = b"XCLIENT NAME=mx.client.example ADDR=192.0.2.9 PORT=56324\r\n"


def state_of(conn: ServerConnection) -> State:
    return conn.state


def connection(
    config: ServerConfig = CONFIG, *, taken: bool = True, offered: bool = True
) -> ServerConnection:
    conn = ServerConnection(config, xclient=taken, xclient_offered=offered)
    pump(conn)
    conn.data_to_send()  # the greeting
    return conn


# The attributes ---------------------------------------------------------------------------


def test_every_attribute_is_read_in_order_decoded_and_normalised() -> None:
    arg = (
        "name=mx.client.example ADDR=IPV6:2001:DB8::9 PORT=0056324 proto=esmtp HELO=a+2Bb"
        " LOGIN=[UNAVAILABLE] DESTADDR=198.51.100.2 DESTPORT=25"
    )
    assert read_attributes(arg) == (
        ("NAME", "mx.client.example"),
        ("ADDR", "2001:db8::9"),
        ("PORT", "56324"),
        ("PROTO", "ESMTP"),
        ("HELO", "a+b"),
        ("LOGIN", "[UNAVAILABLE]"),
        ("DESTADDR", "198.51.100.2"),
        ("DESTPORT", "25"),
    )


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("", "XCLIENT needs at least one attribute"),
        ("FOO=1", "Bad XCLIENT attribute: FOO"),
        ("NAME", "Bad XCLIENT attribute: NAME"),
        ("\u00fa=1", "Bad XCLIENT attribute"),
        ("ADDR=192.0.2", "Bad XCLIENT ADDR value: not an address"),
        ("ADDR=2001:db8::1", "Bad XCLIENT ADDR value: not an address"),  # IPV6: is required
        ("DESTADDR=IPV6:192.0.2.1", "Bad XCLIENT DESTADDR value: not an address"),
        ("PORT=65536", "Bad XCLIENT PORT value: not a port"),
        ("DESTPORT=-1", "Bad XCLIENT DESTPORT value: not a port"),
        ("PROTO=LMTP", "Bad XCLIENT PROTO value: SMTP or ESMTP"),
        ("NAME=a+ZZ", "Bad XCLIENT NAME value: not xtext"),
        ("HELO=a+0Ab", "Bad XCLIENT HELO value"),  # a line feed, decoded
        ("NAME=", "Bad XCLIENT NAME value"),
        ("NAME=" + "a" * 256, "Bad XCLIENT NAME value"),
        ("ADDR=[TEMPUNAVAIL]", "Bad XCLIENT ADDR value: [TEMPUNAVAIL] is for NAME only"),
    ],
)
def test_a_bad_attribute_is_named(arg: str, message: str) -> None:
    with pytest.raises(XclientError) as caught:
        read_attributes(arg)
    assert str(caught.value) == message


def test_a_bad_attribute_is_answered_501_and_changes_nothing() -> None:
    conn = connection()
    events = pump(conn, EHLO, b"XCLIENT ADDR=300.0.0.1\r\n")
    assert events[-1] == CommandRejected(
        command="XCLIENT", reply=Reply(501, ("Bad XCLIENT ADDR value: not an address",), (5, 5, 4))
    )
    assert conn.data_to_send().endswith(b"501 5.5.4 Bad XCLIENT ADDR value: not an address\r\n")
    assert conn.state is State.READY


# Taken, offered, accepted ---------------------------------------------------------------


def test_offered_in_ehlo_before_help_only_when_offered() -> None:
    offered = connection()
    pump(offered, EHLO)
    assert b"250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n250 HELP\r\n" in (
        offered.data_to_send()
    )
    taken = connection(offered=False)
    pump(taken, EHLO)
    assert b"XCLIENT" not in taken.data_to_send()


def test_accepted_it_greets_again_and_the_session_starts_over() -> None:
    conn = connection()
    events = pump(conn, EHLO, LINE, b"MAIL FROM:<a@example.test>\r\n")
    request = XclientRequest(
        attributes=(("NAME", "mx.client.example"), ("ADDR", "192.0.2.9"), ("PORT", "56324"))
    )
    i = events.index(request)
    assert events[i + 1] == SessionReset(reason="XCLIENT", full=True)
    assert events[i + 2] == CommandRejected(command="MAIL", reply=replies.NEED_HELO)
    out = conn.data_to_send()
    assert out.split(b"250 HELP\r\n")[1] == GREETING + wire(replies.NEED_HELO)
    assert conn.state is State.HELO
    pump(conn, EHLO, ENVELOPE)  # EHLO again, and on as a new session
    assert state_of(conn) is State.RCPT


def test_before_ehlo_and_twice_in_a_row() -> None:
    conn = connection()
    events = pump(conn, LINE, LINE, EHLO)
    assert sum(isinstance(e, XclientRequest) for e in events) == 2
    assert conn.data_to_send().startswith(GREETING + GREETING + b"250-mx.example.test Hello")


def test_inside_a_mail_transaction_it_is_a_bad_sequence() -> None:
    conn = connection()
    events = pump(conn, EHLO, ENVELOPE, LINE)
    assert events[-1] == CommandRejected(command="XCLIENT", reply=replies.BAD_SEQUENCE)
    assert conn.state is State.RCPT  # the transaction goes on


def test_refused_by_default_with_550_and_the_session_goes_on() -> None:
    conn = connection()
    pump(conn, EHLO, LINE, decide=answers(rejected={XclientRequest: None}))
    assert conn.data_to_send().endswith(b"550 5.7.0 XCLIENT not authorized\r\n")
    assert conn.state is State.READY


def test_its_greeting_must_be_a_220() -> None:
    conn = connection()
    pump(conn, EHLO)
    conn.receive_data(LINE)
    assert isinstance(conn.next_event(), XclientRequest)
    with pytest.raises(LocalProtocolError):
        conn.accept(Reply(250, ("Ok",)))
    conn.accept(Reply(220, ("mx.example.test ready for the named client",)))
    assert conn.data_to_send().endswith(b"220 mx.example.test ready for the named client\r\n")


def test_with_tls_required_a_front_end_may_still_send_it_in_clear() -> None:
    conn = connection(ServerConfig(tls_mode=TlsMode.REQUIRED))
    events = pump(conn, EHLO, LINE)
    assert any(isinstance(e, XclientRequest) for e in events)


# Not taken: a verb like any other SMTP does not define -------------------------------------


def test_not_taken_it_is_an_unknown_command() -> None:
    conn = connection(taken=False)
    events = pump(conn, EHLO, LINE)
    assert events[-1] == CommandRejected(command="XCLIENT", reply=replies.UNRECOGNIZED)


def test_not_taken_an_application_may_still_have_it_as_its_own_verb() -> None:
    config = ServerConfig(extension_verbs=frozenset({"XCLIENT"}))
    conn = connection(config, taken=False)
    events = pump(conn, EHLO, LINE, decide=answers(rejected={UnknownCommand: None}))
    assert isinstance(events[-1], UnknownCommand)
    assert events[-1].verb == "XCLIENT"


# Any split --------------------------------------------------------------------------------

SCRIPT = EHLO + LINE + b"XCLIENT FOO=1\r\n" + EHLO + ENVELOPE + LINE + b"RSET\r\n" + LINE + EHLO


def run(chunks: list[bytes]) -> tuple[list[Event], bytes]:
    conn = ServerConnection(CONFIG, xclient=True, xclient_offered=True)
    events = pump(conn, *chunks, b"", decide=accept_all)
    return joined(events), conn.data_to_send()


@given(st.lists(st.integers(0, len(SCRIPT)), max_size=12))
def test_any_split_gives_the_same_events_and_bytes(cuts: list[int]) -> None:
    assert run(reads(SCRIPT, cuts)) == run([SCRIPT])


def test_the_script_walks_through_every_case() -> None:
    events, out = run([SCRIPT])
    assert sum(isinstance(e, XclientRequest) for e in events) == 2
    assert out.count(GREETING) == 3  # the first greeting and two accepted XCLIENTs
    assert b"501 5.5.4 Bad XCLIENT attribute: FOO\r\n" in out
    assert b"503 5.5.1 Bad sequence of commands\r\n" in out
    assert any(isinstance(e, Decision) for e in events)
