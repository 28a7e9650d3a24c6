"""The protocol's states, the verbs each state takes and the moves between states, as tables.

Every legal (state, verb) pair and every (state, move) -> state transition is here;
nothing here touches bytes. A verb outside its state's row gets 503 5.5.1 from the core.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class State(enum.Enum):
    """Named for what the server waits for."""

    # Members are singletons: hash by identity, not by name in Python (every command
    # looks its state and verb up in the tables below).
    __hash__ = object.__hash__

    PROXY = enum.auto()  # the PROXY header is owed (ServerConfig.proxy_protocol), or its answer
    GREETING = enum.auto()  # ConnectionOpened is owed an answer
    REFUSED = enum.auto()  # greeting refused with 554: only QUIT is served (RFC 5321 3.1)
    HELO = enum.auto()  # waiting for HELO/EHLO/LHLO
    READY = enum.auto()  # greeted, no mail transaction
    MAIL = enum.auto()  # MAIL accepted
    RCPT = enum.auto()  # at least one RCPT accepted
    DATA = enum.auto()  # reading DATA message text
    BDAT = enum.auto()  # reading the octets of a BDAT chunk
    CHUNKING = enum.auto()  # between BDAT chunks of one transaction
    AUTH = enum.auto()  # in a SASL exchange
    TLS = enum.auto()  # the TLS handshake is owed (after STARTTLS was accepted)
    CLOSED = enum.auto()


class Verb(enum.Enum):
    """Commands the core knows; anything else is an `UnknownCommand`."""

    __hash__ = object.__hash__  # as for State

    HELO = "HELO"
    EHLO = "EHLO"
    LHLO = "LHLO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    EXPN = "EXPN"
    HELP = "HELP"
    AUTH = "AUTH"
    STARTTLS = "STARTTLS"
    XCLIENT = "XCLIENT"  # Postfix's; only where the session takes it (smtp_proto.xclient)


VERBS: Final[Mapping[str, Verb]] = {v.value: v for v in Verb}

# RFC 5321 4.1.4: these may be used at any time during a session.
ANYTIME: Final = frozenset(
    {Verb.HELO, Verb.EHLO, Verb.LHLO, Verb.NOOP, Verb.RSET, Verb.QUIT, Verb.HELP, Verb.VRFY}
    | {Verb.EXPN}
)

# XCLIENT: any time outside a mail transaction (Postfix's XCLIENT_README).
LEGAL: Final[Mapping[State, frozenset[Verb]]] = {
    State.HELO: ANYTIME | {Verb.XCLIENT},
    State.READY: ANYTIME | {Verb.MAIL, Verb.AUTH, Verb.STARTTLS, Verb.XCLIENT},
    State.MAIL: ANYTIME | {Verb.RCPT},
    State.RCPT: ANYTIME | {Verb.RCPT, Verb.DATA, Verb.BDAT},
    State.CHUNKING: ANYTIME | {Verb.BDAT},
}

# Commands that need an EHLO/LHLO session: they belong to extensions (RFC 5321 2.2.1).
EXTENDED_ONLY: Final = frozenset({Verb.AUTH, Verb.STARTTLS, Verb.BDAT})

# RFC 3207 4: with TLS required, only these are served before STARTTLS (and XCLIENT, which
# only a trusted front end may send, often on a plain connection of its own).
BEFORE_TLS: Final = frozenset(
    {Verb.EHLO, Verb.HELO, Verb.LHLO, Verb.NOOP, Verb.RSET, Verb.QUIT, Verb.STARTTLS}
    | {Verb.XCLIENT}
)

# Octets each extension adds to MAIL/RCPT lines (RFC 1870 3, RFC 6531 3.4, RFC 4954 5,
# RFC 3461 5; BODY= as RFC 6152 has none, sized to fit).
LINE_ALLOWANCE: Final[Mapping[str, int]] = {
    "SIZE": 26,
    "8BITMIME": 20,
    "SMTPUTF8": 10,
    "AUTH": 500,
    "DSN": 600,
}


class Move(enum.Enum):
    """What takes a session from one state to the next (`TRANSITIONS`)."""

    __hash__ = object.__hash__  # as for State

    PROXIED = enum.auto()  # the PROXY header was accepted: the greeting is next
    GREET = enum.auto()  # the greeting went out
    REFUSE = enum.auto()  # the greeting was a refusal (554): only QUIT is served
    HELLO = enum.auto()  # HELO, EHLO or LHLO accepted: a new session, no transaction
    RESET = enum.auto()  # RSET: any transaction ends
    MAIL = enum.auto()  # MAIL accepted
    RCPT = enum.auto()  # RCPT accepted
    DATA = enum.auto()  # DATA accepted: message text follows
    CHUNK = enum.auto()  # BDAT accepted: the chunk's octets follow
    CHUNK_READ = enum.auto()  # a chunk before the LAST one has been read
    MESSAGE_END = enum.auto()  # the message was answered (for each recipient, in LMTP)
    SASL_CHALLENGE = enum.auto()  # AUTH: a 334 challenge went out
    SASL_END = enum.auto()  # AUTH: the exchange ended, either way
    STARTTLS = enum.auto()  # STARTTLS accepted: the handshake is owed
    TLS_ESTABLISHED = enum.auto()  # the handshake is done: the session starts over
    XCLIENT = enum.auto()  # XCLIENT accepted: a new greeting, the session starts over


_TRANSACTION: Final = (State.READY, State.MAIL, State.RCPT, State.CHUNKING)

# Every transition the core takes, beside LEGAL: (state, move) -> next state. Any state
# also goes to CLOSED (QUIT, a 421, abort, the end of input), and CLOSED stays CLOSED.
TRANSITIONS: Final[Mapping[tuple[State, Move], State]] = {
    (State.PROXY, Move.PROXIED): State.GREETING,
    (State.GREETING, Move.GREET): State.HELO,
    (State.GREETING, Move.REFUSE): State.REFUSED,
    **{(state, Move.HELLO): State.READY for state in (State.HELO, *_TRANSACTION)},
    (State.HELO, Move.RESET): State.HELO,  # nothing to reset before a greeting
    **{(state, Move.RESET): State.READY for state in _TRANSACTION},
    (State.READY, Move.MAIL): State.MAIL,
    (State.MAIL, Move.RCPT): State.RCPT,
    (State.RCPT, Move.RCPT): State.RCPT,
    (State.RCPT, Move.DATA): State.DATA,
    (State.RCPT, Move.CHUNK): State.BDAT,
    (State.CHUNKING, Move.CHUNK): State.BDAT,
    (State.BDAT, Move.CHUNK_READ): State.CHUNKING,
    (State.DATA, Move.MESSAGE_END): State.READY,
    (State.BDAT, Move.MESSAGE_END): State.READY,
    (State.READY, Move.SASL_CHALLENGE): State.AUTH,
    (State.AUTH, Move.SASL_CHALLENGE): State.AUTH,
    (State.READY, Move.SASL_END): State.READY,  # an initial response settled it at once
    (State.AUTH, Move.SASL_END): State.READY,
    (State.READY, Move.STARTTLS): State.TLS,
    (State.TLS, Move.TLS_ESTABLISHED): State.HELO,
    (State.HELO, Move.XCLIENT): State.HELO,
    (State.READY, Move.XCLIENT): State.HELO,
}
