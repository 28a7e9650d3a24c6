"""RFC 3030 CHUNKING checks: BDAT chunks, LAST, no dot handling, ordering with DATA."""

from __future__ import annotations

from conformance.checks.rfc5321_data import marked
from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group
from conformance.store import expect_stored, snapshot
from conformance.verdict import CheckFailed, Level

GROUP = Group("rfc3030", "RFC 3030 CHUNKING")
NEEDS = ("CHUNKING",)


def bdat(chunk: bytes, last: bool = False) -> bytes:
    """A BDAT command line followed by its chunk."""
    return b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk


@GROUP.check(
    "bdat-last",
    "RFC 3030 2",
    "one BDAT LAST chunk gets 250",
    level=Level.MUST,
    rule="a single BDAT LAST chunk carries a whole message",
)
def bdat_last(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    client.send(bdat(MESSAGE, last=True))
    expect(client.reply(), 250)


@GROUP.check(
    "bdat-chunks",
    "RFC 3030 2",
    "each chunk gets 250; the LAST one ends the message",
    level=Level.MUST,
    rule="each BDAT chunk gets a reply; the LAST one ends the message",
)
def chunks(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    half = len(MESSAGE) // 2
    client.send(bdat(MESSAGE[:half]))
    expect(client.reply(), 250, what="first chunk")
    client.send(bdat(MESSAGE[half:], last=True))
    expect(client.reply(), 250, what="last chunk")


@GROUP.check(
    "bdat-zero-last",
    "RFC 3030 2",
    "BDAT 0 LAST may end the message",
    level=Level.MUST,
    rule="BDAT 0 LAST may end a message",
)
def zero_last(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    client.send(bdat(MESSAGE))
    expect(client.reply(), 250, what="chunk")
    client.send(bdat(b"", last=True))
    expect(client.reply(), 250, what="BDAT 0 LAST")


@GROUP.check(
    "bdat-without-rcpt",
    "RFC 3030 2, RFC 5321 4.1.4",
    "BDAT with no recipient is refused and its chunk still consumed",
    level=Level.MUST,
    rule="a refused BDAT still has its chunk read and discarded",
)
def without_rcpt(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.mail()
    client.send(bdat(b"XYZZY chunk content\r\n", last=True))
    expect(client.reply(), 503, 554, what="BDAT without RCPT")
    # RFC 3030 2: the receiver MUST accept and discard the chunk before replying.
    expect(client.command("NOOP"), 250, what="NOOP after the refused chunk")


@GROUP.check(
    "data-after-bdat",
    "RFC 3030 2",
    "DATA after a BDAT chunk gets 503",
    level=Level.MUST,
    rule="DATA and BDAT may not be mixed in one transaction: 503",
)
def data_after(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    client.send(bdat(MESSAGE))
    expect(client.reply(), 250, what="chunk")
    expect(client.command("DATA"), 503)


@GROUP.check(
    "bdat-after-last",
    "RFC 3030 2",
    "BDAT after BDAT LAST gets 503",
    level=Level.MUST,
    rule="BDAT after BDAT LAST is out of order: 503",
)
def after_last(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.rcpt()
    client.send(bdat(MESSAGE, last=True))
    expect(client.reply(), 250, what="last chunk")
    client.send(bdat(b"more\r\n"))
    expect(client.reply(), 503)


GROUP.script(
    "bdat-bad-size",
    "RFC 3030 3",
    "BDAT with a non-numeric size is refused (5xx)",
    "rcpt",
    # Any 5xx: the chunk's end is unknown, so a server may also close (Postfix sends 521).
    ("BDAT abc LAST", (5,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="a BDAT whose size is not a number is refused (5xx)",
)


@GROUP.check(
    "pipelined-chunks",
    "RFC 3030 4.2",
    "three chunks in one write get three 250s",
    level=Level.MUST,
    rule="pipelined BDAT chunks each get their reply",
)
def pipelined(probe: Probe) -> None:
    probe.require(*NEEDS, "PIPELINING")
    client = probe.rcpt()
    third = len(MESSAGE) // 3
    parts = (MESSAGE[:third], MESSAGE[third : 2 * third], MESSAGE[2 * third :])
    client.send(bdat(parts[0]) + bdat(parts[1]) + bdat(parts[2], last=True))
    for i in range(3):
        expect(client.reply(), 250, what=f"chunk {i + 1}")


@GROUP.check(
    "no-dot-handling",
    "RFC 3030 2",
    "chunk bytes are stored as sent: no dot-unstuffing, CRLF.CRLF is not an end",
    level=Level.MUST,
    rule="chunk content is taken as sent: no dot-unstuffing, no end-of-data search",
)
def no_dots(probe: Probe) -> None:
    probe.require(*NEEDS)
    root = probe.maildir()
    before = snapshot(root)
    body, marker = marked(b"..two dots stay\r\n.\r\nafter the dot line\r\n")
    client = probe.rcpt()
    client.send(bdat(body, last=True))
    expect(client.reply(), 250)
    (stored,) = expect_stored(root, before, 1, probe.target.store_wait, marker)
    if marker not in stored or b"\n..two dots stay\n.\nafter the dot line\n" not in stored:
        raise CheckFailed("stored message differs from the chunk sent")
