"""XCLIENT (Postfix's XCLIENT_README), where the server offers it to this client: a new
220 greeting and a session that starts over, 501 for an attribute it does not take, and no
XCLIENT inside a mail transaction. Skipped where EHLO does not offer XCLIENT."""

from __future__ import annotations

from conformance.client import Client
from conformance.probe import Probe, expect
from conformance.registry import Group, Speaks
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group(
    "xclient",
    "XCLIENT (Postfix's extension), for servers behind a trusted front end",
    speaks=Speaks.BOTH,
)
SPEC = "Postfix XCLIENT_README"
# Names a documentation address (RFC 5737), so a server that logs it logs nobody real.
NAMED = "XCLIENT NAME=client.conformance.example ADDR=192.0.2.77 PORT=4242"


def _offered(probe: Probe) -> Client:
    client = probe.greeted()
    if "XCLIENT" not in probe.ehlo(client):
        raise CheckSkipped("XCLIENT not advertised to this client")
    return client


@GROUP.check(
    "greets-again",
    SPEC,
    "XCLIENT gets a new 220 greeting, and the client must EHLO again",
    level=Level.MUST,
    rule="after XCLIENT the server greets anew and the session starts over",
)
def greets_again(probe: Probe) -> None:
    client = _offered(probe)
    expect(client.command(NAMED), 220, what="XCLIENT")
    expect(client.command("MAIL FROM:<a@conformance.example>"), 503, what="MAIL before EHLO")
    probe.ehlo(client)
    expect(client.command("MAIL FROM:<a@conformance.example>"), 250, what="MAIL after EHLO")


@GROUP.check(
    "bad-attribute",
    SPEC,
    "an attribute XCLIENT does not define gets 501",
    level=Level.MUST,
    rule="a malformed XCLIENT command is refused with 501 and changes nothing",
)
def bad_attribute(probe: Probe) -> None:
    client = _offered(probe)
    expect(client.command("XCLIENT NOSUCHATTRIBUTE=1"), 501, what="XCLIENT NOSUCHATTRIBUTE")
    expect(client.command("MAIL FROM:<a@conformance.example>"), 250, what="MAIL after it")


@GROUP.check(
    "not-in-transaction",
    SPEC,
    "XCLIENT inside a mail transaction gets 503",
    level=Level.MUST,
    rule="XCLIENT may be sent at any time except inside a mail transaction",
)
def not_in_transaction(probe: Probe) -> None:
    client = _offered(probe)
    expect(client.command("MAIL FROM:<a@conformance.example>"), 250, what="MAIL")
    reply = client.command(NAMED)
    if reply.code != 503:
        raise CheckFailed(f"XCLIENT between MAIL and the end of data: expected 503, got {reply}")
