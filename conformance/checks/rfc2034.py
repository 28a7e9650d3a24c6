"""RFC 2034 / RFC 3463 enhanced status codes: present on every reply line once advertised."""

from __future__ import annotations

from conformance.client import Client, Reply, enhanced_code
from conformance.probe import MESSAGE, Probe
from conformance.registry import Group
from conformance.verdict import CheckFailed, Level

GROUP = Group("rfc2034", "RFC 2034 ENHANCEDSTATUSCODES")
NEEDS = ("ENHANCEDSTATUSCODES",)
RULE = "once advertised, every 2xx/4xx/5xx line but the greeting's and EHLO's carries the code"


def judge(reply: Reply) -> None:
    """Fail unless every line opens with the same enhanced code, of the reply's class."""
    first = enhanced_code(reply.lines[0])
    for line in reply.lines:
        code = enhanced_code(line)
        if code is None:
            raise CheckFailed(f"reply line without an enhanced code: {reply}")
        if code[0] != reply.code // 100:
            raise CheckFailed(f"enhanced class {code[0]} does not match {reply.code}: {reply}")
        if code != first:
            raise CheckFailed(f"enhanced code changes between lines: {reply}")


def _one(name: str, title: str, command: str, start: str) -> None:
    def run(probe: Probe) -> None:
        probe.require(*NEEDS)
        client = probe.ready()
        if start in ("mail", "rcpt"):
            probe.mail(client=client)
        if start == "rcpt":
            client.command("RCPT TO:<rcpt@example.test>")
        judge(client.command(command))

    GROUP.check(name, "RFC 2034 3, RFC 3463", title, level=Level.MUST, rule=RULE, needs=NEEDS)(run)


_one("noop", "NOOP's 250 carries 2.x.x", "NOOP", "ready")
_one("rset", "RSET's 250 carries 2.x.x", "RSET", "ready")
_one("mail", "MAIL's 250 carries 2.x.x", "MAIL FROM:<sender@example.test>", "ready")
_one("rcpt", "RCPT's 250 carries 2.x.x", "RCPT TO:<rcpt@example.test>", "mail")
_one("bad-sequence", "a 503 carries 5.x.x", "RCPT TO:<rcpt@example.test>", "ready")
_one("unknown-command", "an unknown command's 5xx carries 5.x.x", "XYZZY", "ready")
_one("syntax-error", "a 501 carries 5.x.x", "MAIL FROM:<sender@>", "ready")
_one("help", "every line of the HELP reply carries an enhanced code", "HELP", "ready")
_one("quit", "QUIT's 221 carries 2.x.x", "QUIT", "ready")


@GROUP.check(
    "data",
    "RFC 2034 3, RFC 3463",
    "354 is exempt; end of data's 250 carries 2.x.x",
    level=Level.MUST,
    rule=RULE,
)
def data(probe: Probe) -> None:
    probe.require(*NEEDS)
    client: Client = probe.rcpt()
    client.command("DATA")
    client.send(MESSAGE + b".\r\n")
    judge(client.reply())


@GROUP.check(
    "after-helo",
    "RFC 2034 4",
    "enhanced codes are sent after HELO too, not only EHLO",
    level=Level.MUST,
    rule="the codes are sent whether or not the client used EHLO",
)
def after_helo(probe: Probe) -> None:
    probe.require(*NEEDS)
    client = probe.greeted()
    client.command("HELO c.example")
    judge(client.command("NOOP"))
