"""DSN (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, parsed, validated and
exposed typed on the events; DSN advertised only when enabled."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smtp_proto import replies
from smtp_proto.events import MailFrom, RcptTo
from smtp_proto.params import MailParams, Notify, Orcpt, RcptParams, Ret
from tests.helpers import CONFIG, EHLO, of_type, pump, session, started, wire


def mail_reply(line: bytes) -> bytes:
    conn = started(EHLO)
    pump(conn, line + b"\r\n")
    return conn.data_to_send()


def test_dsn_parameters_arrive_typed() -> None:
    events, out = session(
        EHLO + b"MAIL FROM:<> RET=HDRS ENVID=QQ+2B314\r\n"
        b"RCPT TO:<b@example.test> NOTIFY=SUCCESS,delay ORCPT=rfc822;b+40example.test\r\n"
        b"RCPT TO:<c@example.test> NOTIFY=NEVER\r\n"
    )
    assert of_type(events, MailFrom) == [
        MailFrom(address="", params=MailParams(ret=Ret.HDRS, envid="QQ+314"))
    ]
    assert [e.params for e in of_type(events, RcptTo)] == [
        RcptParams(
            notify=frozenset({Notify.SUCCESS, Notify.DELAY}),
            orcpt=Orcpt("rfc822", "b@example.test"),
        ),
        RcptParams(notify=frozenset({Notify.NEVER})),
    ]
    assert out.endswith(wire(replies.SENDER_OK, replies.RECIPIENT_OK, replies.RECIPIENT_OK))


@pytest.mark.parametrize(
    "params",
    ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SOMETIMES", "NOTIFY=", "ORCPT=rfc822", "ORCPT=rfc822;+4"],
)
def test_bad_dsn_rcpt_parameters_get_501(params: str) -> None:
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n")
    pump(conn, f"RCPT TO:<b@example.test> {params}\r\n".encode())
    assert conn.data_to_send() == b"501 5.5.4 Syntax error in MAIL/RCPT parameter\r\n"


@pytest.mark.parametrize("params", ["RET=ALL", "ENVID=a+zz", "RET=FULL RET=HDRS"])
def test_bad_dsn_mail_parameters_get_501(params: str) -> None:
    out = mail_reply(f"MAIL FROM:<a@example.test> {params}".encode())
    assert out == b"501 5.5.4 Syntax error in MAIL/RCPT parameter\r\n"


def test_dsn_switched_off_refuses_its_parameters() -> None:
    config = replace(CONFIG, dsn=False)
    conn = started(EHLO, config=config)
    pump(conn, b"MAIL FROM:<a@example.test> RET=FULL\r\n")
    assert conn.data_to_send() == wire(replies.UNKNOWN_PARAMETER)
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n", config=config)
    pump(conn, b"RCPT TO:<b@example.test> NOTIFY=NEVER\r\n")
    assert conn.data_to_send() == wire(replies.UNKNOWN_PARAMETER)
    _, out = session(EHLO, config=config)
    assert b"DSN" not in out


def test_dsn_parameters_reach_lmtp_and_bdat_transactions_alike() -> None:
    events, _ = session(
        b"LHLO client.example\r\nMAIL FROM:<a@example.test> RET=FULL\r\n"
        b"RCPT TO:<b@example.test> NOTIFY=FAILURE\r\nBDAT 1 LAST\r\nx",
        config=replace(CONFIG, lmtp=True),
    )
    assert [e.params.ret for e in of_type(events, MailFrom)] == [Ret.FULL]
    assert [e.params.notify for e in of_type(events, RcptTo)] == [frozenset({Notify.FAILURE})]


def test_envid_limits() -> None:
    assert mail_reply(b"MAIL FROM:<> ENVID=" + b"e" * 100) == wire(replies.SENDER_OK)
    assert mail_reply(b"MAIL FROM:<> ENVID=" + b"e" * 101) == wire(replies.BAD_PARAMETER)
