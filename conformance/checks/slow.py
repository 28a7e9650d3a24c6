"""Idle time-out checks (opt-in with --slow): an idle client is dropped, with 421 at most."""

from __future__ import annotations

from conformance.client import Client
from conformance.probe import Probe, expect
from conformance.registry import Group, Speaks
from conformance.verdict import Level

GROUP = Group("slow", "Idle time-outs (opt-in, slow)", slow=True, speaks=Speaks.BOTH)
RFC = "RFC 5321 4.5.3.2"


def idle_until_closed(probe: Probe, client: Client) -> None:
    """Stay silent; the server must close within `idle_limit`, sending nothing but 421."""
    for reply in client.wait_closed(probe.target.idle_limit):
        expect(reply, 421, what="reply while idle")


@GROUP.check(
    "idle-after-greeting",
    RFC,
    "a client silent after the greeting is dropped",
    level=Level.HARDENING,
    rule="idle clients are dropped (421 at most) so they cannot hold connections",
)
def after_greeting(probe: Probe) -> None:
    idle_until_closed(probe, probe.greeted())


@GROUP.check(
    "idle-in-session",
    RFC,
    "a client silent after EHLO is dropped",
    level=Level.HARDENING,
    rule="idle clients are dropped (421 at most) so they cannot hold connections",
)
def in_session(probe: Probe) -> None:
    idle_until_closed(probe, probe.ready())


@GROUP.check(
    "idle-in-data",
    RFC,
    "a client silent in the middle of DATA is dropped",
    level=Level.HARDENING,
    rule="idle clients are dropped (421 at most) so they cannot hold connections",
)
def in_data(probe: Probe) -> None:
    client = probe.rcpt()
    expect(client.command("DATA"), 354)
    client.send(b"Subject: stalled\r\n\r\nhalf a line")
    idle_until_closed(probe, client)
