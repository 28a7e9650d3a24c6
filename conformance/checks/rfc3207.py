"""RFC 3207 STARTTLS checks: the handshake, state after it, and plaintext injection."""

from __future__ import annotations

from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("rfc3207", "RFC 3207 STARTTLS")


def plain_starttls(probe: Probe) -> None:
    """Skip unless STARTTLS is offered on a clear-text connection."""
    if probe.target.tls_implicit:
        raise CheckSkipped("the connection is already TLS (implicit TLS)")
    if "STARTTLS" not in probe.caps.plain:
        raise CheckSkipped("STARTTLS not advertised")


@GROUP.check(
    "starttls",
    "RFC 3207 4",
    "STARTTLS gets 220 and the TLS handshake completes",
    level=Level.MUST,
    rule="STARTTLS gets 220 and the TLS handshake follows",
)
def starttls(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    expect(client.command("STARTTLS"), 220)
    client.starttls()


@GROUP.check(
    "ehlo-after-tls",
    "RFC 3207 4.2",
    "EHLO after TLS gets 250 and no longer offers STARTTLS",
    level=Level.MUST,
    rule="EHLO after TLS must not offer STARTTLS again",
)
def ehlo_after(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    caps = probe.starttls(client)
    if "STARTTLS" in caps:
        raise CheckFailed("STARTTLS still advertised after TLS is established")


@GROUP.check(
    "transaction-after-tls",
    "RFC 3207 4.2",
    "a whole transaction works under TLS",
    level=Level.MUST,
    rule="mail is exchanged as usual over the TLS session",
)
def transaction(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    probe.starttls(client)
    probe.rcpt(client=client)
    expect(probe.deliver(client, MESSAGE), 250)


@GROUP.check(
    "discards-transaction",
    "RFC 3207 4.2",
    "the protocol is reset by TLS: a MAIL given before STARTTLS is forgotten",
    level=Level.MUST,
    rule="after the handshake the server forgets everything from before it",
)
def discards(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    reply = client.command("MAIL FROM:<sender@example.test>")
    expect(reply, 250)
    if client.command("STARTTLS").code != 220:
        return  # refusing STARTTLS inside a transaction keeps the state sound
    client.starttls()
    probe.ehlo(client)
    expect(client.command("RCPT TO:<rcpt@example.test>"), 503, what="RCPT after TLS")


@GROUP.check(
    "starttls-parameter",
    "RFC 3207 4",
    "STARTTLS with a parameter gets 501",
    level=Level.MAY,
    rule="the server may refuse STARTTLS with a parameter (501)",
)
def parameter(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    expect(client.command("STARTTLS now"), 501)


@GROUP.check(
    "starttls-twice",
    "RFC 3207 4.2",
    "STARTTLS under TLS is refused (5xx)",
    level=Level.HARDENING,
    rule="STARTTLS inside TLS is refused rather than started again",
)
def twice(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    probe.starttls(client)
    expect(client.command("STARTTLS"), 5)


@GROUP.check(
    "plaintext-injection",
    "RFC 3207 4.2, CVE-2011-0411",
    "a command sent with STARTTLS in one write is not executed after the handshake",
    level=Level.MUST,
    rule="commands sent before the handshake are discarded, never run under TLS",
)
def injection(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    client.send(b"STARTTLS\r\nNOOP\r\n")
    expect(client.reply(), 220, what="STARTTLS")
    client.starttls()  # fails if a plaintext reply to NOOP came after the 220
    # An unknown verb cannot earn a 2xx: a 2xx first is the answer to the injected NOOP.
    first = client.command("XINJECTIONPROBE")
    if first.code // 100 == 2:
        raise CheckFailed(f"the injected NOOP was answered under TLS: {first}")
    expect(first, 500, 502, 503, what="probe command after TLS")


@GROUP.check(
    "ehlo-injection",
    "RFC 3207 4.2, CVE-2011-0411",
    "an EHLO pipelined after STARTTLS is not answered under TLS",
    level=Level.MUST,
    rule="commands sent before the handshake are discarded, never run under TLS",
)
def ehlo_injection(probe: Probe) -> None:
    plain_starttls(probe)
    client = probe.greeted()
    probe.ehlo(client)
    client.send(b"STARTTLS\r\nEHLO injected.example\r\n")
    expect(client.reply(), 220, what="STARTTLS")
    client.starttls()
    first = client.command("XINJECTIONPROBE")
    if first.code == 250:
        raise CheckFailed(f"the injected EHLO was answered under TLS: {first}")
    expect(first, 500, 502, 503, what="probe command after TLS")
    probe.ehlo(client)
