"""RFC 3030 BINARYMIME checks, added to the rfc3030 group: BODY=BINARYMIME, DATA refused
after it, and content stored byte for byte (read raw from --maildir, no line-end changes)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from conformance.checks.rfc3030 import GROUP, bdat
from conformance.checks.rfc5321_data import marked
from conformance.client import Client
from conformance.probe import Probe, expect
from conformance.store import snapshot
from conformance.verdict import CheckFailed, CheckSkipped, Level

NEEDS = ("BINARYMIME", "CHUNKING")
BODY = "BODY=BINARYMIME"
# RFC 3030 3: "the receiver-SMTP MUST deliver or relay the message in such a way as to
# preserve all bits in each octet."
PRESERVE = "content sent after BODY=BINARYMIME is kept byte for byte"


def binary_rcpt(probe: Probe) -> Client:
    """A session with MAIL FROM ... BODY=BINARYMIME and one RCPT accepted."""
    probe.require(*NEEDS)
    return probe.rcpt(BODY)


def stored_raw(probe: Probe, root: Path, before: set[Path], marker: bytes) -> bytes:
    """The raw bytes of the file new since `before` holding `marker`, waiting up to
    store_wait for it (a queueing server delivers after its 250)."""
    deadline = time.monotonic() + probe.target.store_wait
    while True:
        for path in sorted(snapshot(root) - before):
            data = path.read_bytes()
            if marker in data:
                return data
        if time.monotonic() >= deadline:
            raise CheckFailed("the message was not stored")
        time.sleep(0.02)  # polling a directory: there is no event to wait on


def first_difference(stored: bytes, sent: bytes, marker: bytes) -> str:
    """Where the stored copy departs from the message sent, aligned on the marker."""
    offset = stored.find(marker) - sent.find(marker)
    tail = stored[max(offset, 0) :]
    at = next((i for i, (a, b) in enumerate(zip(tail, sent, strict=False)) if a != b), None)
    if at is None:
        at = min(len(tail), len(sent))
    return f"octet {at} of the message: sent {sent[at : at + 12]!r}, stored {tail[at : at + 12]!r}"


def send_and_compare(probe: Probe, body: bytes, cuts: tuple[int, ...] = ()) -> None:
    """Send a marked message with `body` in BDAT chunks cut at `cuts` (offsets into the
    body), the last one LAST; fail unless the stored file ends with the exact octets sent."""
    root = probe.maildir()
    before = snapshot(root)
    message, marker = marked(body)
    client = binary_rcpt(probe)
    head = len(message) - len(body)
    edges = [0, *(head + cut for cut in cuts), len(message)]
    pieces = [message[a:b] for a, b in itertools.pairwise(edges)]
    for i, piece in enumerate(pieces):
        last = i + 1 == len(pieces)
        client.send(bdat(piece, last=last))
        expect(client.reply(), 250, what="last chunk" if last else f"chunk {i + 1}")
    stored = stored_raw(probe, root, before, marker)
    if not stored.endswith(message):
        raise CheckFailed("stored copy differs at " + first_difference(stored, message, marker))


@GROUP.check(
    "binarymime-with-chunking",
    "RFC 3030 3",
    "BINARYMIME is advertised together with CHUNKING",
    level=Level.MUST,
    rule="BINARYMIME can only be used with CHUNKING: it is not offered alone",
)
def with_chunking(probe: Probe) -> None:
    probe.require("BINARYMIME")
    if not probe.has("CHUNKING"):
        raise CheckFailed("BINARYMIME advertised without CHUNKING")


@GROUP.check(
    "binarymime-mail",
    "RFC 3030 3",
    "MAIL with BODY=BINARYMIME gets 250",
    level=Level.MUST,
    rule="BODY=BINARYMIME is accepted once BINARYMIME is advertised",
)
def binarymime_mail(probe: Probe) -> None:
    probe.require(*NEEDS)
    probe.mail(BODY)


@GROUP.check(
    "binarymime-mail-lower-case",
    "RFC 3030 3, RFC 5321 2.4",
    "body=binarymime in lower case gets 250",
    level=Level.MUST,
    rule="parameter keywords and values are case-insensitive",
)
def binarymime_lower(probe: Probe) -> None:
    probe.require(*NEEDS)
    probe.mail("body=binarymime")


@GROUP.check(
    "binarymime-data-refused",
    "RFC 3030 3",
    "DATA after MAIL with BODY=BINARYMIME gets 503; RSET then clears the transaction",
    level=Level.MUST,
    rule="BINARYMIME cannot be used with DATA: a DATA after it gets 503",
)
def data_refused(probe: Probe) -> None:
    client = binary_rcpt(probe)
    reply = client.command("DATA")
    if reply.code == 354:
        client.send(b"Subject: not binary\r\n\r\ntext\r\n.\r\n")
        client.reply()
    expect(reply, 503, what="DATA after BODY=BINARYMIME")
    expect(client.command("RSET"), 250, what="RSET after the refused DATA")


@GROUP.check(
    "binarymime-not-advertised",
    "RFC 3030 3, RFC 5321 4.1.1.11",
    "BODY=BINARYMIME where BINARYMIME is not advertised gets 555 (or 501)",
    level=Level.MUST,
    rule="a BODY value the server does not implement is refused (555, or 501 as a bad value)",
)
def not_advertised(probe: Probe) -> None:
    if probe.caps.offered("BINARYMIME"):
        raise CheckSkipped("BINARYMIME is advertised")
    reply = probe.ready().command(f"MAIL FROM:<{probe.target.mail_from}> {BODY}")
    if reply.code == 530:
        raise CheckSkipped("MAIL needs AUTH first on this server")
    expect(reply, 555, 501)


@GROUP.check(
    "binarymime-all-octets",
    "RFC 3030 3",
    "every octet value 0-255 (NUL, CR, LF, 0x80-0xFF) is stored byte for byte",
    level=Level.MUST,
    rule=PRESERVE,
)
def all_octets(probe: Probe) -> None:
    send_and_compare(probe, bytes(range(256)) + bytes(range(255, -1, -1)) + b"\r\n")


@GROUP.check(
    "binarymime-bare-line-ends",
    "RFC 3030 3",
    "lone CR, lone LF, CR CR LF and LF CR are stored as sent (no line-end repair)",
    level=Level.MUST,
    rule=PRESERVE,
)
def bare_line_ends(probe: Probe) -> None:
    send_and_compare(probe, b"lone CR\rlone LF\nCR CR LF\r\r\nLF CR\n\rend\r\n")


@GROUP.check(
    "binarymime-long-line",
    "RFC 3030 3",
    "a 20,000-octet line (CRLF included) is stored whole",
    level=Level.MUST,
    rule=PRESERVE + ": no line-length limit cuts or folds it",
)
def long_line(probe: Probe) -> None:
    send_and_compare(probe, (bytes(range(32, 127)) * 211)[:19998] + b"\r\n")


@GROUP.check(
    "binarymime-dot-lines",
    "RFC 3030 3",
    "lines opening with dots, CRLF.CRLF and a QUIT line are stored as sent",
    level=Level.MUST,
    rule=PRESERVE + ": no dot-unstuffing, no end-of-data search, no commands read",
)
def dot_lines(probe: Probe) -> None:
    send_and_compare(probe, b".one dot\r\n..two dots\r\n.\r\nQUIT\r\nafter\r\n")


@GROUP.check(
    "binarymime-split-crlf",
    "RFC 3030 2, 3",
    "chunks cut between CR and LF (in the blank line and the body) are stored as sent",
    level=Level.MUST,
    rule=PRESERVE + ", wherever the chunks are cut",
)
def split_crlf(probe: Probe) -> None:
    # Offsets into the body: -3 and -1 cut the last header's CRLF and the blank line's.
    send_and_compare(probe, b"a\r\nb\r\r\nc\r\n", cuts=(-3, -1, 2, 5, 6))


@GROUP.check(
    "binarymime-zero-last",
    "RFC 3030 2, 3",
    "binary chunks, then BDAT 0 LAST: the stored message is the chunks joined",
    level=Level.MUST,
    rule=PRESERVE + "; an empty LAST chunk adds nothing",
)
def zero_last(probe: Probe) -> None:
    root = probe.maildir()
    before = snapshot(root)
    message, marker = marked(b"\x01\xff\r\n\x80binary\r\n")
    client = binary_rcpt(probe)
    half = len(message) - 9
    for piece in (message[:half], message[half:]):
        client.send(bdat(piece))
        expect(client.reply(), 250, what="chunk")
    client.send(bdat(b"", last=True))
    expect(client.reply(), 250, what="BDAT 0 LAST")
    stored = stored_raw(probe, root, before, marker)
    if not stored.endswith(message):
        raise CheckFailed("stored copy differs at " + first_difference(stored, message, marker))
