"""RFC 5321 session checks: greeting, reply syntax, HELO/EHLO, NOOP, RSET, QUIT, VRFY, HELP."""

from __future__ import annotations

import re

from conformance.client import Reply
from conformance.probe import Probe, expect
from conformance.registry import Group
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("rfc5321", "RFC 5321 Simple Mail Transfer Protocol")

# RFC 5321 4.1.2: a Domain, or an address literal in brackets.
_DOMAIN = re.compile(r"(\[[^\]\s]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*)")
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


@GROUP.check(
    "greeting",
    "RFC 5321 3.1, 4.2",
    "the greeting is a 220 naming the server",
    level=Level.MUST,
    rule="the server opens with 220 and its domain",
)
def greeting(probe: Probe) -> None:
    reply = expect(probe.connect().reply(), 220, what="greeting")
    # RFC 5321 4.3.1: Greeting = "220 " (Domain / address-literal) [ SP textstring ] CRLF
    if not _DOMAIN.match(reply.lines[0]):
        raise CheckFailed(f"greeting does not open with a domain: {reply}")


@GROUP.check(
    "reply-syntax",
    "RFC 5321 4.2",
    "every reply is well formed: code, separator, CRLF",
    level=Level.MUST,
    rule="every reply line is a 3-digit code, a space or hyphen, text and CRLF",
)
def reply_syntax(probe: Probe) -> None:
    # The client parses strictly; any malformed line fails here with its reason.
    client = probe.greeted()
    for line in ("EHLO " + probe.target.helo, "HELP", "NOOP", "XYZZY", "RSET", "QUIT"):
        client.command(line)


@GROUP.check(
    "ehlo",
    "RFC 5321 4.1.1.1",
    "EHLO gets 250 opening with the server's domain",
    level=Level.MUST,
    rule="EHLO is supported: 250 with the server's domain on the first line",
)
def ehlo(probe: Probe) -> None:
    reply = expect(probe.greeted().command(f"EHLO {probe.target.helo}"), 250)
    if not _DOMAIN.match(reply.lines[0]):
        raise CheckFailed(f"EHLO reply does not open with a domain: {reply}")


@GROUP.check(
    "ehlo-keywords",
    "RFC 5321 4.1.1.1",
    "EHLO keyword lines follow ehlo-line syntax",
    level=Level.MUST,
    rule="each EHLO line after the first is a keyword and its parameters",
)
def ehlo_keywords(probe: Probe) -> None:
    reply = expect(probe.greeted().command(f"EHLO {probe.target.helo}"), 250)
    for line in reply.lines[1:]:
        keyword = line.split(" ", 1)[0]
        if not _KEYWORD.fullmatch(keyword):
            raise CheckFailed(f"bad EHLO keyword {keyword!r} in {reply}")


GROUP.script(
    "helo",
    "RFC 5321 4.1.1.1",
    "HELO gets 250",
    "greeted",
    ("HELO c.example", (250,)),
    level=Level.MUST,
    rule="servers must support HELO and reply properly to it",
)
GROUP.script(
    "ehlo-address-literal",
    "RFC 5321 4.1.3, 4.1.4",
    "EHLO with an address literal gets 250",
    "greeted",
    ("EHLO [127.0.0.1]", (250,)),
    level=Level.MUST,
    rule="an address literal is a valid EHLO argument (clients send one when they have no name)",
)
GROUP.script(
    "ehlo-no-domain",
    "RFC 5321 4.1.1.1, 4.1.4",
    "EHLO without a domain gets 501 (or 500)",
    "greeted",
    ("EHLO", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse an EHLO without its domain as a syntax error",
)
GROUP.script(
    "helo-no-domain",
    "RFC 5321 4.1.1.1, 4.1.4",
    "HELO without a domain gets 501 (or 500)",
    "greeted",
    ("HELO", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse a HELO without its domain as a syntax error",
)
GROUP.script(
    "ehlo-twice",
    "RFC 5321 4.1.4",
    "a second EHLO gets 250",
    "ready",
    ("EHLO c.example", (250,)),
    level=Level.MAY,
    rule="a later EHLO may be accepted; 4.1.4 binds the server only 'if ... acceptable'",
)


@GROUP.check(
    "ehlo-resets-transaction",
    "RFC 5321 4.1.4",
    "EHLO in a transaction resets it: RCPT then gets 503",
    level=Level.MUST,
    rule="a later EHLO the server accepts clears the transaction exactly as RSET would",
)
def ehlo_resets(probe: Probe) -> None:
    client = probe.mail()
    if expect(client.command("EHLO c.example"), 2, 5, what="EHLO").code // 100 == 5:
        raise CheckSkipped("a second EHLO is refused: the reset binds only an accepted one")
    expect(client.command("RCPT TO:<rcpt@example.test>"), 503, what="RCPT after EHLO")


GROUP.script(
    "noop",
    "RFC 5321 4.1.1.9",
    "NOOP gets 250",
    "ready",
    ("NOOP", (250,)),
    level=Level.MUST,
    rule="NOOP is supported and answered 250",
)
GROUP.script(
    "noop-argument",
    "RFC 5321 4.1.1.9",
    "NOOP with a parameter string gets 250",
    "ready",
    ("NOOP ignored text", (250,)),
    level=Level.SHOULD,
    rule="servers should ignore a parameter string given to NOOP",
)
GROUP.script(
    "noop-before-ehlo",
    "RFC 5321 4.1.4",
    "NOOP before EHLO gets 250",
    "greeted",
    ("NOOP", (250,)),
    level=Level.SHOULD,
    rule="NOOP, HELP, VRFY and RSET should work before EHLO (no 503)",
)
GROUP.script(
    "rset-before-ehlo",
    "RFC 5321 4.1.4",
    "RSET before EHLO gets 250",
    "greeted",
    ("RSET", (250,)),
    level=Level.SHOULD,
    rule="NOOP, HELP, VRFY and RSET should work before EHLO (no 503)",
)
GROUP.script(
    "rset",
    "RFC 5321 4.1.1.5",
    "RSET gets 250",
    "ready",
    ("RSET", (250,)),
    level=Level.MUST,
    rule="RSET with no arguments gets 250",
)
GROUP.script(
    "rset-clears-transaction",
    "RFC 5321 4.1.1.5",
    "RSET aborts the transaction: RCPT then gets 503",
    "mail",
    ("RSET", (250,)),
    ("RCPT TO:<rcpt@example.test>", (503,)),
    level=Level.MUST,
    rule="RSET discards the sender, the recipients and the data",
)
GROUP.script(
    "rset-argument",
    "RFC 5321 4.1.1.5",
    'RSET with a parameter gets 501 (rset = "RSET" CRLF)',
    "ready",
    ("RSET now", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse RSET with an argument (the grammar has none)",
)
GROUP.script(
    "verbs-case-insensitive",
    "RFC 5321 2.4",
    "commands are case-insensitive",
    "greeted",
    ("eHlO c.example", (250,)),
    ("noop", (250,)),
    ("mail from:<sender@example.test>", (250,)),
    ("rcpt to:<rcpt@example.test>", (250, 251)),
    ("rSeT", (250,)),
    level=Level.MUST,
    rule="command verbs are recognised in any case",
)
GROUP.script(
    "unknown-command",
    "RFC 5321 4.2.4",
    "an unknown command gets 500 (502 tolerated)",
    "ready",
    ("XYZZY", (500, 502)),
    level=Level.MUST,
    rule="an unrecognised command gets 500 and the session goes on",
)
GROUP.script(
    "vrfy",
    "RFC 5321 3.5.3, 4.5.1",
    "VRFY is implemented: 250, 251, 252, 550, 551 or 553",
    "ready",
    ("VRFY postmaster", (250, 251, 252, 550, 551, 553)),
    level=Level.MUST,
    rule="VRFY is part of the minimum implementation and gets one of its defined replies",
)
GROUP.script(
    "vrfy-no-argument",
    "RFC 5321 4.1.1.6",
    "VRFY without an argument gets 501 (or 500)",
    "ready",
    ("VRFY", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse VRFY without an argument as a syntax error",
)
GROUP.script(
    "help",
    "RFC 5321 4.1.1.8",
    "HELP gets 211 or 214",
    "ready",
    ("HELP", (211, 214)),
    level=Level.SHOULD,
    rule="servers should support HELP without arguments (211 or 214)",
)
GROUP.script(
    "help-before-ehlo",
    "RFC 5321 4.1.4",
    "HELP before EHLO is answered normally",
    "greeted",
    ("HELP", (211, 214)),
    level=Level.SHOULD,
    rule="HELP should be answered normally before EHLO",
)


def _quit_then_close(probe: Probe, start_ready: bool) -> list[Reply]:
    client = probe.ready() if start_ready else probe.greeted()
    expect(client.command("QUIT"), 221)
    return client.wait_closed()


@GROUP.check(
    "quit",
    "RFC 5321 4.1.1.10",
    "QUIT gets 221 and the server closes",
    level=Level.MUST,
    rule="QUIT gets 221, then the server closes the connection",
)
def quit_closes(probe: Probe) -> None:
    extra = _quit_then_close(probe, True)
    if extra:
        raise CheckFailed(f"replies after 221: {[str(r) for r in extra]}")


@GROUP.check(
    "quit-before-ehlo",
    "RFC 5321 4.1.1.10",
    "QUIT right after the greeting gets 221",
    level=Level.MUST,
    rule="QUIT gets 221 at any time, also right after the greeting",
)
def quit_before_ehlo(probe: Probe) -> None:
    _quit_then_close(probe, False)


GROUP.script(
    "quit-argument",
    "RFC 5321 4.1.1.10",
    'QUIT with a parameter gets 501 (quit = "QUIT" CRLF)',
    "ready",
    ("QUIT now", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse QUIT with an argument (the grammar has none)",
)
