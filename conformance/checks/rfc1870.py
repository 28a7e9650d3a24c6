"""RFC 1870 SIZE checks: the EHLO parameter, MAIL SIZE= at and past the limit, oversized content."""

from __future__ import annotations

from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group, Speaks
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("rfc1870", "RFC 1870 SIZE extension", speaks=Speaks.BOTH)
NEEDS = ("SIZE",)
# Sending the content of a larger limit takes too long to be worth it.
MAX_CONTENT_CHECK = 40 * 1024 * 1024


def size_limit(probe: Probe) -> int:
    """The advertised fixed maximum; skips when none (absent or 0) is advertised."""
    probe.require(*NEEDS)
    value = probe.active_caps["SIZE"]
    if not value.isdigit():
        raise CheckSkipped("SIZE advertised without a fixed maximum")
    if int(value) == 0:
        raise CheckSkipped("SIZE 0: no fixed maximum in force")
    return int(value)


@GROUP.check(
    "ehlo-parameter",
    "RFC 1870 4 (3)",
    "the SIZE keyword's parameter is empty or digits",
    level=Level.MUST,
    rule="the SIZE keyword's parameter is empty or a decimal number",
)
def ehlo_parameter(probe: Probe) -> None:
    probe.require(*NEEDS)
    value = probe.active_caps["SIZE"]
    if value and not value.isdigit():
        raise CheckFailed(f"SIZE parameter is not a number: {value!r}")


@GROUP.check(
    "mail-size-under",
    "RFC 1870 6.1",
    "MAIL with SIZE under the limit gets 250",
    needs=NEEDS,
    level=Level.MUST,
    rule="a declared size under the limit is accepted",
)
def under(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.mail(f"SIZE={len(MESSAGE)}")
    expect(client.command("RCPT TO:<rcpt@example.test>"), 250, 251)
    expect(probe.deliver(client), 250)


@GROUP.check(
    "mail-size-at-limit",
    "RFC 1870 6.1",
    "MAIL with SIZE equal to the limit gets 250",
    level=Level.MUST,
    rule="a declared size equal to the fixed maximum is not larger than it: accepted",
)
def at_limit(probe: Probe) -> None:
    limit = size_limit(probe)
    probe.mail(f"SIZE={limit}")


@GROUP.check(
    "mail-size-over",
    "RFC 1870 6.1",
    "MAIL with SIZE one past the limit gets 552",
    level=Level.MUST,
    rule="a declared size over the fixed maximum gets 552",
)
def over(probe: Probe) -> None:
    limit = size_limit(probe)
    client = probe.ready()
    expect(client.command(f"MAIL FROM:<sender@example.test> SIZE={limit + 1}"), 552)
    # RFC 1870 6.2: after a 552 the client sends RSET (or QUIT) before trying again.
    expect(client.command("RSET"), 250, what="RSET after the 552")
    expect(client.command("MAIL FROM:<sender@example.test>"), 250, what="MAIL after RSET")


GROUP.script(
    "mail-size-invalid",
    "RFC 1870 4 (4)",
    "SIZE=abc (not 1*20DIGIT) gets 501 (or 555)",
    "ready",
    ("MAIL FROM:<sender@example.test> SIZE=abc", (501, 555)),
    needs=NEEDS,
    level=Level.MUST,
    rule="a SIZE value that is not a number is a syntax error (501 or 555)",
)
GROUP.script(
    "mail-size-empty",
    "RFC 1870 4 (4)",
    "SIZE= with no value gets 501 (or 555)",
    "ready",
    ("MAIL FROM:<sender@example.test> SIZE=", (501, 555)),
    needs=NEEDS,
    level=Level.MUST,
    rule="an empty SIZE value is a syntax error (501 or 555)",
)
GROUP.script(
    "mail-size-zero",
    "RFC 1870 4 (4)",
    "SIZE=0 is a valid declaration and gets 250",
    "ready",
    ("MAIL FROM:<sender@example.test> SIZE=0", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="SIZE=0 is a valid size-value",
)


@GROUP.check(
    "content-over-limit",
    "RFC 1870 6.3, RFC 5321 4.5.3.1.10",
    "content past the advertised limit gets 552 after end of data; the session goes on",
    level=Level.HARDENING,
    rule="content past the advertised maximum is refused with 552; the session goes on",
)
def content_over(probe: Probe) -> None:
    limit = size_limit(probe)
    if limit > MAX_CONTENT_CHECK:
        raise CheckSkipped(f"limit {limit} too large to send in a check")
    client = probe.rcpt()
    expect(client.command("DATA"), 354)
    line = b"x" * 998 + b"\r\n"
    client.send(MESSAGE + line * (limit // len(line) + 1) + b".\r\n")
    expect(client.reply(), 552, what="end of oversized data")
    expect(client.command("NOOP"), 250, what="NOOP after the 552")
