"""RFC 6152 8BITMIME checks: the BODY parameter and 8-bit content."""

from __future__ import annotations

from conformance.checks.rfc5321_data import marked
from conformance.probe import Probe, expect
from conformance.registry import Group, Speaks
from conformance.store import expect_stored, snapshot
from conformance.verdict import CheckFailed, Level

GROUP = Group("rfc6152", "RFC 6152 8BITMIME", speaks=Speaks.BOTH)
NEEDS = ("8BITMIME",)
EIGHT_BIT = "Grüße aus Köln, naïve café\r\n".encode()

GROUP.script(
    "body-8bitmime",
    "RFC 6152 2",
    "MAIL with BODY=8BITMIME gets 250",
    "ready",
    ("MAIL FROM:<sender@example.test> BODY=8BITMIME", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="BODY=8BITMIME is accepted once 8BITMIME is advertised",
)
GROUP.script(
    "body-7bit",
    "RFC 6152 2",
    "MAIL with BODY=7BIT gets 250",
    "ready",
    ("MAIL FROM:<sender@example.test> BODY=7BIT", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="BODY=7BIT is accepted once 8BITMIME is advertised",
)
GROUP.script(
    "body-invalid",
    "RFC 6152 2, RFC 5321 4.1.1.11",
    "BODY=NONSENSE gets 501 (or 555)",
    "ready",
    ("MAIL FROM:<sender@example.test> BODY=NONSENSE", (501, 555)),
    needs=NEEDS,
    level=Level.MUST,
    rule="a BODY value that is not defined is refused (501 or 555)",
)
GROUP.script(
    "body-case-insensitive",
    "RFC 6152 2, RFC 5321 2.4",
    "body=8bitmime in lower case gets 250",
    "ready",
    ("MAIL FROM:<sender@example.test> body=8bitmime", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="parameter keywords and values are case-insensitive",
)


@GROUP.check(
    "8bit-content",
    "RFC 6152 3",
    "8-bit content after BODY=8BITMIME gets 250",
    level=Level.MUST,
    rule="8-bit content is accepted after BODY=8BITMIME",
)
def content(probe: Probe) -> None:
    probe.require(*NEEDS)
    body, _ = marked(EIGHT_BIT)
    expect(probe.deliver(probe.rcpt("BODY=8BITMIME"), body), 250)


@GROUP.check(
    "8bit-stored",
    "RFC 6152 3",
    "8-bit content is stored byte for byte",
    level=Level.MUST,
    rule="8-bit content is kept byte for byte",
)
def stored(probe: Probe) -> None:
    probe.require(*NEEDS)
    root = probe.maildir()
    before = snapshot(root)
    body, marker = marked(EIGHT_BIT)
    expect(probe.deliver(probe.rcpt("BODY=8BITMIME"), body), 250)
    (message,) = expect_stored(root, before, 1, probe.target.store_wait, marker)
    if marker not in message or EIGHT_BIT.replace(b"\r\n", b"\n") not in message:
        raise CheckFailed("8-bit text was not stored unchanged")
