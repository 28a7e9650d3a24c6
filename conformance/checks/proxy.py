"""A server behind a load balancer (`--proxy v1|v2`): it says nothing before the PROXY
header, greets once the header is whole however it arrives, and closes a connection whose
first octets are not one, unanswered. Skipped without `--proxy`."""

from __future__ import annotations

import time

from conformance.client import Client
from conformance.probe import Probe, expect, make_proxy_header
from conformance.registry import Group
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("proxy", "The PROXY protocol (HAProxy's spec), for servers behind a load balancer")
SPEC = "HAProxy PROXY protocol 2.1, 2.2"


def _bare(probe: Probe) -> tuple[Client, bytes]:
    """A connection with no header sent yet, and the header this client would send."""
    version = probe.target.proxy
    if version is None:
        raise CheckSkipped("needs --proxy v1|v2 (the server must expect a PROXY header)")
    client = probe.connect(proxy_header=False)
    header = make_proxy_header(version, client.sock.getsockname(), client.sock.getpeername())
    return client, header


@GROUP.check(
    "silent-before-header",
    SPEC,
    "nothing is sent before the PROXY header",
    level=Level.MUST,
    rule="the receiver processes nothing before the whole PROXY header",
)
def silent_before_header(probe: Probe) -> None:
    client, header = _bare(probe)
    early = client.poll(probe.target.quiet)
    if early is not None:
        raise CheckFailed(f"the server spoke before the PROXY header: {early}")
    client.send(header)
    expect(client.reply(), 220, what="greeting after the header")


@GROUP.check(
    "split-header",
    SPEC,
    "a header sent in two pieces greets once, when whole",
    level=Level.MUST,
    rule="the receiver processes nothing before the whole PROXY header",
)
def split_header(probe: Probe) -> None:
    client, header = _bare(probe)
    half = len(header) // 2
    client.send(header[:half])
    time.sleep(0.2)
    if client.poll(0.3) is not None:
        raise CheckFailed("the server answered half a PROXY header")
    client.send(header[half:])
    expect(client.reply(), 220, what="greeting after the whole header")
    expect(client.command("NOOP"), 250, what="NOOP")


@GROUP.check(
    "malformed-header-closes",
    SPEC,
    "a connection without a PROXY header is closed",
    level=Level.MUST,
    rule="a connection that does not start with a valid header is dropped",
)
def malformed_header_closes(probe: Probe) -> None:
    client, _ = _bare(probe)
    client.send(b"EHLO conformance.example.test\r\n")
    replies = client.wait_closed()
    if replies:
        raise CheckFailed(f"answered a connection that sent no PROXY header: {replies[0]}")
