"""Every command in every state that reads commands, with the exact reply bytes and the
state that follows; then the commands one by one (RFC 5321 4.1, 4.3.2)."""

from __future__ import annotations

from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    CommandRejected,
    ConnectionClosed,
    ConnectionOpened,
    Helo,
    SessionReset,
    UnknownCommand,
)
from smtp_proto.replies import Reply
from smtp_proto.state import State, Verb
from tests.helpers import (
    CONFIG,
    EHLO,
    EHLO_REPLY,
    ENVELOPE,
    GREETING,
    answers,
    of_type,
    pump,
    session,
    started,
    wire,
)

HELO_OK: Final = b"250 mx.example.test Hello client.example\r\n"
OK_250: Final = Reply(250, ("fine",))

# The line each verb is sent as; BDAT is followed by its 3 octets.
LINES: Final = {
    Verb.HELO: b"HELO client.example\r\n",
    Verb.EHLO: EHLO,
    Verb.MAIL: b"MAIL FROM:<sender@example.test>\r\n",
    Verb.RCPT: b"RCPT TO:<rcpt@example.test>\r\n",
    Verb.DATA: b"DATA\r\n",
    Verb.BDAT: b"BDAT 3 LAST\r\nabc",
    Verb.RSET: b"RSET\r\n",
    Verb.NOOP: b"NOOP\r\n",
    Verb.QUIT: b"QUIT\r\n",
    Verb.VRFY: b"VRFY postmaster\r\n",
    Verb.EXPN: b"EXPN staff\r\n",
    Verb.HELP: b"HELP\r\n",
    Verb.AUTH: b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n",
    Verb.STARTTLS: b"STARTTLS\r\n",
}
# XCLIENT is a verb only where the session takes it (tests/core/test_xclient.py).
SMTP_VERBS: Final = [v for v in Verb if v not in (Verb.LHLO, Verb.XCLIENT)]

Row = tuple[Reply | bytes, State]
# Verbs answered the same way in every greeted state (the state is kept, QUIT closes).
_SESSION: Final[dict[Verb, Reply]] = {
    Verb.NOOP: replies.NOOP_OK,
    Verb.QUIT: replies.CLOSING,
    Verb.VRFY: replies.CANNOT_VRFY,
    Verb.EXPN: replies.NO_EXPN,
    Verb.HELP: replies.HELP,
}


def _row(state: State, **special: Row) -> dict[Verb, Row]:
    rows: dict[Verb, Row] = {
        verb: (reply, State.CLOSED if verb is Verb.QUIT else state)
        for verb, reply in _SESSION.items()
    }
    rows[Verb.HELO] = (HELO_OK, State.READY)
    rows[Verb.EHLO] = (EHLO_REPLY, State.READY)
    rows[Verb.RSET] = (replies.RESET_OK, State.READY)
    rows.update({Verb[name]: row for name, row in special.items()})
    return rows


NEED_HELO: Final = (replies.NEED_HELO, State.HELO)
TABLE: Final[dict[str, dict[Verb, Row]]] = {
    "HELO": _row(
        State.HELO,
        RSET=(replies.RESET_OK, State.HELO),
        MAIL=NEED_HELO,
        RCPT=NEED_HELO,
        DATA=NEED_HELO,
        BDAT=NEED_HELO,
        AUTH=NEED_HELO,
        STARTTLS=NEED_HELO,
    ),
    "READY": _row(
        State.READY,
        MAIL=(replies.SENDER_OK, State.MAIL),
        RCPT=(replies.NEED_MAIL, State.READY),
        DATA=(replies.NEED_MAIL, State.READY),
        BDAT=(replies.NEED_MAIL, State.READY),
        AUTH=(replies.AUTH_NOT_AVAILABLE, State.READY),
        STARTTLS=(replies.NOT_IMPLEMENTED, State.READY),
    ),
    "READY after HELO": _row(
        State.READY,
        MAIL=(replies.SENDER_OK, State.MAIL),
        RCPT=(replies.NEED_MAIL, State.READY),
        DATA=(replies.NEED_MAIL, State.READY),
        BDAT=(replies.NEED_MAIL, State.READY),
        AUTH=(replies.BAD_SEQUENCE, State.READY),
        STARTTLS=(replies.BAD_SEQUENCE, State.READY),
    ),
    "MAIL": _row(
        State.MAIL,
        MAIL=(replies.NESTED_MAIL, State.MAIL),
        RCPT=(replies.RECIPIENT_OK, State.RCPT),
        DATA=(replies.NEED_RCPT, State.MAIL),
        BDAT=(replies.NEED_RCPT, State.MAIL),
        AUTH=(replies.BAD_SEQUENCE, State.MAIL),
        STARTTLS=(replies.BAD_SEQUENCE, State.MAIL),
    ),
    "RCPT": _row(
        State.RCPT,
        MAIL=(replies.NESTED_MAIL, State.RCPT),
        RCPT=(replies.RECIPIENT_OK, State.RCPT),
        DATA=(replies.START_DATA, State.DATA),
        BDAT=(replies.MESSAGE_ACCEPTED, State.READY),
        AUTH=(replies.BAD_SEQUENCE, State.RCPT),
        STARTTLS=(replies.BAD_SEQUENCE, State.RCPT),
    ),
    "CHUNKING": _row(
        State.CHUNKING,
        MAIL=(replies.NESTED_MAIL, State.CHUNKING),
        RCPT=(replies.BAD_SEQUENCE, State.CHUNKING),
        DATA=(replies.DATA_AFTER_BDAT, State.CHUNKING),
        BDAT=(replies.MESSAGE_ACCEPTED, State.READY),
        AUTH=(replies.BAD_SEQUENCE, State.CHUNKING),
        STARTTLS=(replies.BAD_SEQUENCE, State.CHUNKING),
    ),
    "REFUSED": {
        verb: (replies.CLOSING, State.CLOSED)
        if verb is Verb.QUIT
        else (replies.BAD_SEQUENCE, State.REFUSED)
        for verb in SMTP_VERBS
    },
}
GREETING_VERBS: Final = {Verb.HELO, Verb.EHLO, Verb.LHLO}  # answered without enhanced codes


def reach(name: str) -> ServerConnection:
    """A connection in the named row's state, its output so far taken away."""
    if name == "REFUSED":
        conn = started(decide=answers({ConnectionOpened: None}))
    else:
        prefix = {
            "HELO": b"",
            "READY": EHLO,
            "READY after HELO": b"HELO client.example\r\n",
            "MAIL": EHLO + ENVELOPE.split(b"\r\n")[0] + b"\r\n",
            "RCPT": EHLO + ENVELOPE,
            "CHUNKING": EHLO + ENVELOPE + b"BDAT 3\r\nabc",
        }[name]
        conn = started(*[prefix] if prefix else [])
    return conn


def test_the_table_covers_every_state_that_reads_commands() -> None:
    assert all(set(rows) == set(SMTP_VERBS) for rows in TABLE.values())
    reached = {reach(name).state for name in TABLE}
    assert reached == set(State) - {
        State.PROXY,
        State.GREETING,
        State.DATA,
        State.BDAT,
        State.AUTH,
        State.TLS,
        State.CLOSED,
    }


@pytest.mark.parametrize("verb", SMTP_VERBS, ids=lambda v: v.value)
@pytest.mark.parametrize("name", list(TABLE))
def test_every_verb_in_every_state(name: str, verb: Verb) -> None:
    conn = reach(name)
    expected, state = TABLE[name][verb]
    events = pump(conn, LINES[verb])
    if isinstance(expected, Reply):
        assert conn.data_to_send() == wire(expected, esc=verb not in GREETING_VERBS)
        if expected.is_error:
            assert CommandRejected(command=verb.value, reply=expected) in events
    else:
        assert conn.data_to_send() == expected
    assert conn.state is state


@pytest.mark.parametrize("name", [n for n in TABLE if n != "RCPT" and n != "CHUNKING"])
def test_a_refused_bdat_never_reads_its_octets_as_commands(name: str) -> None:
    conn = reach(name)
    pump(conn, b"BDAT 6\r\nNOOP\r\n", b"NOOP\r\n")
    bdat, noop = TABLE[name][Verb.BDAT][0], TABLE[name][Verb.NOOP][0]
    assert isinstance(bdat, Reply)
    assert isinstance(noop, Reply)
    assert conn.data_to_send() == wire(bdat, noop)


def test_verbs_are_case_insensitive() -> None:
    _, out = session(b"eHlO client.example\r\nmail from:<a@example.test>\r\nNoOp\r\nrSeT\r\n")
    assert out == GREETING + EHLO_REPLY + b"250 2.1.0 Sender OK\r\n" + wire(
        replies.NOOP_OK, replies.RESET_OK
    )


def test_greeting_is_a_decision_answered_with_220() -> None:
    conn = ServerConnection(CONFIG)
    assert conn.next_event() == ConnectionOpened(encrypted=False)
    assert conn.data_to_send() == b""
    conn.accept()
    assert conn.data_to_send() == GREETING
    assert conn.state is State.HELO


def test_greeting_text_can_be_replaced() -> None:
    conn = ServerConnection(CONFIG)
    conn.next_event()
    conn.accept(Reply(220, ("mx.example.test ESMTP hello", "second line")))
    assert conn.data_to_send() == b"220-mx.example.test ESMTP hello\r\n220 second line\r\n"


def test_refused_greeting_serves_only_quit() -> None:
    events, out = session(
        b"EHLO client.example\r\nNOOP\r\nQUIT\r\n", decide=answers({ConnectionOpened: None})
    )
    assert out == b"554 No SMTP service here\r\n" + wire(replies.BAD_SEQUENCE, esc=False) + wire(
        replies.BAD_SEQUENCE, replies.CLOSING
    )
    assert of_type(events, CommandRejected) == [
        CommandRejected(command="EHLO", reply=replies.BAD_SEQUENCE),
        CommandRejected(command="NOOP", reply=replies.BAD_SEQUENCE),
    ]


def test_refused_greeting_answers_unknown_commands_with_503_too() -> None:
    events, out = session(
        b"XYZZY\r\nLHLO c\r\n",
        decide=answers({ConnectionOpened: None}, accepted={UnknownCommand: OK_250}),
    )
    assert out == b"554 No SMTP service here\r\n" + wire(replies.BAD_SEQUENCE, replies.BAD_SEQUENCE)
    assert not of_type(events, UnknownCommand)


def test_client_talking_before_the_greeting_is_answered_after_it() -> None:
    conn = ServerConnection(CONFIG)
    conn.receive_data(b"NOOP\r\n")
    assert isinstance(conn.next_event(), ConnectionOpened)
    assert conn.data_to_send() == b""
    conn.accept()
    pump(conn)
    assert conn.data_to_send() == GREETING + b"250 2.0.0 OK\r\n"


# HELO and EHLO ---------------------------------------------------------------------------


def test_helo_answers_250_without_capabilities() -> None:
    events, out = session(b"HELO client.example\r\n")
    assert out == GREETING + HELO_OK
    assert Helo(hostname="client.example", extended=False) in events
    assert SessionReset(reason="HELO") in events


def test_ehlo_lists_the_capabilities_exactly() -> None:
    events, out = session(EHLO)
    assert out == GREETING + EHLO_REPLY
    assert Helo(hostname="client.example", extended=True) in events


def test_ehlo_list_follows_the_config() -> None:
    from dataclasses import replace

    from smtp_proto.config import Limits

    config = replace(
        CONFIG,
        pipelining=False,
        smtputf8=False,
        chunking=False,
        binarymime=False,
        dsn=False,
        limits=Limits(message_size=1000),
    )
    _, out = session(EHLO, config=config)
    assert out == GREETING + (
        b"250-mx.example.test Hello client.example\r\n"
        b"250-SIZE 1000\r\n"
        b"250-8BITMIME\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n"
        b"250 HELP\r\n"
    )


@pytest.mark.parametrize("line", [b"EHLO\r\n", b"EHLO \r\n", b"HELO\r\n", b"EHLO a b\r\n"])
def test_helo_without_a_single_domain_gets_501(line: bytes) -> None:
    _, out = session(line)
    assert out == GREETING + wire(replies.NEED_DOMAIN, esc=False)


def test_rejected_helo_keeps_the_state() -> None:
    _, out = session(EHLO + b"MAIL FROM:<a@example.test>\r\n", decide=answers({Helo: None}))
    assert out == GREETING + wire(replies.HELO_REJECTED, esc=False) + wire(replies.NEED_HELO)


def test_later_ehlo_resets_the_transaction() -> None:
    conn = started(EHLO + ENVELOPE)
    events = pump(conn, EHLO + b"RCPT TO:<b@example.test>\r\nDATA\r\n")
    assert conn.data_to_send() == EHLO_REPLY + wire(replies.NEED_MAIL, replies.NEED_MAIL)
    assert SessionReset(reason="EHLO") in events


def test_enhanced_codes_appear_whether_or_not_ehlo_was_used() -> None:
    # RFC 2034 4: on every reply but the greeting and the answers to HELO/EHLO.
    _, out = session(b"NOOP\r\nHELO client.example\r\nNOOP\r\n" + EHLO + b"NOOP\r\n")
    assert out == GREETING + b"250 2.0.0 OK\r\n" + HELO_OK + b"250 2.0.0 OK\r\n" + EHLO_REPLY + (
        b"250 2.0.0 OK\r\n"
    )
    _, out = session(EHLO + b"HELO client.example\r\nNOOP\r\n")
    assert out.endswith(HELO_OK + b"250 2.0.0 OK\r\n")


def test_enhanced_codes_can_be_switched_off() -> None:
    from dataclasses import replace

    _, out = session(EHLO + b"NOOP\r\n", config=replace(CONFIG, enhanced_status_codes=False))
    assert b"ENHANCEDSTATUSCODES" not in out
    assert out.endswith(b"250 HELP\r\n250 OK\r\n")


# Session commands ------------------------------------------------------------------------


def test_rset_clears_the_transaction() -> None:
    conn = started(EHLO + ENVELOPE)
    events = pump(conn, b"RSET\r\nRCPT TO:<b@example.test>\r\n")
    assert conn.data_to_send() == wire(replies.RESET_OK, replies.NEED_MAIL)
    assert SessionReset(reason="RSET") in events


def test_rset_with_an_argument_gets_501() -> None:
    conn = started(EHLO + ENVELOPE)
    pump(conn, b"RSET now\r\nDATA\r\n")
    assert conn.data_to_send() == wire(replies.NO_ARGUMENTS_ALLOWED, replies.START_DATA)


def test_noop_takes_any_argument() -> None:
    conn = started(EHLO)
    pump(conn, b"NOOP\r\nNOOP hello there\r\nnoop  \r\n")
    assert conn.data_to_send() == wire(replies.NOOP_OK) * 3


def test_quit_answers_221_then_closes() -> None:
    conn = started(EHLO)
    events = pump(conn, b"QUIT\r\nNOOP\r\n")
    assert conn.data_to_send() == b"221 2.0.0 Bye\r\n"
    assert events == [ConnectionClosed(by_client=False)]
    assert conn.closed
    assert conn.state is State.CLOSED


def test_quit_with_an_argument_gets_501() -> None:
    conn = started(EHLO)
    pump(conn, b"QUIT now\r\n")
    assert conn.data_to_send() == wire(replies.NO_ARGUMENTS_ALLOWED)
    assert not conn.closed


def test_vrfy() -> None:
    from dataclasses import replace

    conn = started(EHLO)
    pump(conn, b"VRFY postmaster\r\nVRFY\r\n")
    assert conn.data_to_send() == (
        b"252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"
        b"501 5.5.4 Syntax error in parameters or arguments\r\n"
    )
    conn = started(EHLO, config=replace(CONFIG, vrfy=False))
    pump(conn, b"VRFY postmaster\r\n")
    assert conn.data_to_send() == b"502 5.5.1 Command not implemented\r\n"


def test_expn_gets_502_and_help_214() -> None:
    conn = started(EHLO)
    pump(conn, b"EXPN staff\r\nHELP\r\nHELP MAIL\r\n")
    help_reply = (
        b"214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP AUTH"
        b" STARTTLS\r\n214 2.0.0 See RFC 5321\r\n"
    )
    assert conn.data_to_send() == b"502 5.5.1 EXPN not available\r\n" + help_reply * 2
