"""TLS checks of a handshake that goes wrong (clear text or garbage where it belongs, a
client that leaves half-way) and of the EHLO the handshake makes the server forget."""

from __future__ import annotations

import re
import socket
import time

from conformance.checks.tls import GROUP, before_handshake, hello_for, read_answer
from conformance.client import Client, ConnectionClosed
from conformance.probe import Probe, expect
from conformance.tls_hello import LEGACY, MODERN, TLS12, client_hello
from conformance.verdict import CheckFailed, CheckSkipped, Level

_SMTP_REPLY = re.compile(rb"[2-5][0-9][0-9][ -]")
_ALERT = 21
_HANDSHAKE = 22  # the rest of the server's first flight may still be on its way
# Not a TLS record: content type 0 does not exist (RFC 8446 5.1), then arbitrary bytes.
GARBAGE = bytes([0, 0xFF, 0x03, 0x03, 0x40]) + bytes((i * 37 + 11) % 256 for i in range(91))


def read_until_closed(probe: Probe, client: Client) -> bytes:
    """Everything the server sends until it closes; fails when it stays open past the
    time-out or when what it sent is an SMTP reply in clear text."""
    data = b""
    deadline = time.monotonic() + probe.target.timeout
    while (more := client.receive(max(0.0, deadline - time.monotonic()))) != b"":
        if more is None:
            raise CheckFailed(f"connection still open {probe.target.timeout}s later")
        data += more
        if _SMTP_REPLY.match(data):
            raise CheckFailed(f"answered in clear text instead of TLS: {data[:80]!r}")
    if data and data[0] not in (_ALERT, _HANDSHAKE):
        raise CheckFailed(f"sent bytes that are no TLS record before closing: {data[:16]!r}")
    return data


@GROUP.check(
    "cleartext-after-220",
    "RFC 3207 4, 4.2",
    "SMTP commands sent where the handshake belongs get no clear-text reply; the server "
    "closes (a TLS alert first is fine)",
    level=Level.MUST,
    rule="once it agreed to TLS the server never falls back to clear-text SMTP",
)
def cleartext(probe: Probe) -> None:
    with before_handshake(probe) as client:
        client.send(f"EHLO {probe.target.helo}\r\nNOOP\r\n".encode())
        read_until_closed(probe, client)


@GROUP.check(
    "garbage-after-220",
    "RFC 8446 5, RFC 5246 6",
    "bytes that are no TLS record, sent where the handshake belongs, end the connection",
    level=Level.MUST,
    rule="a record of unknown type ends the TLS connection (with an alert)",
)
def garbage(probe: Probe) -> None:
    with before_handshake(probe) as client:
        client.send(GARBAGE)
        read_until_closed(probe, client)


@GROUP.check(
    "garbage-mid-handshake",
    "RFC 8446 5, RFC 5246 6",
    "bytes that are no TLS record, sent after the ServerHello, end the connection",
    level=Level.MUST,
    rule="a record of unknown type in the middle of the handshake ends the connection",
)
def garbage_mid(probe: Probe) -> None:
    with before_handshake(probe) as client:
        client.send(hello_for(probe, TLS12, MODERN + LEGACY))
        answer = read_answer(probe, client)
        if answer.kind != "hello":
            raise CheckSkipped(f"a hand-built TLS 1.2 ClientHello gets {answer.describe()}")
        try:
            client.send(GARBAGE)
        except ConnectionClosed:
            return  # the server had already ended the connection
        read_until_closed(probe, client)


@GROUP.check(
    "abort-mid-handshake",
    "RFC 5321 3.3",
    "after a client sends half a ClientHello and hangs up, a new TLS session works",
    level=Level.HARDENING,
    rule="a handshake the client abandons costs the server only that connection",
)
def abort(probe: Probe) -> None:
    hello = client_hello(TLS12, MODERN, server_name=probe.target.tls_name or probe.target.host)
    with before_handshake(probe) as client:
        client.send(hello[: len(hello) // 2])
        client.sock.shutdown(socket.SHUT_WR)
        probe.transcript.add("*", b"client hung up mid-handshake")
        # Wait for the server to close its end too: by then it has dealt with the abort.
        while client.receive():
            pass
    probe.secure()


@GROUP.check(
    "forgets-ehlo",
    "RFC 3207 4.2",
    "a server that wants EHLO before MAIL wants it again after STARTTLS",
    level=Level.MUST,
    rule="the handshake makes the server forget the EHLO given before it",
)
def forgets_ehlo(probe: Probe) -> None:
    if probe.target.tls_implicit:
        raise CheckSkipped("implicit TLS: no EHLO comes before the handshake")
    mail = f"MAIL FROM:<{probe.target.mail_from}>"
    code = probe.greeted().command(mail).code
    if code // 100 == 2 or code == 530:
        # Taken, or refused for want of TLS (RFC 3207 4): either way no sign that EHLO counts.
        raise CheckSkipped(f"MAIL before EHLO gets {code} in clear text, so it shows nothing")
    with before_handshake(probe) as client:
        client.starttls(probe.target.host)
        expect(client.command(mail), 5, what="MAIL before the EHLO under TLS")
