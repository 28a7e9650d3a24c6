"""TLS checks of the server's certificate: it names the server and is within its dates.

No trusted CA is required (the suite grades self-signed servers); only the name and the
dates are read, with `cryptography`, from the certificate the handshake delivered.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

from conformance.checks.tls import GROUP, secure_with
from conformance.client import client_tls_context
from conformance.probe import Probe, expect
from conformance.verdict import CheckFailed, Level

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def peer_certificate(probe: Probe) -> x509.Certificate:
    """The leaf certificate the server presents to a default client."""
    with secure_with(probe, client_tls_context()) as client:
        sock = client.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        raise CheckFailed("the server presented no certificate")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as err:
        raise CheckFailed(f"the certificate cannot be parsed: {err}") from err


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def dns_matches(pattern: str, name: str) -> bool:
    """RFC 6125 6.4.1, 6.4.3: labels compared without case; a "*" only as the whole
    leftmost label of the pattern, standing for exactly one label."""
    want = name.rstrip(".").lower().split(".")
    have = pattern.rstrip(".").lower().split(".")
    if len(want) != len(have):
        return False
    if have[0] == "*" and len(have) > 2:
        return have[1:] == want[1:]
    return have == want


def certificate_names(cert: x509.Certificate) -> tuple[list[str], list[Address]]:
    """The DNS names and addresses the certificate is for: its subjectAltName entries, or
    its subject common name when it has no subjectAltName (RFC 6125 6.4.4)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(a.value) for a in cns], []
    addresses = [a for a in san.get_values_for_type(x509.IPAddress) if isinstance(a, Address)]
    return san.get_values_for_type(x509.DNSName), addresses


def names_server(cert: x509.Certificate, name: str) -> bool:
    """True when the certificate is for `name`, a host name or an address literal."""
    dns, addresses = certificate_names(cert)
    address = _address(name)
    if address is not None:
        return address in addresses
    return any(dns_matches(pattern, name) for pattern in dns)


def greeting_domain(probe: Probe) -> str:
    """The domain the server names in its 220 greeting."""
    reply = expect(probe.connect().reply(), 220, what="greeting")
    return reply.lines[0].split(" ", 1)[0]


@GROUP.check(
    "certificate-names-server",
    "RFC 8314 4.4, RFC 6125 6.4",
    "the certificate's subjectAltName covers the name the client connected to",
    level=Level.SHOULD,
    rule="the certificate names the server (--tls-name, the host, or for an address the "
    "address or the greeting's domain); a relay may decide authenticity locally",
)
def names(probe: Probe) -> None:
    cert = peer_certificate(probe)
    wanted = [probe.target.tls_name or probe.target.host]
    if probe.target.tls_name is None and _address(probe.target.host) is not None:
        wanted.append(greeting_domain(probe))
    if not any(names_server(cert, name) for name in wanted):
        dns, addresses = certificate_names(cert)
        listed = ", ".join([*dns, *map(str, addresses)]) or "nothing"
        raise CheckFailed(f"the certificate is for {listed}, not {' or '.join(wanted)}")


@GROUP.check(
    "certificate-current",
    "RFC 8314 4.4, RFC 5280 4.1.2.5",
    "the certificate's validity period includes the present time",
    level=Level.SHOULD,
    rule="the server presents a certificate that has not expired and is already valid",
)
def current(probe: Probe) -> None:
    cert = peer_certificate(probe)
    now = datetime.datetime.now(datetime.UTC)
    if now < cert.not_valid_before_utc:
        raise CheckFailed(f"the certificate is valid only from {cert.not_valid_before_utc}")
    if now > cert.not_valid_after_utc:
        raise CheckFailed(f"the certificate expired on {cert.not_valid_after_utc}")
