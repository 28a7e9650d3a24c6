"""RFC 5321 DATA checks: 354 and 250, dot transparency, line-length minimums, reset after data."""

from __future__ import annotations

import uuid

from conformance.checks.rfc5321_session import GROUP
from conformance.probe import MESSAGE, Probe, expect
from conformance.store import expect_stored, snapshot
from conformance.verdict import CheckFailed, CheckSkipped, Level


def marked(body: bytes) -> tuple[bytes, bytes]:
    """A message with a unique Subject marker, and that marker."""
    marker = uuid.uuid4().hex.encode()
    head = b"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: " + marker
    return head + b"\r\n\r\n" + body, marker


@GROUP.check(
    "data",
    "RFC 5321 4.1.1.4",
    "DATA gets 354, the message and CRLF.CRLF get 250",
    level=Level.MUST,
    rule="DATA gets 354; the data ended by CRLF.CRLF gets 250",
)
def data(probe: Probe) -> None:
    expect(probe.deliver(probe.rcpt()), 250, what="end of data")


@GROUP.check(
    "data-resets-transaction",
    "RFC 5321 4.1.1.4",
    "after end of data the transaction is over: RCPT gets 503",
    level=Level.MUST,
    rule="the end of data closes the transaction: a RCPT after it is out of order",
)
def data_resets(probe: Probe) -> None:
    client = probe.rcpt()
    expect(probe.deliver(client), 250, what="end of data")
    expect(client.command("RCPT TO:<rcpt@example.test>"), 503)


@GROUP.check(
    "two-transactions",
    "RFC 5321 3.3",
    "two transactions in one session both get 250",
    level=Level.MUST,
    rule="a session may hold several transactions",
)
def two_transactions(probe: Probe) -> None:
    client = probe.rcpt()
    expect(probe.deliver(client), 250, what="first end of data")
    probe.rcpt(client=client)
    expect(probe.deliver(client), 250, what="second end of data")
    probe.quit(client)


@GROUP.check(
    "data-argument",
    "RFC 5321 4.1.1.4",
    'DATA with a parameter gets 501 (data = "DATA" CRLF)',
    level=Level.MAY,
    rule="the server may refuse DATA with an argument (the grammar has none)",
)
def data_argument(probe: Probe) -> None:
    client = probe.rcpt()
    reply = client.command("DATA now")
    if reply.code == 354:
        client.send(b".\r\n")
        client.reply()
    expect(reply, 501, 500)


@GROUP.check(
    "dot-transparency",
    "RFC 5321 4.5.2",
    "leading dots are removed from stuffed lines before storing",
    level=Level.MUST,
    rule="a leading dot is removed from each line of the data before storing",
)
def dot_transparency(probe: Probe) -> None:
    root = probe.maildir()
    before = snapshot(root)
    body, marker = marked(b"..leading dot\r\n..\r\n...\r\n.. x\r\nend\r\n")
    client = probe.rcpt()
    expect(probe.deliver(client, body), 250, what="end of data")
    (stored,) = expect_stored(root, before, 1, probe.target.store_wait, marker)
    if marker not in stored:
        raise CheckFailed("the stored message is not the one sent")
    for line in (b"\n.leading dot\n", b"\n.\n", b"\n..\n", b"\n. x\n"):
        if line not in stored:
            raise CheckFailed(f"stored message lacks unstuffed line {line!r}")


@GROUP.check(
    "data-lone-dot-line",
    "RFC 5321 4.5.2",
    "a stuffed '..' line does not end the data",
    level=Level.MUST,
    rule="only a line holding a single dot ends the data",
)
def lone_dot(probe: Probe) -> None:
    client = probe.rcpt()
    expect(probe.deliver(client, MESSAGE + b"..\r\nmore text\r\n"), 250, what="end of data")
    expect(client.command("NOOP"), 250)


@GROUP.check(
    "text-line-1000",
    "RFC 5321 4.5.3.1.6",
    "a 1000-octet text line (with CRLF) is accepted",
    level=Level.MUST,
    rule="servers must receive text lines of at least 1000 octets with CRLF",
)
def text_line(probe: Probe) -> None:
    client = probe.rcpt()
    expect(probe.deliver(client, MESSAGE + b"x" * 998 + b"\r\n"), 250, what="end of data")


@GROUP.check(
    "command-line-512",
    "RFC 5321 4.5.3.1.4",
    "a 512-octet command line is accepted",
    level=Level.MUST,
    rule="servers must receive command lines of at least 512 octets with CRLF",
)
def command_line(probe: Probe) -> None:
    client = probe.ready()
    # NOOP's argument carries the length; a server may refuse any argument (a SHOULD,
    # rfc5321.noop-argument), and then the length cannot be told apart from it.
    if client.command("NOOP x").code != 250:
        raise CheckSkipped("NOOP with an argument is refused, so the long line cannot be sent")
    line = b"NOOP " + b"x" * (512 - len(b"NOOP \r\n"))
    expect(client.command(line), 250)


@GROUP.check(
    "data-empty-body",
    "RFC 5321 4.1.1.4",
    "a message of headers only is accepted",
    level=Level.MUST,
    rule="a message of headers only is valid content",
)
def headers_only(probe: Probe) -> None:
    client = probe.rcpt()
    head = b"From: <sender@example.test>\r\nSubject: headers only\r\n"
    expect(probe.deliver(client, head), 250, what="end of data")


@GROUP.check(
    "data-empty-message",
    "RFC 5321 4.1.1.4",
    "'.' CRLF right after 354 ends an empty message: the server answers it",
    level=Level.MUST,
    rule="'.' right after 354 is an end of data the server answers",
)
def empty_message(probe: Probe) -> None:
    client = probe.rcpt()
    expect(client.command("DATA"), 354)
    # The CRLF of the DATA line is the first CRLF of CRLF.CRLF.
    expect(client.command("."), 2, 4, 5, what="end of an empty message")
    expect(client.command("NOOP"), 250, what="NOOP after the message")
