"""Any split of a scripted session into reads gives the same events and the same reply
bytes (consecutive MessageChunks compared joined): plain, pipelined, DATA with dots and
bare line endings in every CRLF mode, AUTH, STARTTLS, BDAT, LMTP and overlong lines."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto.config import AuthMode, CrlfMode, Limits, ServerConfig, TlsMode
from smtp_proto.events import Event, UnknownCommand
from tests.helpers import CONFIG, EHLO, ENVELOPE, NONCE, answers, joined, reads, session


@dataclass(frozen=True)
class Script:
    """A client's bytes; `after_tls` is sent once the STARTTLS handshake is done."""

    data: bytes
    config: ServerConfig = CONFIG
    after_tls: bytes = b""


MESSAGE: Final = (
    b"Subject: dots and ends\r\nFrom: <a@example.test>\r\n\r\n"
    b".leading\r\n..two\r\n.\r\n\r\nbare lf\nbare cr\rboth\n\r\n\n.\n\r.\r\r\n.\r"
    b"\r\n.x\r\nlast\r\n"
)
DATA_SESSION: Final = EHLO + ENVELOPE + b"DATA\r\n" + MESSAGE + b".\r\nQUIT\r\n"
AUTH_CONFIG: Final = replace(CONFIG, auth_mode=AuthMode.OPTIONAL)
TLS_CONFIG: Final = replace(CONFIG, auth_mode=AuthMode.OPTIONAL, tls_mode=TlsMode.OPTIONAL)
PLAIN: Final = base64.b64encode(b"\0tim\0tanstaaftanstaaf")


def _bdat(data: bytes, last: bool = False) -> bytes:
    return b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data


SCRIPTS: Final = {
    "plain": Script(EHLO + ENVELOPE + b"DATA\r\nSubject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n"),
    "helo": Script(b"HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nQUIT\r\n"),
    "pipelined": Script(
        EHLO + b"NOOP x\r\nVRFY\r\nVRFY u\r\nEXPN u\r\nHELP\r\nXYZZY\r\nRCPT TO:<a@b.example>\r\n"
        b"MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<c@d.example> NOTIFY=NEVER\r\n"
        b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nDATA x\r\nNO\0OP\r\nnoop\nRSET\r\n"
        b"EHLO again.example\r\nQUIT\r\nNOOP\r\n"
    ),
    "data ensure": Script(DATA_SESSION),
    "data leave": Script(DATA_SESSION, replace(CONFIG, crlf_mode=CrlfMode.LEAVE)),
    "data strict": Script(DATA_SESSION, replace(CONFIG, crlf_mode=CrlfMode.STRICT)),
    "data strict clean": Script(
        EHLO + ENVELOPE + b"DATA\r\nA: b\r\n\r\n..x\r\n.\r\n",
        replace(CONFIG, crlf_mode=CrlfMode.STRICT),
    ),
    "message limits": Script(
        EHLO
        + ENVELOPE
        + b"DATA\r\n"
        + b"x" * 120
        + b"\r\n.\r\n"
        + ENVELOPE
        + b"DATA\r\n"
        + b"y\r\n" * 100
        + b".\r\nQUIT\r\n",
        replace(CONFIG, limits=Limits(text_line=100, message_size=250)),
    ),
    "auth": Script(
        EHLO + b"AUTH PLAIN *\r\nAUTH LOGIN\r\n" + base64.b64encode(b"tim") + b"\r\n*\r\n"
        b"AUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
        b"AUTH PLAIN " + PLAIN + b"\r\nMAIL FROM:<a@b.example> AUTH=<>\r\nQUIT\r\n",
        AUTH_CONFIG,
    ),
    "starttls": Script(
        EHLO + b"MAIL FROM:<a@b.example>\r\nSTARTTLS\r\n",
        TLS_CONFIG,
        after_tls=b"MAIL FROM:<a@b.example>\r\n"
        + EHLO
        + b"AUTH PLAIN "
        + PLAIN
        + b"\r\n"
        + ENVELOPE
        + b"DATA\r\nhi\r\n.\r\nQUIT\r\n",
    ),
    "bdat": Script(
        EHLO
        + ENVELOPE
        + _bdat(b"Subject: binary\r\n\r")
        + _bdat(b"\n\x00\xff\r\n.\r\nQUIT\r\n")
        + b"DATA\r\n"
        + _bdat(b"", last=True)
        + ENVELOPE
        + b"BDAT 0 LAST\r\n"
        + ENVELOPE
        + _bdat(b"A: b\r\n\r\nc", last=True)
        + b"QUIT\r\n"
    ),
    "bdat over size": Script(
        EHLO
        + ENVELOPE
        + _bdat(b"1234567")
        + _bdat(b"89", last=True)
        + _bdat(b"QUIT\r\n")
        + b"NOOP\r\n",
        replace(CONFIG, limits=Limits(message_size=8)),
    ),
    "lmtp": Script(
        b"LHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<b@b.example>\r\nRCPT TO:<c@b.example>\r\n"
        b"DATA\r\nhi\r\n.\r\nEHLO x\r\nQUIT\r\n",
        replace(CONFIG, lmtp=True),
    ),
    "long lines": Script(
        EHLO
        + b"NOOP "
        + b"x" * 600
        + b"\r\n"
        + b"y" * 13000
        + b"\r\nNOOP\r\n"
        + b"z" * 17000
        + b"\r\nNOOP\r\n"
    ),
    "errors": Script(
        EHLO + b"RCPT TO:<a@b.example>\r\n" * 3 + b"XA\r\nXB\r\nNOOP\r\n",
        replace(CONFIG, limits=Limits(errors=3, unknown_commands=1)),
    ),
    # Shapes the fuzzer found: BDAT then DATA in one session past a tiny size limit, a
    # header block cut by an overlong line or by the size limit, a header block past its
    # own limit, and the smallest line limits.
    "bdat then data, tiny size": Script(
        EHLO
        + ENVELOPE
        + _bdat(b"A: b\r")
        + _bdat(b"\n\r\nbody", last=True)
        + ENVELOPE
        + b"DATA\r\nA: b\r\n\r\nbody\r\n.\r\n"
        + ENVELOPE
        + _bdat(b"xy", last=True)
        + b"QUIT\r\n",
        replace(CONFIG, limits=Limits(message_size=5)),
    ),
    "header block cut by a long line": Script(
        EHLO
        + ENVELOPE
        + b"DATA\r\nA: b\r\n"
        + b"X" * 1001
        + b"\r\n\n\r\nbody\r\n.\r\n"
        + ENVELOPE
        + b"DATA\r\n"
        + b"Y" * 1001
        + b"\r\n\r\n.\r\nQUIT\r\n"
    ),
    "header block cut by the size limit": Script(
        EHLO + ENVELOPE + b"DATA\r\nA: bcd\r\nE: f\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        replace(CONFIG, limits=Limits(message_size=9)),
    ),
    "header block past its limit": Script(
        EHLO
        + ENVELOPE
        + b"DATA\r\nA: bcd\r\nE: f\r\n\r\nbody\r\n.\r\n"
        + ENVELOPE
        + _bdat(b"A: bcd\r\nE: f\r")
        + _bdat(b"\n\r\nbody", last=True)
        + b"QUIT\r\n",
        replace(CONFIG, limits=Limits(header_block=5)),
    ),
    "tiny line limits": Script(
        EHLO
        + ENVELOPE
        + b"DATA\r\n\r\n.\r\n"
        + ENVELOPE
        + b"DATA\r\nab\r\n\r\n.\r\n"
        + ENVELOPE
        + b"DATA\r\n.\r\nQUIT\r\n",
        replace(CONFIG, limits=Limits(text_line=2, message_size=1)),
    ),
}
DECIDE: Final = answers({UnknownCommand: None})


def run(
    script: Script, cuts: list[int], tls_cuts: list[int] | None = None
) -> tuple[list[Event], bytes]:
    chunks = reads(script.data, cuts) + reads(script.after_tls, tls_cuts or [])
    return session(*chunks, config=script.config, decide=DECIDE, nonce=lambda: NONCE)


def assert_same(expected: tuple[list[Event], bytes], got: tuple[list[Event], bytes]) -> None:
    """The same bytes and events, also for refused content: what is streamed before a
    refusal (the lines before a bad one, the octets that fit the size) follows no read."""
    (events, out), (events2, out2) = expected, got
    assert out2 == out
    assert joined(events2) == joined(events)


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_one_byte_at_a_time(name: str) -> None:
    script = SCRIPTS[name]
    whole = run(script, [])
    assert_same(
        whole, run(script, list(range(len(script.data))), list(range(len(script.after_tls))))
    )


@given(
    name=st.sampled_from(list(SCRIPTS)),
    cuts=st.lists(st.integers(1, 20000), max_size=30),
    tls_cuts=st.lists(st.integers(1, 300), max_size=10),
)
def test_any_split(name: str, cuts: list[int], tls_cuts: list[int]) -> None:
    script = SCRIPTS[name]
    assert_same(run(script, []), run(script, cuts, tls_cuts))


@given(name=st.sampled_from(list(SCRIPTS)), data=st.data())
def test_splits_near_each_other(name: str, data: st.DataObject) -> None:
    """Cuts clustered in one place: the interesting boundaries are close together."""
    script = SCRIPTS[name]
    size = len(script.data)
    at = data.draw(st.integers(1, max(1, size - 1)))
    cuts = data.draw(st.lists(st.integers(max(1, at - 6), min(size, at + 6)), max_size=8))
    assert_same(run(script, []), run(script, cuts))
