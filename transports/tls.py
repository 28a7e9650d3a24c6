"""TLS for the transports: server `SSLContext`s and the self-signed test certificate.

Builds contexts (TLS 1.2 or newer) from certificate files, from a caller's context, or
from a certificate generated in memory. Never touches a connection.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERTIFICATE_DAYS: Final = 90
_CN_MAX: Final = 64  # RFC 5280 ub-common-name

log = logging.getLogger("smtp_proto.transports")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class TlsSetup:
    """The context to wrap sockets with, and the generated certificate if one was made."""

    context: ssl.SSLContext
    certificate_pem: bytes | None = None


def new_context() -> ssl.SSLContext:
    """An empty server context: TLS 1.2 or newer, no compression, no renegotiation."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def context_from_files(cert_path: PathLike, key_path: PathLike | None = None) -> ssl.SSLContext:
    """A server context from PEM files.

    `cert_path` may hold the whole chain (leaf first) and, without `key_path`, the key too.
    Raises `OSError` when a file cannot be read, `ssl.SSLError` when it is not PEM or the
    key does not match.
    """
    context = new_context()
    context.load_cert_chain(os.fspath(cert_path), None if key_path is None else key_path)
    return context


def context_from_pem(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context from PEM bytes held in memory.

    `ssl` loads certificates only from files, so both go to a private temporary file
    (mode 0600) that is removed as soon as they are loaded.
    """
    fd, name = tempfile.mkstemp(prefix="smtp-proto-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(cert_pem + key_pem)
        return context_from_files(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()


def generate_certificate(
    common_name: str,
    alt_names: Sequence[str],
    *,
    days: int = CERTIFICATE_DAYS,
    now: datetime.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key, as PEM `(certificate, key)`; for testing only.

    The key is EC P-256 and never leaves memory here. `alt_names` become subjectAltName
    entries: address literals as IPAddress, everything else as DNSName.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    start = now or datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(minutes=5))
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if alt_names:
        builder = builder.add_extension(_alt_names(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _alt_names(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            address = ipaddress.ip_address(name.partition("%")[0])
        except ValueError:
            entries.append(x509.DNSName(name.encode("idna").decode("ascii")))
        else:
            entries.append(x509.IPAddress(address))
    return x509.SubjectAlternativeName(entries)


def served_names(hostname: str, hosts: Iterable[str], addresses: Iterable[str]) -> list[str]:
    """The names a generated certificate should cover, in order, without repeats.

    The server's hostname, each host name as configured (not `*`), each bound address
    (without an IPv6 `%scope`), and `localhost` when a loopback address is served.
    """
    names = [hostname]
    names += [host for host in hosts if host != "*"]
    for address in addresses:
        literal = address.partition("%")[0]
        names.append(literal)
        if ipaddress.ip_address(literal).is_loopback:
            names.append("localhost")
    return list(dict.fromkeys(names))


def setup(
    *,
    cert_path: PathLike | None,
    key_path: PathLike | None,
    ssl_context: ssl.SSLContext | None,
    common_name: str | None,
    alt_names: Sequence[str] | None,
    names: Sequence[str],
) -> TlsSetup:
    """The TLS context a server uses: the caller's, one from files, or a generated one.

    Generation uses `common_name` / `alt_names` when given, else `names` (see
    `served_names`), and logs a warning that the certificate is for testing only.
    """
    if ssl_context is not None:
        return TlsSetup(ssl_context)
    if cert_path is not None:
        return TlsSetup(context_from_files(cert_path, key_path))
    sans = list(alt_names) if alt_names is not None else list(names)
    cn = common_name or next((n for n in sans if len(n) <= _CN_MAX), "localhost")
    cert_pem, key_pem = generate_certificate(cn, sans)
    log.warning(
        "TLS: no certificate given, generated a self-signed one for %s (for testing only)",
        ", ".join(sans) or cn,
    )
    return TlsSetup(context_from_pem(cert_pem, key_pem), cert_pem)
