"""Every (State, Verb) pair, with random arguments and random answers to decisions: a state
that reads commands answers each line with exactly one well-formed reply; message states
take the line as content; the TLS state drops it; a closed connection refuses the call."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto.config import AuthMode, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import BeginTls, ConnectionOpened, Decision, MessageChunk, StartTlsRequest
from smtp_proto.proxy import ProxyVersion
from smtp_proto.state import State, Verb
from tests.helpers import (
    CONFIG,
    EHLO,
    ENVELOPE,
    NONCE,
    answers,
    pump,
    split_replies,
    started,
)

CONFIG_ALL: Final = replace(
    CONFIG, auth_mode=AuthMode.OPTIONAL, tls_mode=TlsMode.OPTIONAL, auth_plaintext=True
)


def _conn(*chunks: bytes, refuse: bool = False) -> ServerConnection:
    decide = answers({ConnectionOpened: None}) if refuse else answers()
    return started(*chunks, config=CONFIG_ALL, decide=decide, nonce=lambda: NONCE)


def _in_handshake() -> ServerConnection:
    conn = _conn(EHLO)
    conn.receive_data(b"STARTTLS\r\n")
    assert isinstance(conn.next_event(), StartTlsRequest)
    conn.accept()
    assert isinstance(conn.next_event(), BeginTls)
    conn.data_to_send()
    return conn


# A connection in each state, its output so far taken away.
SETUPS: Final[dict[State, Callable[[], ServerConnection]]] = {
    State.PROXY: lambda: ServerConnection(
        replace(CONFIG_ALL, proxy_protocol=ProxyVersion.ANY), nonce=lambda: NONCE
    ),
    State.GREETING: lambda: ServerConnection(CONFIG_ALL, nonce=lambda: NONCE),
    State.REFUSED: lambda: _conn(refuse=True),
    State.HELO: lambda: _conn(),
    State.READY: lambda: _conn(EHLO),
    State.MAIL: lambda: _conn(EHLO + b"MAIL FROM:<a@example.test>\r\n"),
    State.RCPT: lambda: _conn(EHLO + ENVELOPE),
    State.CHUNKING: lambda: _conn(EHLO + ENVELOPE + b"BDAT 3\r\nabc"),
    State.AUTH: lambda: _conn(EHLO + b"AUTH LOGIN\r\n"),
    State.DATA: lambda: _conn(EHLO + ENVELOPE + b"DATA\r\n"),
    State.BDAT: lambda: _conn(EHLO + ENVELOPE + b"BDAT 100000\r\n"),
    State.TLS: lambda: _in_handshake(),
    State.CLOSED: lambda: _conn(b"QUIT\r\n"),
}
COMMAND_STATES: Final = frozenset(
    {State.REFUSED, State.HELO, State.READY, State.MAIL, State.RCPT, State.CHUNKING, State.AUTH}
)
ARGUMENT: Final = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40
)


def test_every_state_is_set_up() -> None:
    assert set(SETUPS) == set(State)
    for state, setup in SETUPS.items():
        conn = setup()
        assert conn.state is state, state


def line_for(verb: Verb | str, argument: str, count: int, last: bool) -> bytes:
    """A command line; BDAT gets a valid count and is followed by its octets."""
    if verb is Verb.BDAT:
        return b"BDAT %d%s\r\n" % (count, b" LAST" if last else b"") + b"x" * count
    name = verb.value if isinstance(verb, Verb) else verb
    text = f"{name} {argument}" if argument else name
    return text.encode("utf-8", "surrogateescape") + b"\r\n"


def decide_with(rng: random.Random) -> Callable[[ServerConnection, Decision], None]:
    def decide(conn: ServerConnection, event: Decision) -> None:
        if isinstance(event, ConnectionOpened) or rng.random() < 0.6:
            conn.accept()
        else:
            conn.reject()

    return decide


@given(
    state=st.sampled_from(sorted(COMMAND_STATES | {State.GREETING}, key=lambda s: s.value)),
    verb=st.one_of(st.sampled_from(list(Verb)), st.sampled_from(["XYZZY", "MAILX", "", "ÄÖ"])),
    argument=ARGUMENT,
    count=st.integers(0, 20),
    last=st.booleans(),
    rng=st.randoms(use_true_random=False),
)
def test_a_state_that_reads_commands_answers_each_line_once(
    state: State, verb: Verb | str, argument: str, count: int, last: bool, rng: random.Random
) -> None:
    conn = SETUPS[state]()
    pump(conn, line_for(verb, argument, count, last), decide=decide_with(rng))
    out = conn.data_to_send()
    expected = 2 if state is State.GREETING else 1  # the greeting comes first
    assert len(split_replies(out)) == expected, out


@given(verb=st.sampled_from(list(Verb)), argument=ARGUMENT)
def test_in_data_a_command_line_is_content(verb: Verb, argument: str) -> None:
    conn = SETUPS[State.DATA]()
    line = line_for(verb, argument.lstrip("."), 0, False)
    events = pump(conn, line)
    assert conn.data_to_send() == b""
    events += pump(conn, b".\r\n")
    joined = b"".join(e.data for e in events if isinstance(e, MessageChunk))
    assert joined == line
    assert len(split_replies(conn.data_to_send())) == 1


@given(verb=st.sampled_from(list(Verb)), argument=ARGUMENT)
def test_in_bdat_a_command_line_is_content(verb: Verb, argument: str) -> None:
    conn = SETUPS[State.BDAT]()
    line = line_for(verb, argument, 5, True)
    events = pump(conn, line)
    assert conn.data_to_send() == b""
    assert b"".join(e.data for e in events if isinstance(e, MessageChunk)) == line


@given(verb=st.sampled_from(list(Verb)), argument=ARGUMENT)
def test_in_the_tls_handshake_a_command_line_is_dropped(verb: Verb, argument: str) -> None:
    conn = SETUPS[State.TLS]()
    conn.receive_data(line_for(verb, argument, 3, True))
    conn.tls_established()
    events = pump(conn)
    assert conn.data_to_send() == b""
    assert conn.state is State.HELO
    assert len(events) == 1  # SessionReset(STARTTLS)


@pytest.mark.parametrize("verb", list(Verb), ids=lambda v: v.value)
def test_a_closed_connection_refuses_more_input(verb: Verb) -> None:
    conn = SETUPS[State.CLOSED]()
    with pytest.raises(LocalProtocolError):
        conn.receive_data(line_for(verb, "x", 1, True))
    assert conn.data_to_send() == b""
