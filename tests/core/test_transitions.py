"""The state machine as a table: every transition the core takes is in `TRANSITIONS`, agrees
with the verbs `LEGAL` lets in, and reaches every state; a move the table lacks is a bug
the core reports loudly rather than a state it drifts into."""

from __future__ import annotations

import itertools
from typing import Final

import pytest

from smtp_proto.config import AuthMode, ServerConfig, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.state import LEGAL, TRANSITIONS, Move, State, Verb
from tests.helpers import pump

# The verb behind each move a command makes.
VERB_OF: Final = {
    Move.HELLO: Verb.EHLO,
    Move.RESET: Verb.RSET,
    Move.MAIL: Verb.MAIL,
    Move.RCPT: Verb.RCPT,
    Move.DATA: Verb.DATA,
    Move.CHUNK: Verb.BDAT,
    Move.STARTTLS: Verb.STARTTLS,
}


def test_a_command_moves_only_from_states_where_its_verb_is_legal() -> None:
    for (state, move), _ in TRANSITIONS.items():
        verb = VERB_OF.get(move)
        if verb is not None:
            assert verb in LEGAL[state], (state, move)


def test_every_state_is_reachable_from_the_first() -> None:
    # A session starts waiting for a PROXY header (when configured) or with its greeting.
    reached, frontier = {State.PROXY, State.GREETING}, [State.PROXY, State.GREETING]
    while frontier:
        state = frontier.pop()
        for (origin, _), target in TRANSITIONS.items():
            if origin is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached | {State.CLOSED} == set(State)  # CLOSED: from anywhere, by closing


def test_every_state_that_takes_commands_has_a_way_out() -> None:
    for state in LEGAL:
        assert any(
            origin is state and target is not state for (origin, _), target in TRANSITIONS.items()
        )


@pytest.mark.parametrize(
    "script",
    [
        b"EHLO a\r\nRSET\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n",
        b"EHLO a\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 1\r\nxBDAT 1 LAST\r\ny",
        b"RSET\r\nEHLO a\r\nAUTH PLAIN\r\nAGEAYg==\r\nEHLO b\r\nMAIL FROM:<a@b.test>\r\n",
    ],
    ids=["data", "bdat", "auth"],
)
def test_sessions_walk_the_table(script: bytes) -> None:
    config = ServerConfig(
        auth_mode=AuthMode.OPTIONAL, tls_mode=TlsMode.OPTIONAL, auth_plaintext=True
    )
    conn = ServerConnection(config)
    states = [conn.state]
    for octet in range(len(script)):  # a byte at a time: every state on the way is seen
        pump(conn, script[octet : octet + 1])
        if conn.state is not states[-1]:
            states.append(conn.state)
    pairs = set(itertools.pairwise(states))
    assert pairs <= {(origin, target) for (origin, _), target in TRANSITIONS.items()}
    assert len(states) > 3
