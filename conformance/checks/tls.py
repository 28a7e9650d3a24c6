"""TLS checks: protocol versions (this module), cipher suites, certificate and handshake
failures (tls_ciphers, tls_certificate, tls_handshake add to the same group).

Each check reaches the TLS handshake over STARTTLS, or straight away with --tls-implicit,
and skips when the server offers no TLS at all. Checks of what the server must refuse send
a hand-built ClientHello (conformance.tls_hello), so they do not depend on what this
machine's OpenSSL still offers.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterator

from conformance.client import Client, client_tls_context
from conformance.probe import Probe, expect, make_proxy_header
from conformance.registry import Group
from conformance.tls_hello import (
    LEGACY,
    MODERN,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    VERSION_NAMES,
    Answer,
    client_hello,
    parse_answer,
)
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("tls", "TLS: protocol versions, certificate, handshake")


def _connect_raw(probe: Probe) -> Client:
    """A plain TCP connection (PROXY header first with --proxy), nothing read yet."""
    t = probe.target
    probe.transcript.add("*R", f"connect {t.host}:{t.port}, TLS not started".encode())
    try:
        sock = socket.create_connection((t.host, t.port), timeout=t.timeout)
    except OSError as err:
        raise CheckFailed(f"cannot connect: {err}") from err
    if t.proxy is not None:
        header = make_proxy_header(t.proxy, sock.getsockname(), sock.getpeername())
        probe.transcript.add("CR", header)
        sock.sendall(header)
    return Client(sock, probe.transcript, t.timeout, "R")  # "R": raw, apart from the probe's


@contextlib.contextmanager
def before_handshake(probe: Probe) -> Iterator[Client]:
    """A connection whose next bytes the server reads as the TLS handshake: after the 220
    to STARTTLS, or a fresh one with implicit TLS. Skips when there is no TLS at all."""
    if probe.target.tls_implicit:
        client = _connect_raw(probe)
        try:
            yield client
        finally:
            client.close()
        return
    if "STARTTLS" not in probe.caps.plain:
        raise CheckSkipped("STARTTLS not advertised")
    client = probe.greeted()  # the probe closes it
    probe.ehlo(client)
    expect(client.command("STARTTLS"), 220, what="STARTTLS")
    yield client


@contextlib.contextmanager
def secure_with(probe: Probe, context: ssl.SSLContext) -> Iterator[Client]:
    """A connection after a TLS handshake with `context` (and, with implicit TLS, the 220
    greeting read), before any EHLO under TLS; a failed handshake fails the check."""
    with before_handshake(probe) as client:
        client.starttls(probe.target.tls_name or probe.target.host, context)
        probe.transcript.add("*", _negotiated(client).encode())
        if probe.target.tls_implicit:
            expect(client.reply(), 220, what="greeting")
        yield client


def _negotiated(client: Client) -> str:
    sock = client.sock
    if not isinstance(sock, ssl.SSLSocket):
        return "no TLS"
    cipher = sock.cipher()
    return f"negotiated {sock.version()}, {cipher[0] if cipher else 'no cipher'}"


def version_context(lowest: ssl.TLSVersion, highest: ssl.TLSVersion) -> ssl.SSLContext:
    """A client context that offers only versions `lowest` to `highest`."""
    ctx = client_tls_context()
    ctx.minimum_version = lowest
    ctx.maximum_version = highest
    return ctx


def offer(probe: Probe, hello: bytes) -> Answer:
    """Send a hand-built ClientHello where the handshake belongs; the server's answer. A
    server silent for the whole time-out negotiated nothing either ("silent")."""
    with before_handshake(probe) as client:
        client.send(hello)
        return read_answer(probe, client)


def read_answer(probe: Probe, client: Client) -> Answer:
    """The server's answer to the ClientHello just sent on `client`."""
    data = b""
    deadline = time.monotonic() + probe.target.timeout
    while (answer := parse_answer(data)) is None:
        more = client.receive(max(0.0, deadline - time.monotonic()))
        if more is None:
            return Answer("silent", data=data)
        if not more:
            return Answer("closed" if len(data) == 0 else "other", data=data)
        data += more
    return answer


def hello_for(probe: Probe, version: int, ciphers: tuple[int, ...]) -> bytes:
    """A ClientHello for the target's host name (SNI unless an address)."""
    return client_hello(version, ciphers, server_name=probe.target.tls_name or probe.target.host)


def control(probe: Probe) -> None:
    """Skip unless the server answers a hand-built TLS 1.2 ClientHello with a ServerHello:
    otherwise a refusal of an older or weaker hello would say nothing."""
    answer = offer(probe, hello_for(probe, TLS12, MODERN + LEGACY))
    if answer.kind != "hello":
        raise CheckSkipped(
            f"the server refused a sound hand-built TLS 1.2 ClientHello too ({answer.describe()})"
        )


def refuse_version(probe: Probe, version: int) -> None:
    """Fail when the server agrees to `version` offered on its own."""
    control(probe)
    answer = offer(probe, hello_for(probe, version, MODERN + LEGACY))
    if answer.kind == "hello" and answer.version <= version:
        raise CheckFailed(f"{VERSION_NAMES[version]} negotiated: {answer.describe()}")


@GROUP.check(
    "tls12",
    "RFC 9325 3.1.1",
    "a client offering TLS 1.2 only completes the handshake",
    level=Level.MUST,
    rule="the server supports TLS 1.2",
)
def tls12(probe: Probe) -> None:
    version = ssl.TLSVersion.TLSv1_2
    with secure_with(probe, version_context(version, version)) as client:
        probe.ehlo(client)


@GROUP.check(
    "tls13",
    "RFC 9325 3.1.1",
    "a client offering TLS 1.3 only completes the handshake",
    level=Level.SHOULD,
    rule="the server supports TLS 1.3",
)
def tls13(probe: Probe) -> None:
    version = ssl.TLSVersion.TLSv1_3
    if not ssl.HAS_TLSv1_3:
        raise CheckSkipped("this machine's OpenSSL cannot offer TLS 1.3")
    with secure_with(probe, version_context(version, version)) as client:
        probe.ehlo(client)


@GROUP.check(
    "prefers-tls13",
    "RFC 9325 3.1.1",
    "a client offering TLS 1.2 and 1.3 gets TLS 1.3 from a server that has it",
    level=Level.MUST,
    rule="a server that implements TLS 1.3 prefers it to earlier versions",
)
def prefers_tls13(probe: Probe) -> None:
    if not ssl.HAS_TLSv1_3:
        raise CheckSkipped("this machine's OpenSSL cannot offer TLS 1.3")
    only13 = ssl.TLSVersion.TLSv1_3
    try:
        with secure_with(probe, version_context(only13, only13)):
            pass
    except CheckFailed as err:
        raise CheckSkipped(f"the server does not implement TLS 1.3 ({err})") from err
    with secure_with(probe, version_context(ssl.TLSVersion.TLSv1_2, only13)) as client:
        sock = client.sock
        if isinstance(sock, ssl.SSLSocket) and sock.version() != "TLSv1.3":
            raise CheckFailed(f"{sock.version()} negotiated although the server has TLS 1.3")


@GROUP.check(
    "refuses-tls11",
    "RFC 8996 5, RFC 9325 3.1.1",
    "a ClientHello offering TLS 1.1 at most gets no ServerHello for TLS 1.1",
    level=Level.MUST,
    rule="the server never negotiates TLS 1.1",
)
def refuses_tls11(probe: Probe) -> None:
    refuse_version(probe, TLS11)


@GROUP.check(
    "refuses-tls10",
    "RFC 8996 4, RFC 9325 3.1.1",
    "a ClientHello offering TLS 1.0 at most gets no ServerHello for TLS 1.0",
    level=Level.MUST,
    rule="the server never negotiates TLS 1.0",
)
def refuses_tls10(probe: Probe) -> None:
    refuse_version(probe, TLS10)


@GROUP.check(
    "refuses-ssl3",
    "RFC 7568 3",
    "a ClientHello offering SSL 3.0 at most gets no ServerHello for SSL 3.0",
    level=Level.MUST,
    rule="the server never negotiates SSL 3.0",
)
def refuses_ssl3(probe: Probe) -> None:
    refuse_version(probe, SSL3)
