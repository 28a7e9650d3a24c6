"""RFC 5321 transaction checks: MAIL/RCPT/DATA order and the syntax of paths and addresses."""

from __future__ import annotations

from conformance.checks.rfc5321_session import GROUP
from conformance.probe import Probe, expect
from conformance.verdict import CheckFailed, CheckSkipped, Level

RCPT = "RCPT TO:<rcpt@example.test>"
# Any answer but a syntax error: a server may refuse a recipient by policy.
NOT_SYNTAX = (250, 251, 450, 451, 452, 550, 551, 552)


def domain_of(length: int) -> str:
    """A syntactically valid domain of exactly `length` octets (at least 6), ending ".test"."""
    labels: list[str] = []
    remaining = length
    while remaining - len(".test") > 63:
        size = min(63, remaining - 7)  # leave at least one octet for the last label
        labels.append("d" * size)
        remaining -= size + 1
    labels.append("d" * (remaining - len(".test")))
    return ".".join([*labels, "test"])


GROUP.script(
    "mail-before-ehlo",
    "RFC 5321 4.1.4",
    "MAIL before EHLO/HELO gets 503",
    "greeted",
    ("MAIL FROM:<sender@example.test>", (503,)),
    level=Level.MAY,
    rule="the server may refuse MAIL before EHLO/HELO with 503 (the client must greet first)",
)
GROUP.script(
    "rcpt-before-mail",
    "RFC 5321 4.1.4",
    "RCPT before MAIL gets 503",
    "ready",
    (RCPT, (503,)),
    level=Level.MUST,
    rule="RCPT without a previous MAIL gets 503",
)
GROUP.script(
    "data-before-mail",
    "RFC 5321 4.1.1.4",
    "DATA before MAIL gets 503 (or 554)",
    "ready",
    ("DATA", (503, 554)),
    level=Level.MUST,
    rule="DATA with no transaction is refused with 503 or 554",
)
GROUP.script(
    "data-before-rcpt",
    "RFC 5321 4.1.1.4",
    "DATA with no recipient gets 503 (or 554)",
    "mail",
    ("DATA", (503, 554)),
    level=Level.SHOULD,
    rule="DATA with no accepted recipient should be refused, 503 or 554 (RFC 2920 3.1 (3))",
)
GROUP.script(
    "mail-nested",
    "RFC 5321 4.1.4",
    "MAIL inside an open transaction gets 503",
    "mail",
    ("MAIL FROM:<other@example.test>", (503,)),
    level=Level.MUST,
    rule="MAIL inside an open transaction is out of order: 503",
)
GROUP.script(
    "mail-null-sender",
    "RFC 5321 4.5.5",
    "MAIL FROM:<> (null reverse-path) gets 250",
    "ready",
    ("MAIL FROM:<>", (250,)),
    level=Level.MUST,
    rule="the null reverse-path <> is valid (bounces use it)",
)
GROUP.script(
    "rcpt-postmaster",
    "RFC 5321 4.5.1",
    "RCPT TO:<postmaster> without a domain is accepted",
    "mail",
    ("RCPT TO:<postmaster>", (250, 251)),
    level=Level.MUST,
    rule="RCPT TO:<Postmaster> with no domain must be supported",
)
GROUP.script(
    "rcpt-postmaster-case",
    "RFC 5321 4.5.1",
    "RCPT TO:<PostMaster> is accepted (case-insensitive)",
    "mail",
    ("RCPT TO:<PostMaster>", (250, 251)),
    level=Level.MUST,
    rule="postmaster is a case-insensitive local name",
)
GROUP.script(
    "mail-quoted-local-part",
    "RFC 5321 4.1.2",
    'a quoted local part ("john doe") is accepted',
    "ready",
    ('MAIL FROM:<"john doe"@example.test>', (250,)),
    level=Level.MUST,
    rule="a quoted-string local part is valid path syntax",
)
GROUP.script(
    "mail-quoted-pair",
    "RFC 5321 4.1.2",
    "a quoted local part with a quoted-pair is accepted",
    "ready",
    ('MAIL FROM:<"a\\"b"@example.test>', (250,)),
    level=Level.MUST,
    rule="a quoted-pair inside a quoted local part is valid path syntax",
)
GROUP.script(
    "mail-ipv4-literal",
    "RFC 5321 4.1.3",
    "an IPv4 address literal domain is accepted",
    "ready",
    ("MAIL FROM:<user@[192.0.2.1]>", (250,)),
    level=Level.MUST,
    rule="an IPv4 address literal is a valid domain in a path",
)
GROUP.script(
    "mail-ipv6-literal",
    "RFC 5321 4.1.3",
    "an IPv6 address literal domain is accepted",
    "ready",
    ("MAIL FROM:<user@[IPv6:2001:db8::1]>", (250,)),
    level=Level.MUST,
    rule="an IPv6 address literal is a valid domain in a path",
)
GROUP.script(
    "mail-source-route",
    "RFC 5321 4.1.2, Appendix C",
    "source-route syntax is accepted (and may be ignored)",
    "ready",
    ("MAIL FROM:<@relay.example.test:user@example.test>", (250,)),
    level=Level.MUST,
    rule="servers must accept source-route syntax (they may ignore the route)",
)
GROUP.script(
    "rcpt-quoted-local-part",
    "RFC 5321 4.1.2",
    "RCPT with a quoted local part is not a syntax error",
    "mail",
    ('RCPT TO:<"john doe"@example.test>', NOT_SYNTAX),
    level=Level.MUST,
    rule="a quoted local part in RCPT is valid syntax, not a 501",
)
GROUP.script(
    "mail-no-brackets",
    "RFC 5321 4.1.2",
    "MAIL FROM without angle brackets gets 501",
    "ready",
    ("MAIL FROM:sender@example.test", (501, 500, 553)),
    level=Level.MAY,
    rule="the server may refuse a path without angle brackets",
)
GROUP.script(
    "mail-missing-colon",
    "RFC 5321 4.1.1.2",
    "MAIL FROM without the colon gets 501 (or 500)",
    "ready",
    ("MAIL FROM <sender@example.test>", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse MAIL FROM without its colon",
)
GROUP.script(
    "mail-unclosed-bracket",
    "RFC 5321 4.1.2",
    "an unclosed path bracket gets 501",
    "ready",
    ("MAIL FROM:<sender@example.test", (501, 500, 553)),
    level=Level.MAY,
    rule="the server may refuse a path whose bracket is not closed",
)
GROUP.script(
    "mail-empty-domain",
    "RFC 5321 4.1.2",
    "an address with an empty domain gets 501 (or 553)",
    "ready",
    ("MAIL FROM:<sender@>", (501, 553)),
    level=Level.MAY,
    rule="the server may refuse a mailbox with an empty domain",
)


@GROUP.check(
    "mail-bad-then-good",
    "RFC 5321 4.1.4",
    "after a rejected MAIL the state is unchanged: a good MAIL gets 250",
    level=Level.MUST,
    rule="an unacceptable MAIL gets 501 and the server stays in the same state",
)
def mail_bad_then_good(probe: Probe) -> None:
    client = probe.ready()
    # No path at all: refused by every server tried, however lenient its path syntax.
    first = client.command("MAIL FROM:")
    if first.code // 100 == 2:
        raise CheckSkipped(f"MAIL FROM: with no path was taken ({first}): no refusal to test")
    expect(first, 501, 500, 553, 555, what="MAIL FROM:")
    expect(client.command("MAIL FROM:<sender@example.test>"), 250, what="MAIL afterwards")


GROUP.script(
    "rcpt-no-brackets",
    "RFC 5321 4.1.2",
    "RCPT TO without angle brackets gets 501",
    "mail",
    ("RCPT TO:rcpt@example.test", (501, 500, 553)),
    level=Level.MAY,
    rule="the server may refuse a RCPT path without angle brackets",
)
GROUP.script(
    "mail-unknown-parameter",
    "RFC 5321 4.1.1.11",
    "an unknown MAIL parameter gets 555",
    "ready",
    ("MAIL FROM:<sender@example.test> XNOSUCHPARAM=1", (555,)),
    level=Level.MUST,
    rule="an unrecognised MAIL parameter gets 555",
)
GROUP.script(
    "rcpt-unknown-parameter",
    "RFC 5321 4.1.1.11",
    "an unknown RCPT parameter gets 555",
    "mail",
    ("RCPT TO:<rcpt@example.test> XNOSUCHPARAM=1", (555,)),
    level=Level.MUST,
    rule="an unrecognised RCPT parameter gets 555",
)
GROUP.script(
    "local-part-64",
    "RFC 5321 4.5.3.1.1",
    "a 64-octet local part is accepted",
    "ready",
    ("MAIL FROM:<" + "l" * 64 + "@example.test>", (250,)),
    level=Level.MUST,
    rule="servers must receive local parts of at least 64 octets",
)
GROUP.script(
    "path-256",
    "RFC 5321 4.5.3.1.3",
    "a 256-octet reverse-path (64-octet local part) is accepted",
    "ready",
    ("MAIL FROM:<" + "l" * 64 + "@" + domain_of(256 - 67) + ">", (250,)),
    level=Level.MUST,
    rule="servers must receive paths of at least 256 octets",
)


@GROUP.check(
    "rcpt-100",
    "RFC 5321 4.5.3.1.8",
    "100 recipients in one transaction are accepted",
    level=Level.MUST,
    rule="servers must buffer at least 100 recipients",
)
def rcpt_hundred(probe: Probe) -> None:
    client = probe.mail()
    for i in range(100):
        reply = client.command(f"RCPT TO:<rcpt{i}@example.test>")
        if reply.code not in (250, 251):
            raise CheckFailed(f"recipient {i + 1} refused: {reply}")
    expect(probe.deliver(client), 250, what="end of data")


@GROUP.check(
    "rcpt-after-bad-rcpt",
    "RFC 5321 4.1.4",
    "a RCPT syntax error leaves the transaction open: the next RCPT gets 250",
    level=Level.MUST,
    rule="a refused RCPT leaves the transaction as it was",
)
def rcpt_after_bad(probe: Probe) -> None:
    client = probe.mail()
    expect(client.command("RCPT TO:"), 501, 500, 553)
    expect(client.command(RCPT), 250, 251)
    expect(probe.deliver(client), 250, what="end of data")
