"""RFC 2920 PIPELINING checks: commands sent in one write get their replies, in order."""

from __future__ import annotations

from conformance.client import Client
from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group
from conformance.verdict import Level

GROUP = Group("rfc2920", "RFC 2920 PIPELINING")
NEEDS = ("PIPELINING",)
MAIL = b"MAIL FROM:<sender@example.test>\r\n"
RCPT = b"RCPT TO:<rcpt@example.test>\r\n"


def batch(client: Client, data: bytes, *codes: tuple[int, ...]) -> None:
    """Send `data` in one write, then expect one reply per entry of `codes`, in order."""
    client.send(data)
    for i, allowed in enumerate(codes, 1):
        expect(client.reply(), *allowed, what=f"reply {i} of {len(codes)}")


@GROUP.check(
    "transaction",
    "RFC 2920 3.1",
    "MAIL, RCPT, DATA in one write: 250, 250, 354",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order",
)
def transaction(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    batch(client, MAIL + RCPT + b"DATA\r\n", (250,), (250, 251), (354,))
    client.send(MESSAGE + b".\r\n")
    expect(client.reply(), 250, what="end of data")


@GROUP.check(
    "many-recipients",
    "RFC 2920 3.1",
    "RSET, MAIL, 5 RCPT, DATA in one write",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order",
)
def many(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    rcpts = b"".join(b"RCPT TO:<r%d@example.test>\r\n" % i for i in range(5))
    codes = [(250,), (250,), *[(250, 251)] * 5, (354,)]
    batch(client, b"RSET\r\n" + MAIL + rcpts + b"DATA\r\n", *codes)
    client.send(MESSAGE + b".\r\n")
    expect(client.reply(), 250, what="end of data")


@GROUP.check(
    "rejected-rcpt",
    "RFC 2920 3.1",
    "a bad RCPT in a batch fails alone; DATA goes on",
    level=Level.MUST,
    rule="a failed command in a batch fails alone; the rest are processed",
)
def rejected_rcpt(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    data = MAIL + b"RCPT TO:\r\n" + RCPT + b"DATA\r\n"
    batch(client, data, (250,), (501, 500, 553), (250, 251), (354,))
    client.send(MESSAGE + b".\r\n")
    expect(client.reply(), 250, what="end of data")


@GROUP.check(
    "no-valid-rcpt",
    "RFC 2920 3.1",
    "DATA after only failed RCPTs gets 503 or 554, not 354",
    level=Level.SHOULD,
    rule="DATA gets a positive reply only if a recipient was accepted (RFC 2920 3.1 (3))",
)
def no_valid_rcpt(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    data = MAIL + b"RCPT TO:\r\nDATA\r\n"
    batch(client, data, (250,), (501, 500, 553), (503, 554))
    expect(client.command("NOOP"), 250, what="NOOP after the batch")


@GROUP.check(
    "noop-burst",
    "RFC 2920 3.1",
    "50 NOOPs in one write get 50 replies of 250",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order",
)
def noop_burst(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    batch(client, b"NOOP\r\n" * 50, *[(250,)] * 50)


@GROUP.check(
    "after-end-of-data",
    "RFC 2920 3.1",
    "end of data, MAIL, RCPT, DATA in one write: 250, 250, 250, 354",
    level=Level.MUST,
    rule="commands sent right after the end of data are processed in order",
)
def after_data(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    expect(client.command("DATA"), 354)
    data = MESSAGE + b".\r\n" + MAIL + RCPT + b"DATA\r\n"
    batch(client, data, (250,), (250,), (250, 251), (354,))
    client.send(MESSAGE + b".\r\n")
    expect(client.reply(), 250, what="second end of data")


@GROUP.check(
    "quit-last",
    "RFC 2920 3.1",
    "NOOP, RSET, QUIT in one write: 250, 250, 221, close",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order, QUIT last",
)
def quit_last(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    batch(client, b"NOOP\r\nRSET\r\nQUIT\r\n", (250,), (250,), (221,))
    client.wait_closed()
