"""MAIL and RCPT through the connection: paths, typed parameters, SIZE, 8BITMIME,
SMTPUTF8, DSN and their exact refusals (RFC 5321 4.1.1.2-3, 1870, 6152, 6531, 3461)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smtp_proto import replies
from smtp_proto.config import Limits, ServerConfig
from smtp_proto.events import CommandRejected, Event, MailFrom, RcptTo
from smtp_proto.params import Body, MailParams
from smtp_proto.replies import Reply
from smtp_proto.state import State
from tests.helpers import CONFIG, EHLO, ENVELOPE, answers, of_type, pump, session, started, wire


def mail(
    line: str, *, helo: bytes = EHLO, config: ServerConfig = CONFIG
) -> tuple[list[Event], bytes]:
    """Greet, send one MAIL line; (events after the greeting, replies after EHLO)."""
    conn = started(helo, config=config)
    events = pump(conn, line.encode("utf-8") + b"\r\n")
    return events, conn.data_to_send()


def test_mail_and_rcpt_surface_addresses_as_sent() -> None:
    events, out = session(
        EHLO + b"MAIL FROM:<Sender@Example.TEST>\r\nRCPT TO:<@relay.example:Rcpt@example.test>\r\n"
        b'RCPT TO:<Postmaster>\r\nRCPT TO: <"john doe"@[192.0.2.1]>\r\n'
    )
    assert of_type(events, MailFrom) == [MailFrom(address="Sender@Example.TEST")]
    assert [e.address for e in of_type(events, RcptTo)] == [
        "Rcpt@example.test",
        "Postmaster",
        '"john doe"@[192.0.2.1]',
    ]
    assert out.endswith(wire(replies.SENDER_OK) + wire(replies.RECIPIENT_OK) * 3)


def test_null_reverse_path() -> None:
    events, out = mail("MAIL FROM:<>")
    assert MailFrom(address="") in events
    assert out == wire(replies.SENDER_OK)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("MAIL FROM:a@example.test", replies.BAD_SYNTAX),
        ("MAIL TO:<a@example.test>", replies.BAD_SYNTAX),
        ("MAIL FROM:<a@example.test", replies.BAD_SYNTAX),
        ("MAIL", replies.BAD_SYNTAX),
        ("MAIL FROM:<a@@example.test>", replies.BAD_SENDER_SYNTAX),
        ("MAIL FROM:<a@example.test> FOO=1", replies.UNKNOWN_PARAMETER),
        ("MAIL FROM:<a@example.test> SIZE=x", replies.BAD_PARAMETER),
        ("MAIL FROM:<a@example.test> SIZE=1 SIZE=2", replies.BAD_PARAMETER),
        ("MAIL FROM:<a@example.test> BODY=9BIT", replies.BAD_PARAMETER),
    ],
)
def test_bad_mail_gets_its_reply_and_changes_nothing(line: str, reply: Reply) -> None:
    conn = started(EHLO)
    events = pump(conn, line.encode() + b"\r\n")
    assert conn.data_to_send() == wire(reply)
    assert events == [CommandRejected(command="MAIL", reply=reply)]
    assert conn.state is State.READY


def test_bad_rcpt_gets_501() -> None:
    conn = started(EHLO + ENVELOPE)
    pump(conn, b"RCPT TO:<a@@example.test>\r\nRCPT <b@example.test>\r\n")
    assert conn.data_to_send() == wire(replies.BAD_RECIPIENT_SYNTAX, replies.BAD_SYNTAX)
    assert conn.state is State.RCPT


def test_rejected_mail_and_rcpt_keep_the_state() -> None:
    decide = answers({MailFrom: None, RcptTo: None})
    conn = started(EHLO, decide=decide)
    pump(conn, b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n", decide=decide)
    assert conn.data_to_send() == wire(replies.SENDER_REJECTED, replies.NEED_MAIL)
    assert conn.state is State.READY
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n")
    pump(conn, b"RCPT TO:<b@example.test>\r\nDATA\r\n", decide=decide)
    assert conn.data_to_send() == wire(replies.UNKNOWN_MAILBOX, replies.NEED_RCPT)


def test_accept_may_carry_its_own_success_reply() -> None:
    ok = Reply(250, ("queued for b",), (2, 1, 5))
    _, out = session(EHLO + ENVELOPE, decide=answers(accepted={RcptTo: ok}))
    assert out.endswith(b"250 2.1.0 Sender OK\r\n250 2.1.5 queued for b\r\n")


# Parameters -----------------------------------------------------------------------------


def test_parameters_arrive_typed() -> None:
    events, out = mail("MAIL FROM:<a@example.test> SIZE=1000 BODY=8bitmime SMTPUTF8")
    assert (
        MailFrom(
            address="a@example.test",
            params=MailParams(size=1000, body=Body.EIGHT_BIT_MIME, smtputf8=True),
        )
        in events
    )
    assert out == wire(replies.SENDER_OK)
    events, _ = mail("MAIL FROM:<a@example.test> BODY=7BIT")
    assert MailFrom(address="a@example.test", params=MailParams(body=Body.SEVEN_BIT)) in events


@pytest.mark.parametrize(
    "params", ["SIZE=10", "BODY=8BITMIME", "BODY=7BIT", "SMTPUTF8", "RET=FULL", "ENVID=x"]
)
def test_no_parameter_is_taken_after_helo(params: str) -> None:
    events, out = mail(f"MAIL FROM:<a@example.test> {params}", helo=b"HELO client.example\r\n")
    assert out == wire(replies.UNKNOWN_PARAMETER)
    assert events == [CommandRejected(command="MAIL", reply=replies.UNKNOWN_PARAMETER)]


def test_no_rcpt_parameter_is_taken_after_helo() -> None:
    conn = started(b"HELO client.example\r\nMAIL FROM:<a@example.test>\r\n")
    pump(conn, b"RCPT TO:<b@example.test> NOTIFY=NEVER\r\n")
    assert conn.data_to_send() == wire(replies.UNKNOWN_PARAMETER)


def test_size_at_the_limit_is_accepted_and_one_more_gets_552() -> None:
    config = replace(CONFIG, limits=Limits(message_size=5000))
    events, out = mail("MAIL FROM:<a@example.test> SIZE=5000", config=config)
    assert out == wire(replies.SENDER_OK)
    conn = started(EHLO, config=config)
    events = pump(conn, b"MAIL FROM:<a@example.test> SIZE=5001\r\nMAIL FROM:<a@example.test>\r\n")
    assert conn.data_to_send() == (
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.1.0 Sender OK\r\n"
    )
    assert CommandRejected(command="MAIL", reply=replies.MESSAGE_TOO_BIG) in events


def test_size_parameter_needs_the_extension() -> None:
    _, out = mail("MAIL FROM:<a@example.test> SIZE=10", config=replace(CONFIG, size=False))
    assert out == wire(replies.UNKNOWN_PARAMETER)


def test_8bitmime_switched_off_refuses_body() -> None:
    config = replace(CONFIG, eightbitmime=False)
    _, out = mail("MAIL FROM:<a@example.test> BODY=8BITMIME", config=config)
    assert out == wire(replies.UNKNOWN_PARAMETER)


def test_binarymime_needs_bdat() -> None:
    conn = started(EHLO)
    events = pump(
        conn,
        b"MAIL FROM:<a@example.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.test>\r\nDATA\r\n",
    )
    assert (
        conn.data_to_send()
        == wire(replies.SENDER_OK, replies.RECIPIENT_OK)
        + b"503 5.5.1 BODY=BINARYMIME requires BDAT\r\n"
    )
    assert events[-1] == CommandRejected(command="DATA", reply=replies.NEED_BDAT)
    pump(conn, b"BDAT 2 LAST\r\nab")
    assert conn.data_to_send() == wire(replies.MESSAGE_ACCEPTED)


# SMTPUTF8 (RFC 6531 3.4) -----------------------------------------------------------------


def test_utf8_sender_needs_the_smtputf8_parameter() -> None:
    events, out = mail("MAIL FROM:<jörg@example.test>")
    assert out == b"553 5.6.7 Address needs the SMTPUTF8 parameter\r\n"
    assert events == [CommandRejected(command="MAIL", reply=replies.NEED_SMTPUTF8)]
    events, out = mail("MAIL FROM:<jörg@exämple.test> SMTPUTF8")
    assert out == wire(replies.SENDER_OK)
    assert MailFrom(address="jörg@exämple.test", params=MailParams(smtputf8=True)) in events


def test_utf8_recipient_needs_smtputf8_on_mail() -> None:
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n")
    pump(conn, "RCPT TO:<zoë@example.test>\r\n".encode())
    assert conn.data_to_send() == wire(replies.NEED_SMTPUTF8)
    conn = started(EHLO + b"MAIL FROM:<a@example.test> SMTPUTF8\r\n")
    events = pump(conn, "RCPT TO:<zoë@example.test>\r\n".encode())
    assert conn.data_to_send() == wire(replies.RECIPIENT_OK)
    assert RcptTo(address="zoë@example.test") in events


def test_smtputf8_switched_off() -> None:
    config = replace(CONFIG, smtputf8=False)
    _, out = mail("MAIL FROM:<a@example.test> SMTPUTF8", config=config)
    assert out == wire(replies.UNKNOWN_PARAMETER)
    _, out = mail("MAIL FROM:<jörg@example.test>", config=config)
    assert out == wire(replies.NEED_SMTPUTF8)


def test_undecodable_bytes_in_a_path_get_a_reply() -> None:
    conn = started(EHLO)
    pump(conn, b"MAIL FROM:<\xff\xfe@example.test>\r\nMAIL FROM:<a@example.test> SMTPUTF8\r\n")
    first, second = conn.data_to_send().split(b"\r\n")[:2]
    assert first.startswith(b"5")
    assert second == b"250 2.1.0 Sender OK"
