"""SMTP smuggling checks: only CRLF.CRLF ends DATA, only CRLF ends a command line.

Each end-of-data variant is followed by a smuggled MAIL/RCPT/DATA sequence and a real
CRLF.CRLF; a server that ends the message at the variant answers the smuggled commands.
"""

from __future__ import annotations

from conformance.checks.rfc5321_data import marked
from conformance.client import Client, Reply
from conformance.probe import Probe, expect
from conformance.registry import Group, Speaks
from conformance.store import expect_stored, snapshot
from conformance.verdict import CheckFailed, Level

GROUP = Group("smuggling", "SMTP smuggling (bare CR / bare LF)", speaks=Speaks.BOTH)
RFC = "RFC 5321 2.3.8, 4.1.1.4"
# RFC 5321 2.3.8: "Conforming implementations MUST NOT recognize or generate any other
# character or character sequence as a line terminator."
DATA_RULE = "only CRLF ends a line, so only CRLF.CRLF ends the data"
SMUGGLED = (
    b"MAIL FROM:<smuggled@example.test>\r\n"
    b"RCPT TO:<rcpt@example.test>\r\n"
    b"DATA\r\n"
    b"Subject: smuggled\r\n"
    b"\r\n"
    b"smuggled body\r\n"
)
VARIANTS: tuple[tuple[str, bytes], ...] = (
    ("lf-dot-lf", b"\n.\n"),
    ("lf-dot-crlf", b"\n.\r\n"),
    ("crlf-dot-lf", b"\r\n.\n"),
    ("lf-dot-cr", b"\n.\r"),
    ("cr-dot-cr", b"\r.\r"),
    ("cr-dot-crlf", b"\r.\r\n"),
    ("cr-dot-lf", b"\r.\n"),
    ("crlf-dot-cr", b"\r\n.\r"),
    ("crlf-dot-cr-crlf", b"\r\n.\r\r\n"),
    ("crlf-dot-space-crlf", b"\r\n. \r\n"),
    ("crlf-dot-nul-crlf", b"\r\n.\x00\r\n"),
)


def after_message(client: Client) -> tuple[Reply, list[Reply]]:
    """The end-of-data reply, then QUIT and every reply up to the close."""
    first = expect(client.reply(), 2, 4, 5, what="end of data")
    if client.eof:
        return first, []
    try:
        client.send(b"QUIT\r\n")
    except CheckFailed:
        return first, []  # closed after refusing the message: nothing was smuggled
    return first, client.wait_closed()


def _variant_check(name: str, ending: bytes) -> None:
    title = f"{ending!r} inside DATA does not end the message"

    @GROUP.check(f"data-{name}", RFC, title, level=Level.MUST, rule=DATA_RULE)
    def run(probe: Probe) -> None:
        root = probe.maildir() if probe.target.maildir else None
        before = snapshot(root) if root else set()
        body, marker = marked(b"body line")
        client = probe.rcpt()
        expect(client.command("DATA"), 354)
        # The marker in the smuggled message too, so a copy stored on its own is counted.
        smuggled = SMUGGLED.replace(b"Subject: smuggled", b"Subject: smuggled " + marker)
        client.send(body + ending + smuggled + b".\r\n")
        first, rest = after_message(client)
        extra = rest[:-1] if rest and rest[-1].code == 221 else rest
        if extra:
            raise CheckFailed(f"smuggled commands were answered: {[str(r) for r in extra]}")
        if root is not None:
            accepted = first.code == 250
            wait = probe.target.store_wait if accepted else 1.0
            stored = expect_stored(root, before, 1 if accepted else 0, wait, marker)
            if stored and b"smuggled@example.test" not in stored[0]:
                raise CheckFailed("stored message lacks the smuggled text as content")


for _name, _ending in VARIANTS:
    _variant_check(_name, _ending)


def _command_check(name: str, separator: bytes) -> None:
    @GROUP.check(
        name,
        "RFC 5321 2.3.8",
        f"{separator!r} inside a command line does not end the command",
        level=Level.MUST,
        rule="only CRLF ends a command line",
    )
    def run(probe: Probe) -> None:
        client = probe.ready()
        client.send(b"NOOP" + separator + b"QUIT\r\n")
        expect(client.reply(), 250, 5, what="the one command line")
        # Had the server split the line, QUIT would have got 221 and closed the session.
        expect(client.command("NOOP"), 250, what="NOOP after it")


_command_check("command-bare-lf", b"\n")
_command_check("command-bare-cr", b"\r")
