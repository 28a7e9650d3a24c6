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


def _transactions(count: int, rcpts: int) -> tuple[bytes, list[tuple[int, ...]]]:
    """`count` groups of MAIL, `rcpts` RCPTs and RSET, and the codes they must get.

    No NOOPs: Postfix counts NOOP and RSET as junk past 100 (smtpd_junk_command_limit)."""
    group = MAIL + RCPT * rcpts + b"RSET\r\n"
    codes = [(250,), *[(250, 251)] * rcpts, (250,)] * count
    return group * count, codes


@GROUP.check(
    "long-batch",
    "RFC 2920 3.2 (1), (9)",
    "1,000 commands in one write, none read before the last is sent: 1,000 replies in order",
    level=Level.MUST,
    rule="a server never loses pipelined input: every command of a long batch gets its reply",
)
def long_batch(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    data, codes = _transactions(10, 98)  # about 30 kB: within any socket buffer
    batch(client, data, *codes)


@GROUP.check(
    "long-batch-windowed",
    "RFC 2920 3.1, 3.2 (1), (9)",
    "10,000 commands sent 500 at a time, replies read as they come: all answered in order",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order, however many are sent",
)
def long_batch_windowed(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    data, codes = _transactions(50, 198)
    lines = data.splitlines(keepends=True)
    # A nonblocking client in one thread (RFC 2920 3.1): at most two windows unanswered.
    window, answered = 500, 0
    for start in range(0, len(lines), window):
        client.send(b"".join(lines[start : start + window]))
        while answered < start:
            expect(client.reply(), *codes[answered], what=f"reply {answered + 1}")
            answered += 1
    for i in range(answered, len(codes)):
        expect(client.reply(), *codes[i], what=f"reply {i + 1} of {len(codes)}")


@GROUP.check(
    "flush-bufferable",
    "RFC 2920 3.2 (7)",
    "RSET, MAIL, RCPT in one write and nothing after: all three replies arrive",
    level=Level.MUST,
    rule="pending replies are sent as soon as the input is used up, not held for more",
)
def flush_bufferable(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    batch(client, b"RSET\r\n" + MAIL + RCPT, (250,), (250,), (250, 251))


@GROUP.check(
    "flush-before-partial-line",
    "RFC 2920 3.2 (7), (8)",
    "MAIL, RCPT and half a RCPT: two replies before the rest of the line is sent",
    level=Level.MUST,
    rule="pending replies are sent when the input is used up, even inside a line",
)
def flush_partial(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    half = len(RCPT) // 2
    batch(client, MAIL + RCPT + RCPT[:half], (250,), (250, 251))
    batch(client, RCPT[half:], (250, 251))
