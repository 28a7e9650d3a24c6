"""Robustness checks: overlong and endless lines, NUL and 8-bit bytes, floods, aborted sessions.

A robust server answers with a clear 5xx (or 421 and a close), never hangs, never crashes.
"""

from __future__ import annotations

import socket

from conformance.checks.rfc5321_data import marked
from conformance.client import Client, ConnectionClosed
from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group, Speaks
from conformance.store import expect_stored, snapshot, stored_since
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("robustness", "Robustness against hostile or broken clients", speaks=Speaks.BOTH)
ENDLESS = 1024 * 1024


def refused_then_usable(client: Client, line: bytes, *codes: int) -> None:
    """`line` gets one of `codes`, then the session still answers NOOP with 250."""
    expect(client.command(line), *codes, what=repr(line[:40])[2:-1])
    expect(client.command("NOOP"), 250, what="NOOP afterwards")


def _refusal(
    name: str,
    rfc: str,
    title: str,
    line: bytes,
    *codes: int,
    level: Level = Level.MUST,
    rule: str,
    defence: bool = False,
) -> None:
    """A check that `line` gets one of `codes` and the session goes on. With `defence`, a
    reply that is no 2xx but 221, followed by a close, also passes: RFC 5321 7.8 lets a
    server drop a client that sends what no SMTP client sends (Postfix does so by default)."""

    @GROUP.check(name, rfc, title, level=level, rule=rule)
    def run(probe: Probe) -> None:
        client = probe.ready()
        if not defence:
            refused_then_usable(client, line, *codes)
            return
        reply = client.command(line)
        if any(reply.code == c or reply.code // 100 == c for c in codes):
            expect(client.command("NOOP"), 250, what="NOOP afterwards")
            return
        expect(reply, 221, 421, 5, what=repr(line[:40])[2:-1])
        client.wait_closed()  # refused and dropped: the defence RFC 5321 7.8 allows


_refusal(
    "overlong-command",
    "RFC 5321 4.5.3.1.4, 4.5.3.1.9",
    "a 10,000-octet command line gets 500 and the session goes on",
    b"NOOP " + b"x" * 9993,
    500,
    501,
    level=Level.HARDENING,
    rule="a command line far past 512 octets is refused, not cut short and run",
)
_refusal(
    "overlong-path",
    "RFC 5321 4.5.3.1.3, 4.5.3.1.9",
    "a 2,000-octet reverse-path gets 501 (or 500/553) and the session goes on",
    b"MAIL FROM:<" + b"p" * 1980 + b"@example.test>",
    500,
    501,
    553,
    level=Level.HARDENING,
    rule="a path far past 256 octets is refused, not taken",
)
_refusal(
    "nul-in-verb",
    "RFC 5321 4.1.1, 2.3.8",
    "a NUL inside a verb gets a 5xx and the session goes on",
    b"NO\x00OP",
    5,
    rule="an unrecognised command gets 500 and the session goes on",
)
_refusal(
    "nul-in-address",
    "RFC 5321 4.1.2",
    "a NUL inside an address gets a 5xx and the session goes on",
    b"MAIL FROM:<sen\x00der@example.test>",
    5,
    rule="a command with invalid characters (here NUL) is refused with 501",
)
_refusal(
    "8bit-verb",
    "RFC 5321 4.1.1, 2.4, 7.8",
    "an 8-bit verb gets 500 (or 502) and the session goes on, or is refused and dropped",
    "ÉHLO c.example".encode(),
    500,
    502,
    rule="a verb of 8-bit bytes is never run: 500, or a close against a non-SMTP client",
    defence=True,
)
_refusal(
    "invalid-utf8-address",
    "RFC 5321 4.1.2, RFC 6531 3.3",
    "an address with invalid UTF-8 gets a 5xx and the session goes on",
    b"MAIL FROM:<\xff\xfe@example.test>",
    5,
    rule="a command with invalid characters (here bytes that are not UTF-8) is refused",
)
_refusal(
    "empty-line",
    "RFC 5321 4.1.1",
    "an empty command line gets 500 (or 501/502)",
    b"",
    500,
    501,
    502,
    rule="an empty line is no command: 500, and the session goes on",
)
_refusal(
    "binary-garbage",
    "RFC 5321 4.2.4, 7.8",
    "a line of binary garbage gets a 5xx and the session goes on, or is refused and dropped",
    bytes(b for b in range(256) if b not in (10, 13)),
    5,
    rule="binary garbage is never run: 5xx, or a close against a non-SMTP client",
    defence=True,
)


def send_until_blocked(client: Client, data: bytes, chunk: int = 16384) -> int:
    """Send `data` in chunks until done or the server stops reading; returns octets sent."""
    client.transcript.add("C", data[:64] + b"... (up to %d octets)" % len(data))
    sent = 0
    client.sock.settimeout(1.0)
    try:
        while sent < len(data):
            sent += client.sock.send(data[sent : sent + chunk])
    except OSError:  # a full window or a closed socket: the server stopped reading
        pass
    client.transcript.add("*", b"%d octets sent" % sent)
    return sent


@GROUP.check(
    "endless-line",
    "RFC 5321 4.5.3.1.4, 4.5.3.1.9",
    "1 MiB with no line end: the server answers (5xx/421) or closes, it does not hang",
    level=Level.HARDENING,
    rule="a line with no end is refused or the connection closed, not buffered without bound",
)
def endless_line(probe: Probe) -> None:
    client = probe.ready()
    send_until_blocked(client, b"NOOP " + b"y" * ENDLESS)
    try:
        reply = client.poll(probe.target.timeout)
    except CheckFailed:
        return  # closed: the server refused to buffer an endless line
    if reply is None:
        raise CheckFailed(f"no reply and no close within {probe.target.timeout}s")
    expect(reply, 5, 4)


def flood(client: Client, line: bytes, count: int) -> None:
    """Send `line` up to `count` times; each reply must be 5xx, or a 421 and then a close."""
    for i in range(count):
        try:
            reply = client.command(line)
        except ConnectionClosed as err:
            raise CheckFailed(f"closed without a 421 after {i} commands (RFC 5321 3.8)") from err
        if reply.code == 421:
            client.wait_closed()
            return
        expect(reply, 5, what=f"flooded command {i + 1}")


@GROUP.check(
    "unknown-command-flood",
    "RFC 5321 4.2.4, 3.8",
    "100 unknown commands: every reply is 5xx, or the server ends with 421 and closes",
    level=Level.HARDENING,
    rule="a flood of unknown commands gets 5xx each, or 421 and a close",
)
def unknown_flood(probe: Probe) -> None:
    flood(probe.ready(), b"XYZZY", 100)


@GROUP.check(
    "bad-sequence-flood",
    "RFC 5321 4.1.4, 3.8",
    "100 out-of-order RCPTs: every reply is 5xx, or the server ends with 421 and closes",
    level=Level.HARDENING,
    rule="a flood of out-of-order commands gets 5xx each, or 421 and a close",
)
def sequence_flood(probe: Probe) -> None:
    flood(probe.ready(), b"RCPT TO:<rcpt@example.test>", 100)


@GROUP.check(
    "connection-flood",
    "RFC 5321 3.1, 3.8",
    "many connections at once: each is greeted with 220, or refused with 421/554",
    level=Level.HARDENING,
    rule="many connections at once are each greeted or refused, none hangs",
)
def connection_flood(probe: Probe) -> None:
    clients = [probe.connect() for _ in range(probe.target.flood)]
    for i, client in enumerate(clients):
        reply = expect(client.reply(), 220, 421, 554, what=f"connection {i + 1}")
        if reply.code == 220:
            # A server may hold greetings until a slot frees: end each greeted session.
            expect(client.command("QUIT"), 221, what=f"QUIT on connection {i + 1}")
        client.wait_closed()


@GROUP.check(
    "abort-in-data",
    "RFC 5321 4.1.1.10",
    "a connection dropped inside DATA stores nothing and leaves the server working",
    level=Level.MUST,
    rule="a connection lost inside DATA cancels that transaction",
)
def abort_in_data(probe: Probe) -> None:
    root = probe.maildir() if probe.target.maildir else None
    before = snapshot(root) if root else set()
    client = probe.rcpt()
    expect(client.command("DATA"), 354)
    body, unfinished = marked(b"this message is never finished\r\n")
    client.send(body)
    client.sock.shutdown(socket.SHUT_RDWR)
    client.close()
    fresh = probe.rcpt()
    finished, marker = marked(b"this one is finished\r\n")
    expect(probe.deliver(fresh, finished), 250, what="the next transaction")
    if root is not None:
        # Once the finished message is stored, the unfinished one would be there too.
        expect_stored(root, before, 1, probe.target.store_wait, marker)
        if stored_since(root, before, 1, 0.0, unfinished):
            raise CheckFailed("the message cut off inside DATA was stored")


@GROUP.check(
    "tls-garbage",
    "RFC 3207 4",
    "plaintext instead of a TLS handshake after 220: no plaintext reply, server still works",
    level=Level.HARDENING,
    rule="plaintext sent instead of a TLS handshake is never answered in plaintext",
)
def tls_garbage(probe: Probe) -> None:
    if probe.target.tls_implicit or "STARTTLS" not in probe.caps.plain:
        raise CheckSkipped("STARTTLS not offered in clear text")
    client = probe.greeted()
    probe.ehlo(client)
    expect(client.command("STARTTLS"), 220)
    client.send(b"NOOP\r\nNOOP\r\n")
    try:
        reply = client.poll(probe.target.quiet)
    except CheckFailed:
        reply = None  # the server closed: fine
    if reply is not None:
        raise CheckFailed(f"plaintext answered after 220 to STARTTLS: {reply}")
    client.close()
    expect(probe.deliver(probe.rcpt(), MESSAGE), 250, what="a new session afterwards")
