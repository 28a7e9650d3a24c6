"""TLS checks of what a server picks from a hand-built ClientHello: no compression, and no
cipher suite the BCP forbids when a client offers nothing better."""

from __future__ import annotations

from conformance.checks.tls import GROUP, control, hello_for, offer
from conformance.probe import Probe
from conformance.tls_hello import (
    ANONYMOUS_CIPHERS,
    DEFLATE,
    EXPORT_CIPHERS,
    LEGACY,
    MODERN,
    NO_COMPRESSION,
    NULL_CIPHERS,
    RC4_CIPHERS,
    STATIC_RSA,
    TLS12,
    client_hello,
)
from conformance.verdict import CheckFailed, CheckSkipped, Level


def refuse_ciphers(probe: Probe, ciphers: tuple[int, ...], kind: str) -> None:
    """Fail when the server picks one of `ciphers`, offered alone in a TLS 1.2 hello."""
    control(probe)
    answer = offer(probe, hello_for(probe, TLS12, ciphers))
    if answer.kind == "hello" and answer.cipher in ciphers:
        raise CheckFailed(f"{kind} cipher suite negotiated: {answer.describe()}")


@GROUP.check(
    "no-compression",
    "RFC 9325 3.3",
    "a ClientHello offering DEFLATE and no compression gets no compression",
    level=Level.SHOULD,
    rule="the server does not turn on TLS-level compression (CRIME)",
)
def no_compression(probe: Probe) -> None:
    name = probe.target.tls_name or probe.target.host
    hello = client_hello(
        TLS12, MODERN + LEGACY, server_name=name, compression=(DEFLATE, NO_COMPRESSION)
    )
    control(probe)
    answer = offer(probe, hello)
    if answer.kind != "hello":
        raise CheckSkipped(f"a hello that also offers compression gets {answer.describe()}")
    if answer.compression != NO_COMPRESSION:
        raise CheckFailed(f"compression method {answer.compression} chosen")


@GROUP.check(
    "no-null-cipher",
    "RFC 9325 4.1",
    "a ClientHello offering only NULL-encryption suites gets none of them",
    level=Level.MUST,
    rule="the server never negotiates a cipher suite without encryption",
)
def no_null(probe: Probe) -> None:
    refuse_ciphers(probe, NULL_CIPHERS, "a NULL-encryption")


@GROUP.check(
    "no-rc4-cipher",
    "RFC 7465 2, RFC 9325 4.1",
    "a ClientHello offering only RC4 suites gets none of them",
    level=Level.MUST,
    rule="the server never negotiates an RC4 cipher suite",
)
def no_rc4(probe: Probe) -> None:
    refuse_ciphers(probe, RC4_CIPHERS, "an RC4")


@GROUP.check(
    "no-export-cipher",
    "RFC 9325 4.1",
    "a ClientHello offering only export-grade and single-DES suites gets none of them",
    level=Level.MUST,
    rule="the server never negotiates a cipher suite weaker than 112 bits",
)
def no_export(probe: Probe) -> None:
    refuse_ciphers(probe, EXPORT_CIPHERS, "a sub-112-bit")


@GROUP.check(
    "no-static-rsa",
    "RFC 9325 4.1",
    "a ClientHello offering only static-RSA key transport suites gets none of them",
    level=Level.SHOULD,
    rule="the server avoids cipher suites without forward secrecy (static RSA)",
)
def no_static_rsa(probe: Probe) -> None:
    refuse_ciphers(probe, STATIC_RSA, "a static-RSA")


@GROUP.check(
    "no-anonymous-cipher",
    "RFC 9325 4.1, RFC 3207 4.1",
    "a ClientHello offering only anonymous suites gets none of them",
    level=Level.HARDENING,
    rule="the server always authenticates itself with a certificate (no anonymous suites); "
    "opportunistic SMTP may allow them, so this is hardening",
)
def no_anonymous(probe: Probe) -> None:
    refuse_ciphers(probe, ANONYMOUS_CIPHERS, "an anonymous")
