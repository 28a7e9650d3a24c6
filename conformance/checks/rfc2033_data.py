"""RFC 2033 LMTP checks after the data: one reply per successful RCPT, for DATA and BDAT
LAST, pipelined or not, and the message stored.

After the replies a RCPT is sent, which must get 503 (no transaction is open): a reply left
over from the data would come first and fail the check.
"""

from __future__ import annotations

from conformance.checks.rfc2033 import GROUP, MAIL
from conformance.checks.rfc2034 import judge
from conformance.checks.rfc3030 import bdat
from conformance.checks.rfc5321_data import marked
from conformance.client import Client, NoReply, Reply
from conformance.probe import MESSAGE, Probe, expect
from conformance.store import snapshot, stored_since
from conformance.verdict import CheckFailed, Level

RULE = "after the data, one reply for each successful RCPT, in RCPT order, and no more"
SECTION = "RFC 2033 4.2"


def rcpts(count: int) -> list[str]:
    """`count` distinct recipient lines."""
    return [f"RCPT TO:<r{i}@example.test>" for i in range(count)]


def open_transaction(probe: Probe, lines: list[str]) -> Client:
    """A session with MAIL accepted and each RCPT line sent, expecting 250 or 251."""
    client = probe.mail()
    for line in lines:
        expect(client.command(line), 250, 251, what=line)
    return client


def per_rcpt(client: Client, count: int, what: str = "the data") -> list[Reply]:
    """The `count` replies to the end of the data, each 2xx, 4xx or 5xx, then a RCPT that
    must get 503: a reply more would be read in its place."""
    replies: list[Reply] = []
    for i in range(1, count + 1):
        try:
            reply = client.reply()
        except NoReply as err:
            raise CheckFailed(f"reply {i} of {count} to {what}: {err}") from err
        replies.append(expect(reply, 2, 4, 5, what=f"reply {i} of {count} to {what}"))
    after = client.command("RCPT TO:<after@example.test>")
    expect(after, 503, what=f"RCPT after {count} replies to {what} (a reply too many?)")
    return replies


def deliver(client: Client, count: int, content: bytes = MESSAGE) -> list[Reply]:
    """DATA, the content, and its `count` replies (see `per_rcpt`)."""
    expect(client.command("DATA"), 354, what="DATA")
    client.send(content + b".\r\n")
    return per_rcpt(client, count)


def _count(name: str, count: int, title: str) -> None:
    def run(probe: Probe) -> None:
        deliver(open_transaction(probe, rcpts(count)), count)

    GROUP.check(name, SECTION, title, level=Level.MUST, rule=RULE)(run)


_count("one-rcpt", 1, "one RCPT: one reply after the data")
_count("five-rcpts", 5, "five RCPTs: five replies after the data")


@GROUP.check(
    "duplicate-rcpt",
    SECTION,
    "the same RCPT twice: two replies after the data",
    level=Level.MUST,
    rule="one reply for each successful RCPT, even for the same forward-path twice",
)
def duplicate_rcpt(probe: Probe) -> None:
    line = f"RCPT TO:<{probe.target.rcpt_to}>"
    deliver(open_transaction(probe, [line, line]), 2)


@GROUP.check(
    "refused-rcpt-no-reply",
    SECTION,
    "RCPT, a refused RCPT, RCPT: two replies after the data",
    level=Level.MUST,
    rule="only successful RCPTs get a reply after the data",
)
def refused_rcpt(probe: Probe) -> None:
    client = open_transaction(probe, rcpts(1))
    expect(client.command("RCPT TO:"), 501, 500, 553, what="RCPT TO: with no address")
    expect(client.command("RCPT TO:<r1@example.test>"), 250, 251, what="RCPT")
    deliver(client, 2)


@GROUP.check(
    "rset-clears-rcpts",
    SECTION,
    "two RCPTs, RSET, MAIL, one RCPT: one reply after the data",
    level=Level.MUST,
    rule="the replies count the RCPTs of this transaction only: RSET forgets earlier ones",
)
def rset_clears(probe: Probe) -> None:
    client = open_transaction(probe, rcpts(2))
    expect(client.command("RSET"), 250, what="RSET")
    expect(client.command(MAIL), 250, what="MAIL after RSET")
    expect(client.command("RCPT TO:<again@example.test>"), 250, 251, what="RCPT after RSET")
    deliver(client, 1)


@GROUP.check(
    "reply-enhanced-codes",
    "RFC 2033 4.2, 5, RFC 2034 3",
    "each reply after the data carries an enhanced code of its own class",
    level=Level.MUST,
    rule="every per-recipient reply carries an enhanced status code matching its class",
    needs=("ENHANCEDSTATUSCODES",),
)
def enhanced(probe: Probe) -> None:
    for reply in deliver(open_transaction(probe, rcpts(3)), 3):
        judge(reply)


@GROUP.check(
    "bdat-last",
    "RFC 2033 4.3",
    "two RCPTs, BDAT, BDAT LAST: one reply to the chunk, two to LAST",
    level=Level.MUST,
    rule="BDAT LAST gets one reply per successful RCPT; other BDATs exactly one",
    needs=("CHUNKING",),
)
def bdat_last(probe: Probe) -> None:
    client = open_transaction(probe, rcpts(2))
    half = len(MESSAGE) // 2
    client.send(bdat(MESSAGE[:half]))
    expect(client.reply(), 250, what="BDAT (not LAST)")
    client.send(bdat(MESSAGE[half:], last=True))
    per_rcpt(client, 2, "BDAT LAST")


@GROUP.check(
    "bdat-last-no-rcpt",
    "RFC 2033 4.3",
    "MAIL, a refused RCPT, BDAT LAST: no reply to the BDAT; NOOP's 250 comes next",
    level=Level.MUST,
    rule="BDAT LAST with no successful RCPT gets zero replies, and the message is over",
    needs=("CHUNKING",),
)
def bdat_last_no_rcpt(probe: Probe) -> None:
    client = open_transaction(probe, [])
    expect(client.command("RCPT TO:"), 501, 500, 553, what="RCPT TO: with no address")
    client.send(bdat(MESSAGE, last=True))
    # A 503 (SMTP's answer) or a 250 to the BDAT would be read here in NOOP's place.
    expect(client.command("NOOP"), 250, what="NOOP after BDAT LAST (its reply must be the first)")
    expect(client.command("RCPT TO:<after@example.test>"), 503, what="RCPT after the message")


@GROUP.check(
    "pipelined-transaction",
    "RFC 2033 4.2, 5, RFC 2920 3.1",
    "MAIL, RCPT, RCPT, DATA in one write: 250, 250, 250, 354; then two replies",
    level=Level.MUST,
    rule="pipelined commands each get their reply, in order; the data one per RCPT",
    needs=("PIPELINING",),
)
def pipelined(probe: Probe) -> None:
    client = probe.ready()
    batch = "".join(f"{line}\r\n" for line in [MAIL, *rcpts(2), "DATA"])
    client.send(batch.encode())
    for i, codes in enumerate([(250,), (250, 251), (250, 251), (354,)], 1):
        expect(client.reply(), *codes, what=f"reply {i} of 4")
    client.send(MESSAGE + b".\r\n")
    per_rcpt(client, 2)


@GROUP.check(
    "pipelined-after-data",
    "RFC 2033 4.2, 5, RFC 2920 3.1",
    "end of data (two RCPTs), MAIL, RCPT, DATA in one write: two replies, 250, 250, 354",
    level=Level.MUST,
    rule="the replies to the data come, one per RCPT, before those of commands sent after",
    needs=("PIPELINING",),
)
def pipelined_after_data(probe: Probe) -> None:
    client = open_transaction(probe, rcpts(2))
    expect(client.command("DATA"), 354, what="DATA")
    client.send(MESSAGE + b".\r\n" + f"{MAIL}\r\nRCPT TO:<r9@example.test>\r\nDATA\r\n".encode())
    for i in (1, 2):
        expect(client.reply(), 2, 4, 5, what=f"reply {i} of 2 to the data")
    for i, codes in enumerate([(250,), (250, 251), (354,)], 1):
        expect(client.reply(), *codes, what=f"reply {i} of 3 after the data")
    client.send(MESSAGE + b".\r\n")
    per_rcpt(client, 1, "the second data")


@GROUP.check(
    "quit-after-replies",
    SECTION + ", RFC 5321 4.1.1.10",
    "QUIT after the replies to a two-RCPT message gets 221 and the close",
    level=Level.MUST,
    rule="QUIT gets 221 and the server closes, once each RCPT had its reply",
)
def quit_after(probe: Probe) -> None:
    client = open_transaction(probe, rcpts(2))
    deliver(client, 2)
    expect(client.command("QUIT"), 221, what="QUIT")
    client.wait_closed()


@GROUP.check(
    "stored",
    "RFC 2033 4.2",
    "a message to two RCPTs is stored byte for byte, once or once per RCPT",
    level=Level.MUST,
    rule="a 250 after the data takes responsibility for the message: it is not lost",
)
def stored(probe: Probe) -> None:
    root = probe.maildir()
    before = snapshot(root)
    body = b"line one\r\n.stuffed\r\n\tindented\r\n"
    content, marker = marked(body.replace(b"\r\n.", b"\r\n.."))
    replies = deliver(open_transaction(probe, rcpts(2)), 2, content)
    wanted = sum(r.code // 100 == 2 for r in replies)
    if not wanted:
        raise CheckFailed("no recipient got a 2xx reply: nothing to look for")
    stored_since(root, before, 1, probe.target.store_wait, marker)  # the first copy
    found = stored_since(root, before, wanted, 0, marker)  # and any stored with it
    if not 1 <= len(found) <= wanted:
        raise CheckFailed(f"expected 1 to {wanted} stored copies, found {len(found)}")
    for copy in found:
        if body.replace(b"\r\n", b"\n") not in copy:
            raise CheckFailed("a stored copy differs from the message sent")
