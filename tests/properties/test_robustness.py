"""Random bytes and random command lines, split into random reads and answered at random:
nothing raises, every output is well-formed replies, and the connection's buffer stays
within its limits plus one read."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Final

from hypothesis import given
from hypothesis import strategies as st

from smtp_proto.config import AuthMode, CrlfMode, Limits, ServerConfig, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    BeginTls,
    ConnectionClosed,
    ConnectionOpened,
    Decision,
)
from smtp_proto.replies import Reply
from smtp_proto.state import LINE_ALLOWANCE
from tests.helpers import CONFIG, NONCE, accept_all, pump, reads, split_replies, started

LIMITS: Final = Limits(
    command_line=64,
    auth_line=200,
    line_buffer=300,
    text_line=80,
    message_size=3000,
    recipients=5,
    unknown_commands=30,
    errors=60,
    auth_failures=10,
)
CONFIGS: Final = [
    replace(
        CONFIG,
        limits=LIMITS,
        auth_mode=AuthMode.OPTIONAL,
        tls_mode=TlsMode.OPTIONAL,
        auth_plaintext=True,
        crlf_mode=mode,
    )
    for mode in CrlfMode
] + [replace(CONFIG, lmtp=True, limits=LIMITS), CONFIG]
# What may stay unread between reads: the longest line the core waits for.
HELD: Final = max(
    LIMITS.auth_line, LIMITS.command_line + sum(LINE_ALLOWANCE.values()), LIMITS.text_line + 1
)
TOKENS: Final = [
    b"EHLO c.example\r\n",
    b"HELO c\r\n",
    b"LHLO c\r\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x\r\n",
    b"RCPT TO:<c@d.example>\r\n",
    b"RCPT TO:<c@d.example> NOTIFY=NEVER ORCPT=rfc822;x\r\n",
    b"DATA\r\n",
    b"BDAT 3\r\n",
    b"BDAT 5 LAST\r\n",
    b"BDAT 0 LAST\r\n",
    b"BDAT x\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"VRFY x\r\n",
    b"EXPN x\r\n",
    b"HELP\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH CRAM-MD5\r\n",
    b"AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n",
    b"dGlt\r\n",
    b"*\r\n",
    b"=\r\n",
    b".\r\n",
    b"..\r\n",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\r.\r",
    b"\r\n",
    b"\n",
    b"\r",
    b".",
    b"\x00",
    b"\xff\xfe",
    "MAIL FROM:<ü@b.example> SMTPUTF8\r\n".encode(),
    b"Subject: x\r\n\r\n",
    b"x" * 100,
    b"y" * 400,
]
CHUNK: Final = st.one_of(st.sampled_from(TOKENS), st.binary(max_size=40))
REPLY_421: Final = Reply(421, ("bye",), (4, 0, 0))


def drive(conn: ServerConnection, reads: list[bytes], rng: random.Random) -> None:
    """Feed the reads after NEED_DATA, answer decisions at random, check the buffer."""
    pending = list(reversed(reads))
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            if not pending:
                if rng.random() < 0.5:
                    return
                conn.receive_data(b"")
                continue
            read = pending.pop()
            conn.receive_data(read)
            assert conn.buffered <= HELD + len(read)
            continue
        assert event is not PAUSED
        if isinstance(event, Decision):
            answer(conn, event, rng)
        elif isinstance(event, BeginTls):
            conn.tls_established()
        elif isinstance(event, ConnectionClosed):
            return


def answer(conn: ServerConnection, event: Decision, rng: random.Random) -> None:
    roll = rng.random()
    if roll < (0.9 if isinstance(event, ConnectionOpened) else 0.6):
        conn.accept()
    elif roll < 0.97:
        conn.reject()
    else:
        conn.reject(REPLY_421)


@given(
    config=st.sampled_from(CONFIGS),
    chunks=st.lists(CHUNK, max_size=60),
    cuts=st.lists(st.integers(1, 5000), max_size=20),
    rng=st.randoms(use_true_random=False),
    encrypted=st.booleans(),
)
def test_random_input_gets_only_well_formed_replies(
    config: ServerConfig,
    chunks: list[bytes],
    cuts: list[int],
    rng: random.Random,
    encrypted: bool,
) -> None:
    conn = ServerConnection(config, encrypted=encrypted, nonce=lambda: NONCE)
    drive(conn, reads(b"".join(chunks), cuts), rng)
    out = conn.data_to_send()
    for reply in split_replies(out):
        assert reply[:1] in b"2345"
    if conn.closed:
        assert out == b"" or out.endswith(b"\r\n")


@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(1, 3000), max_size=10))
def test_random_bytes_after_the_greeting(data: bytes, cuts: list[int]) -> None:
    conn = ServerConnection(CONFIGS[0], nonce=lambda: NONCE)
    drive(conn, reads(b"EHLO c\r\n" + data, cuts), random.Random(0))
    split_replies(conn.data_to_send())


@given(
    words=st.lists(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=30), min_size=1, max_size=6
    ),
    config=st.sampled_from(CONFIGS),
    accept=st.booleans(),
)
def test_random_command_lines_get_one_reply_each(
    words: list[str], config: ServerConfig, accept: bool
) -> None:
    """Inside a mail transaction, any line without CR or LF gets exactly one reply."""
    line = " ".join(words).replace("\r", "").replace("\n", "").encode("utf-8")
    prefix = b"LHLO c\r\n" if config.lmtp else b"EHLO c\r\n"
    conn = started(prefix + b"MAIL FROM:<a@b.example>\r\n", config=config, nonce=lambda: NONCE)
    pump(conn, line + b"\r\n", decide=accept_all if accept else reject_all)
    out = conn.data_to_send()
    assert len(split_replies(out)) == 1, out


def reject_all(conn: ServerConnection, event: Decision) -> None:
    conn.reject()
