"""RFC 2034 / RFC 3463: the enhanced code agrees with the reply's class, for each class.

Adds to the rfc2034 group: the 2xx and 5xx replies rfc2034.py does not reach, a 4xx reply
(provoked by too many recipients), and the code's own syntax.
"""

from __future__ import annotations

import re

from conformance.checks.rfc2034 import GROUP, NEEDS, RULE, judge
from conformance.client import Client, Reply
from conformance.probe import MESSAGE, Probe, expect
from conformance.verdict import CheckFailed, CheckSkipped, Level

_CITE = "RFC 2034 4, RFC 3463 2"
# RFC 3463 2: "Each numeric sub-code ... MUST be expressed without leading zero digits."
_LEADING_ZERO = re.compile(r"[245]\.(0\d+\.\d+|\d+\.0\d+)(?: |$)")
# RFC 5321 4.5.3.1.8 asks for at least 100; servers commonly stop at 1,000.
_RECIPIENTS = 1001


def _one(name: str, title: str, command: str, start: str, needs: tuple[str, ...] = ()) -> None:
    def run(probe: Probe) -> None:
        probe.require(*NEEDS, *needs)
        client = probe.ready()
        if start == "mail":
            probe.mail(client=client)
        judge(client.command(command))

    GROUP.check(name, _CITE, title, level=Level.MUST, rule=RULE, needs=(*NEEDS, *needs))(run)


_one("vrfy", "VRFY's reply carries a code of its class", "VRFY postmaster", "ready")
_one("rset-argument", "RSET with an argument: its 501 carries 5.x.x", "RSET now", "ready")
_one("data-no-rcpt", "DATA with no recipient: its 5xx carries 5.x.x", "DATA", "mail")
_one("rcpt-syntax", "RCPT without a path: its 501 carries 5.x.x", "RCPT TO:", "mail")


@GROUP.check(
    "starttls",
    _CITE,
    "STARTTLS's 220 is not the greeting: it carries 2.x.x",
    level=Level.MUST,
    rule=RULE,
    needs=NEEDS,
)
def starttls(probe: Probe) -> None:
    probe.require(*NEEDS)
    if "STARTTLS" not in probe.caps.plain or probe.target.tls_implicit:
        raise CheckSkipped("STARTTLS not advertised")
    client = probe.greeted()
    probe.ehlo(client)
    judge(expect(client.command("STARTTLS"), 220, what="STARTTLS"))


@GROUP.check(
    "bdat",
    _CITE,
    "BDAT's 250 for each chunk carries 2.x.x",
    level=Level.MUST,
    rule=RULE,
    needs=(*NEEDS, "CHUNKING"),
)
def bdat(probe: Probe) -> None:
    probe.require(*NEEDS, "CHUNKING")
    client = probe.rcpt()
    half = len(MESSAGE) // 2
    client.send(b"BDAT %d\r\n" % half + MESSAGE[:half])
    judge(client.reply())
    client.send(b"BDAT %d LAST\r\n" % (len(MESSAGE) - half) + MESSAGE[half:])
    judge(client.reply())


def _first_refusal(probe: Probe, client: Client) -> Reply | None:
    """Offer `_RECIPIENTS` recipients (in one write where PIPELINING allows); the first
    reply that is not 2xx, or None when the server took them all."""
    domain = probe.target.rcpt_to.rpartition("@")[2].encode()
    lines = [b"RCPT TO:<r%d@%s>\r\n" % (i, domain) for i in range(_RECIPIENTS)]
    if probe.has("PIPELINING"):
        client.send(b"".join(lines))
        replies = client.replies(len(lines))
    else:
        replies = [client.command(line.rstrip(b"\r\n")) for line in lines]
    return next((r for r in replies if r.code // 100 != 2), None)


@GROUP.check(
    "class-4xx",
    _CITE,
    "a 4xx reply (1,001 recipients: too many) carries 4.x.x",
    level=Level.MUST,
    rule=RULE,
    needs=NEEDS,
)
def class_4xx(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.mail()
    refusal = _first_refusal(probe, client)
    if refusal is None:
        raise CheckSkipped(f"no 4xx provoked: {_RECIPIENTS} recipients all accepted")
    if refusal.code // 100 != 4:
        raise CheckSkipped(f"too many recipients got {refusal.code}, not a 4xx")
    judge(refusal)


@GROUP.check(
    "no-leading-zeros",
    "RFC 3463 2",
    "no sub-code of an enhanced code has a leading zero (2.01.0 is not a code)",
    level=Level.MUST,
    rule="each sub-code of an enhanced code is written without leading zeros",
    needs=NEEDS,
)
def no_leading_zeros(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.ready()
    commands = ["NOOP", "RSET", f"MAIL FROM:<{probe.target.mail_from}>"]
    commands += [f"RCPT TO:<{probe.target.rcpt_to}>", "RCPT TO:", "XYZZY", "VRFY", "QUIT"]
    for command in commands:
        reply = client.command(command)
        for line in reply.lines:
            if _LEADING_ZERO.match(line):
                raise CheckFailed(f"{command}: sub-code with a leading zero: {reply}")
