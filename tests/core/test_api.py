"""The ServerConnection API itself: decisions and their answers, PAUSED and pipelining,
unknown commands, 421 closing, abort, discard_message, the client closing, and misuse
(LocalProtocolError, after which nothing has changed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from smtp_proto import replies
from smtp_proto.config import ANY_VERB, AuthMode, ServerConfig, TlsMode
from smtp_proto.config_values import ConfigValues
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    CommandRejected,
    ConnectionClosed,
    ConnectionOpened,
    DataStart,
    Decision,
    Helo,
    MailFrom,
    MessageChunk,
    MessageReceived,
    RcptTo,
    UnknownCommand,
)
from smtp_proto.replies import Reply
from tests.helpers import (
    CONFIG,
    EHLO,
    EHLO_REPLY,
    ENVELOPE,
    ENVELOPE_REPLY,
    GREETING,
    accept_all,
    answers,
    of_type,
    pump,
    session,
    started,
    wire,
)

SHUTDOWN_421 = Reply(421, ("Going down",), (4, 3, 2))
MESSAGE = b"DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"


def same_from_here(conn: ServerConnection, twin: ServerConnection) -> None:
    """`conn` behaves as its untouched copy `twin` from here on: the same bytes queued,
    then the same events, answers and bytes for the rest of a session."""
    runs = []
    for c in (conn, twin):
        out, events = c.data_to_send(), list[object]()
        try:
            c.receive_data(b"")  # end the input, as a client closing would
        except LocalProtocolError as err:  # it had ended already: so must the twin's
            events.append(str(err))
        for _ in range(100):
            event = c.next_event()
            events.append(event)
            if event is NEED_DATA or isinstance(event, ConnectionClosed):
                break
            if event is PAUSED or isinstance(event, Decision):
                c.reject()  # the default refusal: the same answer whatever is pending
        runs.append((c.state, out + c.data_to_send(), events))
    assert runs[0] == runs[1]


# Pipelining and PAUSED (RFC 2920) -------------------------------------------------------


def test_paused_until_the_decision_is_answered_and_replies_stay_in_order() -> None:
    conn = ServerConnection(CONFIG)
    conn.next_event()
    conn.accept()
    conn.receive_data(EHLO + ENVELOPE + b"NOOP\r\n")
    assert isinstance(conn.next_event(), Helo)
    assert conn.next_event() is PAUSED
    assert conn.next_event() is PAUSED
    assert conn.data_to_send() == GREETING
    conn.accept()
    events = pump(conn)
    assert conn.data_to_send() == EHLO_REPLY + ENVELOPE_REPLY + wire(replies.NOOP_OK)
    assert [type(e) for e in events[1:]] == [MailFrom, RcptTo]


def test_whole_session_in_one_read_and_byte_by_byte_agree() -> None:
    data = EHLO + ENVELOPE + MESSAGE + b"QUIT\r\n"
    events, out = session(data)
    events2, out2 = session(*(data[i : i + 1] for i in range(len(data))))
    assert out == out2
    assert [e for e in events if not isinstance(e, MessageChunk)] == [
        e for e in events2 if not isinstance(e, MessageChunk)
    ]


# Unknown commands ------------------------------------------------------------------------


EXTENDED = replace(CONFIG, extension_verbs=frozenset({"XCLIENT", "XYZZY"}))


@pytest.mark.parametrize("config", [CONFIG, EXTENDED], ids=["default", "other-verbs-named"])
def test_a_verb_no_one_named_gets_500_from_the_core(config: ServerConfig) -> None:
    # No decision: an application that accepts every decision cannot answer it 250.
    conn = started(EHLO, config=config)
    events = pump(conn, b"FOO  magic words\r\nLHLO client.example\r\n\xffOO bar\r\n")
    assert events == [
        CommandRejected(command="FOO", reply=replies.UNRECOGNIZED),
        CommandRejected(command="LHLO", reply=replies.UNRECOGNIZED),  # not LMTP
        CommandRejected(command="", reply=replies.UNRECOGNIZED),
    ]
    assert conn.data_to_send() == wire(replies.UNRECOGNIZED) * 3


def test_a_named_verb_is_a_decision_rejected_with_500() -> None:
    conn = started(EHLO, config=EXTENDED)
    events = pump(conn, b"xyzzy  magic words\r\n", decide=answers({UnknownCommand: None}))
    assert events == [UnknownCommand(verb="XYZZY", line="xyzzy  magic words")]
    assert conn.data_to_send() == b"500 5.5.2 Command unrecognized\r\n"


def test_a_named_verb_is_accepted_only_with_a_reply() -> None:
    conn = started(EHLO, config=EXTENDED)
    conn.receive_data(b"XCLIENT NAME=x\r\n")
    assert conn.next_event() == UnknownCommand(verb="XCLIENT", line="XCLIENT NAME=x")
    with pytest.raises(LocalProtocolError, match="needs a Reply"):
        conn.accept()
    assert conn.data_to_send() == b""  # the misuse changed nothing: the decision still waits
    conn.accept(Reply(220, ("ok",)))
    assert conn.data_to_send() == b"220 ok\r\n"


def test_any_verb_brings_every_verb_smtp_does_not_define_to_the_application() -> None:
    config = replace(CONFIG, extension_verbs=frozenset({ANY_VERB}))
    conn = started(EHLO, config=config)
    events = pump(
        conn, b"FOO bar\r\n\xffOO bar\r\nLHLO x\r\n", decide=answers({UnknownCommand: None})
    )
    assert events[:2] == [
        UnknownCommand(verb="FOO", line="FOO bar"),
        UnknownCommand(verb="", line="\ufffdOO bar"),
    ]
    # A verb SMTP defines is never the application's: LHLO outside LMTP is the core's 500.
    assert events[2] == CommandRejected(command="LHLO", reply=replies.UNRECOGNIZED)


@pytest.mark.parametrize(
    ("config", "prefix", "reply"),
    [
        (EXTENDED, b"", replies.NEED_HELO),
        (replace(EXTENDED, tls_mode=TlsMode.REQUIRED), EHLO, replies.TLS_REQUIRED),
        (replace(EXTENDED, auth_mode=AuthMode.REQUIRED), EHLO, replies.AUTH_REQUIRED),
    ],
    ids=["helo-first", "tls-first", "auth-first"],
)
def test_a_named_verb_passes_the_checks_every_command_passes(
    config: ServerConfig, prefix: bytes, reply: Reply
) -> None:
    conn = started(*[prefix] if prefix else [], config=config)  # b"" would end the input
    events = pump(conn, b"XYZZY\r\n")
    assert events == [CommandRejected(command="XYZZY", reply=reply)]
    assert conn.data_to_send() == wire(reply)


@pytest.mark.parametrize(
    "verbs", [{"MAIL"}, {"LHLO"}, {"xyzzy"}, {"X Y"}, {""}, {"X" * 21}], ids=repr
)
def test_extension_verbs_must_be_upper_case_words_smtp_does_not_define(verbs: set[str]) -> None:
    with pytest.raises(ValueError, match="extension verb"):
        ServerConfig(extension_verbs=frozenset(verbs))


def test_extension_verbs_given_as_a_set_keep_the_config_hashable() -> None:
    config = ServerConfig(extension_verbs={"XFOO"})  # type: ignore[arg-type]
    assert config.extension_verbs == frozenset({"XFOO"})
    assert hash(config) == hash(ServerConfig(extension_verbs=frozenset({"XFOO"})))
    with pytest.raises(TypeError):
        ServerConfig(extension_verbs="XFOO")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "line", [b"NO\x00OP\r\n", b"NOOP\rNOOP\r\n", b"NOOP\x00\r\n", b"\rNOOP\r\n"]
)
def test_nul_or_bare_cr_in_a_command_gets_500(line: bytes) -> None:
    conn = started(EHLO)
    events = pump(conn, line + b"NOOP\r\n")
    assert conn.data_to_send() == wire(replies.BAD_CHARACTER) + wire(replies.NOOP_OK)
    # Only a known verb names the command: the line's first word may hold control bytes.
    assert events[0] == CommandRejected(command="", reply=replies.BAD_CHARACTER)


def test_a_bare_lf_never_ends_a_command_line() -> None:
    # RFC 5321 2.3.8: only CRLF ends a line; the bare LF stays inside it and is refused.
    conn = started(EHLO)
    events = pump(conn, b"NOOP\nRSET\n")
    assert conn.data_to_send() == b""
    pump(conn, b"\r\nNOOP\r\n")
    assert conn.data_to_send() == wire(replies.BAD_CHARACTER, replies.NOOP_OK)
    assert not of_type(events, CommandRejected)


# Decisions answered with 421, abort, the client closing ---------------------------------


DECISION_PREFIXES: dict[type[Decision], bytes] = {
    ConnectionOpened: b"",
    Helo: EHLO,
    MailFrom: EHLO + ENVELOPE[:33],
    RcptTo: EHLO + ENVELOPE,
    DataStart: EHLO + ENVELOPE + b"DATA\r\n",
    MessageReceived: EHLO + ENVELOPE + MESSAGE,
    UnknownCommand: EHLO + b"XYZZY\r\n",
}
DECISION_CONFIGS: dict[type[Decision], ServerConfig] = {UnknownCommand: EXTENDED}


@pytest.mark.parametrize("kind", list(DECISION_PREFIXES), ids=lambda k: k.__name__)
def test_a_421_rejection_closes_the_session(kind: type[Decision]) -> None:
    conn = ServerConnection(DECISION_CONFIGS.get(kind, CONFIG))
    events = pump(conn, DECISION_PREFIXES[kind] + b"NOOP\r\n", decide=answers({kind: SHUTDOWN_421}))
    assert any(isinstance(e, kind) for e in events)
    assert events[-1] == ConnectionClosed(by_client=False)
    out = conn.data_to_send()
    assert out.endswith(wire(SHUTDOWN_421, esc=kind not in (ConnectionOpened, Helo)))
    assert b"250 2.0.0 OK" not in out
    assert conn.closed
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"NOOP\r\n")


def test_abort_queues_421_and_closes_even_with_a_decision_pending() -> None:
    conn = started(EHLO)
    conn.receive_data(b"MAIL FROM:<a@example.test>\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    conn.abort()
    assert (
        conn.data_to_send() == b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
    )
    assert conn.next_event() == ConnectionClosed(by_client=False)
    with pytest.raises(LocalProtocolError):
        conn.accept()
    conn.abort(replies.TIMEOUT)  # a no-op once closed
    assert conn.data_to_send() == b""


def test_abort_in_place_of_the_greeting_has_no_enhanced_code() -> None:
    conn = ServerConnection(CONFIG)
    conn.abort(replies.TIMEOUT)
    assert conn.data_to_send() == b"421 Timeout, closing transmission channel\r\n"


def test_abort_after_the_greeting_has_its_enhanced_code() -> None:
    # RFC 2034 4: enhanced codes whether or not EHLO was used.
    conn = started()
    conn.abort(replies.TIMEOUT)
    assert conn.data_to_send() == wire(replies.TIMEOUT)


def test_client_closing_ends_the_session() -> None:
    conn = started(EHLO)
    events = pump(conn, b"NOOP\r\nMAIL FROM:<a@exa", b"")
    assert events == [ConnectionClosed(by_client=True)]
    assert conn.data_to_send() == wire(replies.NOOP_OK)
    assert conn.closed


def test_a_decision_pending_when_the_client_closes_is_still_answered() -> None:
    conn = started(EHLO)
    conn.receive_data(b"MAIL FROM:<a@example.test>\r\n")
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), MailFrom)
    conn.accept()
    assert conn.next_event() == ConnectionClosed(by_client=True)
    assert conn.data_to_send() == wire(replies.SENDER_OK)


def test_client_closing_in_the_middle_of_a_message() -> None:
    conn = started(EHLO + ENVELOPE + b"DATA\r\n")
    events = pump(conn, b"Subject: cut\r\n", b"")
    assert events[-1] == ConnectionClosed(by_client=True)
    assert not any(isinstance(e, MessageReceived) for e in events)
    assert conn.data_to_send() == b""


def test_discard_message_answers_its_reply_after_the_end_of_data() -> None:
    conn = started(EHLO + ENVELOPE + b"DATA\r\n")
    conn.receive_data(b"Subject: x\r\n\r\nfirst line\r\n")
    assert isinstance(conn.next_event(), MessageChunk)
    conn.discard_message(replies.MESSAGE_TOO_BIG)
    events = pump(conn, b"more\r\n.\r\nNOOP\r\n")
    assert CommandRejected(command="DATA", reply=replies.MESSAGE_TOO_BIG) in events
    assert not any(isinstance(e, MessageReceived) for e in events)
    assert conn.data_to_send() == wire(replies.MESSAGE_TOO_BIG, replies.NOOP_OK)


# Misuse: LocalProtocolError, and nothing changed ----------------------------------------


def _after_eof() -> ServerConnection:
    conn = ServerConnection(CONFIG)
    conn.receive_data(b"")
    return conn


def _with_pending_greeting() -> ServerConnection:
    conn = ServerConnection(CONFIG)
    assert isinstance(conn.next_event(), ConnectionOpened)
    return conn


def _with_pending_mail() -> ServerConnection:
    conn = started(EHLO)
    conn.receive_data(b"MAIL FROM:<a@example.test>\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    return conn


MISUSES: dict[str, tuple[Callable[[], ServerConnection], Callable[[ServerConnection], None]]] = {
    "accept without a decision": (lambda: started(EHLO), lambda c: c.accept()),
    "reject without a decision": (lambda: started(EHLO), lambda c: c.reject()),
    "accept with a 5xx": (_with_pending_mail, lambda c: c.accept(replies.SENDER_REJECTED)),
    "reject with a 2xx": (_with_pending_mail, lambda c: c.reject(replies.OK)),
    "greeting other than 220": (_with_pending_greeting, lambda c: c.accept(Reply(250, ("hi",)))),
    "tls_established without STARTTLS": (lambda: started(EHLO), lambda c: c.tls_established()),
    "discard_message outside a message": (
        lambda: started(EHLO),
        lambda c: c.discard_message(replies.MESSAGE_TOO_BIG),
    ),
    "discard_message with a 2xx": (
        lambda: started(EHLO + ENVELOPE + b"DATA\r\n"),
        lambda c: c.discard_message(replies.OK),
    ),
    "receive_data after the client closed": (
        lambda: started(EHLO, b""),
        lambda c: c.receive_data(b"NOOP\r\n"),
    ),
    "receive_data after QUIT": (
        lambda: started(EHLO + b"QUIT\r\n"),
        lambda c: c.receive_data(b"NOOP\r\n"),
    ),
    "receive_data b'' twice": (
        _after_eof,
        lambda c: c.receive_data(b""),
    ),
}


@pytest.mark.parametrize("name", list(MISUSES))
def test_misuse_raises_and_changes_nothing(name: str) -> None:
    make, misuse = MISUSES[name]
    conn, twin = make(), make()  # the same input: the same connection
    with pytest.raises(LocalProtocolError):
        misuse(conn)
    assert conn.state is twin.state
    same_from_here(conn, twin)


def test_a_decision_survives_a_refused_answer() -> None:
    conn = _with_pending_mail()
    with pytest.raises(LocalProtocolError):
        conn.accept(replies.SENDER_REJECTED)
    assert conn.next_event() is PAUSED
    conn.accept()
    assert conn.data_to_send() == wire(replies.SENDER_OK)
    assert conn.next_event() is NEED_DATA


def test_answering_twice_raises() -> None:
    conn = _with_pending_mail()
    accept_all(conn, MailFrom(address="a@example.test"))
    with pytest.raises(LocalProtocolError):
        conn.reject()
    assert conn.data_to_send() == wire(replies.SENDER_OK)


def test_values_computed_from_a_config_are_shared_and_bounded() -> None:
    config = ServerConfig(hostname="mx.example.test")
    ServerConnection(config)
    first = ConfigValues.of(config)
    assert ConfigValues.of(config) is first  # built once, shared by every session
    for n in range(500):  # many configs, e.g. one per test: older values are let go
        ServerConnection(ServerConfig(hostname=f"mx{n}.example.test"))
    assert ConfigValues.of(config) is not first
    assert ConfigValues.of(config).greeting == first.greeting
    # The config itself was never written to: still equal to a fresh one, same hash.
    assert config == ServerConfig(hostname="mx.example.test")
    assert hash(config) == hash(ServerConfig(hostname="mx.example.test"))
