"""LMTP mode (RFC 2033): LHLO instead of HELO/EHLO, and one reply per accepted recipient
after the end of data, each decided by the application."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import CrlfMode, Limits
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    CommandRejected,
    Decision,
    Helo,
    MessageReceived,
    RcptTo,
    RecipientDelivery,
)
from smtp_proto.replies import Reply
from smtp_proto.state import State
from tests.helpers import CONFIG, answers, joined, of_type, pump, session, started, wire

LMTP: Final = replace(CONFIG, lmtp=True)
LHLO: Final = b"LHLO client.example\r\n"
THREE: Final = b"MAIL FROM:<a@example.test>\r\n" + b"".join(
    b"RCPT TO:<%s@example.test>\r\n" % name for name in (b"b", b"c", b"d")
)
FULL: Final = Reply(452, ("Mailbox full",), (4, 2, 2))


def test_lhlo_gets_the_capability_list() -> None:
    events, out = session(LHLO, config=LMTP)
    assert Helo(hostname="client.example", extended=True, lmtp=True) in events
    assert out.startswith(b"220 mx.example.test ESMTP smtp-proto ready\r\n")
    assert b"250-mx.example.test Hello client.example\r\n250-PIPELINING\r\n" in out
    assert out.endswith(b"250-DSN\r\n250 HELP\r\n")


@pytest.mark.parametrize("line", [b"HELO client.example\r\n", b"EHLO client.example\r\n"])
def test_helo_and_ehlo_are_unknown_in_lmtp(line: bytes) -> None:
    conn = started(config=LMTP)
    events = pump(conn, line + b"MAIL FROM:<a@example.test>\r\n")
    assert events[0] == CommandRejected(command=line[:4].decode(), reply=replies.UNRECOGNIZED)
    assert conn.data_to_send() == wire(replies.UNRECOGNIZED, replies.NEED_HELO)


def test_one_reply_per_accepted_recipient_after_the_end_of_data() -> None:
    conn = started(LHLO + THREE, config=LMTP)
    events = pump(conn, b"DATA\r\nhi\r\n.\r\nNOOP\r\n")
    assert of_type(events, RecipientDelivery) == [
        RecipientDelivery(address="b@example.test", index=0),
        RecipientDelivery(address="c@example.test", index=1),
        RecipientDelivery(address="d@example.test", index=2),
    ]
    assert conn.data_to_send() == wire(replies.START_DATA) + wire(replies.DELIVERED) * 3 + wire(
        replies.NOOP_OK
    )
    assert conn.state is State.READY


def test_each_recipient_is_decided_on_its_own_and_refused_rcpts_get_none() -> None:
    def decide(conn: ServerConnection, event: Decision) -> None:
        if isinstance(event, RcptTo) and event.address.startswith("c"):
            conn.reject()
        elif isinstance(event, RecipientDelivery) and event.index == 1:
            conn.reject(FULL)
        else:
            conn.accept()

    conn = started(LHLO, config=LMTP)
    events = pump(conn, THREE + b"BDAT 2 LAST\r\nhi", decide=decide)
    assert [e.address for e in of_type(events, RecipientDelivery)] == [
        "b@example.test",
        "d@example.test",
    ]
    assert conn.data_to_send() == wire(
        replies.SENDER_OK,
        replies.RECIPIENT_OK,
        replies.UNKNOWN_MAILBOX,
        replies.RECIPIENT_OK,
        replies.DELIVERED,
        FULL,
    )


def test_a_rejected_message_is_repeated_per_recipient() -> None:
    conn = started(LHLO + THREE + b"DATA\r\n", config=LMTP)
    events = pump(conn, b"hi\r\n.\r\nNOOP\r\n", decide=answers({MessageReceived: FULL}))
    assert not of_type(events, RecipientDelivery)
    assert conn.data_to_send() == wire(FULL) * 3 + wire(replies.NOOP_OK)


def test_content_refused_by_the_core_is_repeated_per_recipient() -> None:
    config = replace(LMTP, crlf_mode=CrlfMode.STRICT)
    conn = started(LHLO + THREE + b"DATA\r\n", config=config)
    events = pump(conn, b"bare\nlf\r\n.\r\n")
    assert conn.data_to_send() == wire(replies.BARE_LINE_ENDING) * 3
    assert (
        of_type(events, CommandRejected)
        == [CommandRejected(command="DATA", reply=replies.BARE_LINE_ENDING)] * 3
    )


def test_a_message_spends_one_error_however_many_recipients() -> None:
    config = replace(LMTP, limits=Limits(errors=2))
    rcpts = b"".join(b"RCPT TO:<r%d@example.test>\r\n" % i for i in range(5))
    conn = started(LHLO + b"MAIL FROM:<a@example.test>\r\n" + rcpts + b"DATA\r\n", config=config)
    pump(conn, b"hi\r\n.\r\n", decide=answers({MessageReceived: None}))
    assert conn.data_to_send() == wire(replies.TRANSACTION_FAILED) * 5
    pump(
        conn,
        b"MAIL FROM:<a@example.test>\r\n" + rcpts + b"DATA\r\nhi\r\n.\r\n",
        decide=answers({RecipientDelivery: FULL}),
    )
    assert conn.data_to_send().endswith(wire(FULL) * 5)
    assert not conn.closed
    pump(conn, b"RCPT TO:<x@example.test>\r\n")
    assert conn.data_to_send() == wire(replies.TOO_MANY_ERRORS)


def test_session_events_in_order() -> None:
    events, _ = session(LHLO + THREE + b"DATA\r\nhi\r\n.\r\n", config=LMTP)
    names = [type(e).__name__ for e in joined(events)][-8:]
    assert names == [
        "DataStart",
        "MessageChunk",
        "HeadersComplete",
        "MessageReceived",
        "RecipientDelivery",
        "RecipientDelivery",
        "RecipientDelivery",
        "SessionReset",
    ]


def test_bdat_last_with_no_recipient_accepted_gets_no_reply_and_ends_the_transaction() -> None:
    def refuse_rcpts(conn: ServerConnection, event: Decision) -> None:
        conn.reject() if isinstance(event, RcptTo) else conn.accept()

    conn = started(LHLO, config=LMTP)
    # RFC 2033 4.3: one reply per accepted recipient, so none; a chunk before it still
    # gets its 503, and the chunks' octets are never read as commands.
    events = pump(
        conn,
        THREE + b"BDAT 4\r\nRSETBDAT 4 LAST\r\nNOOPRCPT TO:<e@example.test>\r\n",
        decide=refuse_rcpts,
    )
    assert of_type(events, RecipientDelivery) == []
    assert conn.data_to_send() == wire(
        replies.SENDER_OK,
        *[replies.UNKNOWN_MAILBOX] * 3,
        replies.NEED_RCPT,  # the first chunk; the LAST one gets nothing
        replies.NEED_MAIL,  # the transaction is over: RCPT needs a new MAIL
    )
    assert conn.state is State.READY


def test_bdat_last_without_recipients_is_refused_over_smtp() -> None:
    conn = started(b"EHLO client.example\r\n")
    pump(conn, b"MAIL FROM:<a@example.test>\r\nBDAT 2 LAST\r\nhiNOOP\r\n")
    assert conn.data_to_send() == wire(replies.SENDER_OK, replies.NEED_RCPT, replies.NOOP_OK)
    assert conn.state is State.MAIL
