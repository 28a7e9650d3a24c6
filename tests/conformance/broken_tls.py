"""Broken-server TLS faults for the tls checks: server contexts with weak settings or bad
certificates, and sessions that mishandle the handshake.

Where this machine's OpenSSL cannot negotiate what a check forbids (SSL 3.0, RC4, export
suites, compression), `AgreesToAnything` answers the hand-built ClientHello with a forged
ServerHello instead: the checks read no further than that.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import struct
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.conformance.broken_server import Session

_HANDSHAKE = 22
_SUPPORTED_VERSIONS = 0x002B
_EXTENDED_MASTER_SECRET = 0x0017  # RFC 7627: every OpenSSL client sends it
_TLS12 = 0x0303
_HELLO_WAIT = 0.5  # seconds to wait for the rest of a ClientHello before giving up on it


def certificate_context(
    directory: Path,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    *,
    days: tuple[int, int] = (-1, 1),
    use_rsa: bool = False,
) -> ssl.SSLContext:
    """A server context with a self-signed certificate for `names`, valid from days[0] to
    days[1] counted from today; an RSA key when `use_rsa`, else EC P-256."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = (
        rsa.generate_private_key(65537, 2048)
        if use_rsa
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName(entries), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{names[0]}-{days[0]}-{days[1]}-{'rsa' if use_rsa else 'ec'}.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(path)
    return ctx


def weaken(ctx: ssl.SSLContext, ciphers: str, *, old_versions: bool = False) -> ssl.SSLContext:
    """`ctx` with the OpenSSL cipher string `ciphers` and, with `old_versions`, TLS 1.0 and
    1.1 allowed again (both need security level 0 on OpenSSL 3)."""
    ctx.set_ciphers(ciphers)
    if old_versions:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the fault is the point
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


@dataclass(frozen=True, slots=True)
class Hello:
    """What a ClientHello offers."""

    version: int
    ciphers: tuple[int, ...]
    compression: bytes
    versions: tuple[int, ...]  # from supported_versions; () when it has none
    extensions: tuple[int, ...]  # the extension types, in order


def complete(record: bytes) -> bool:
    """True when `record` holds at least one whole TLS record."""
    return len(record) >= 5 and len(record) >= 5 + int.from_bytes(record[3:5], "big")


def parse_hello(record: bytes) -> Hello | None:
    """The offer of a whole ClientHello record, or None for anything else."""
    if not complete(record) or record[0] != _HANDSHAKE:
        return None
    try:
        body = record[9 : 5 + int.from_bytes(record[3:5], "big")]
        at = 35 + body[34]
        count = struct.unpack("!H", body[at : at + 2])[0]
        ciphers = struct.unpack(f"!{count // 2}H", body[at + 2 : at + 2 + count])
        at += 2 + count
        compression = body[at + 1 : at + 1 + body[at]]
        at += 1 + body[at] + 2
        versions: tuple[int, ...] = ()
        kinds: list[int] = []
        while at + 4 <= len(body):
            kind, size = struct.unpack("!HH", body[at : at + 4])
            kinds.append(kind)
            if kind == _SUPPORTED_VERSIONS:
                data = body[at + 5 : at + 4 + size]
                versions = struct.unpack(f"!{len(data) // 2}H", data)
            at += 4 + size
    except (IndexError, struct.error):
        return None
    version = struct.unpack("!H", body[:2])[0]
    return Hello(version, ciphers, compression, versions, tuple(kinds))


class _HandshakeSession(Session):
    """Runs STARTTLS itself so a fault can look at the ClientHello before the handshake."""

    def starttls(self, arg: str) -> None:
        if arg or self.tls or self.server.tls is None:
            super().starttls(arg)
            return
        self.send("220 go ahead")
        self.buffer = b""
        context = self.choose(self.peek_record())
        if context is None:
            return
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.tls, self.greeted, self.mail, self.rcpts = True, False, False, 0

    def choose(self, record: bytes) -> ssl.SSLContext | None:
        """The context to run the handshake with, or None when the session goes on without."""
        assert self.server.tls is not None
        return self.server.tls

    def peek_record(self) -> bytes:
        """The client's first TLS record, left unread; shorter if it stops coming."""
        deadline = time.monotonic() + _HELLO_WAIT
        data = self.sock.recv(16384, socket.MSG_PEEK)
        while data and not complete(data) and time.monotonic() < deadline:
            time.sleep(0.005)  # MSG_PEEK cannot block for more bytes than it saw
            data = self.sock.recv(16384, socket.MSG_PEEK)
        return data


class AgreesToAnything(_HandshakeSession):
    """Answers a ClientHello without extended_master_secret (a hand-built one, not
    OpenSSL's) with a forged ServerHello taking its version, first cipher suite and first
    compression method."""

    def choose(self, record: bytes) -> ssl.SSLContext | None:
        hello = parse_hello(record)
        if hello is None or _EXTENDED_MASTER_SECRET in hello.extensions:
            return super().choose(record)
        self.sock.recv(len(record))
        version = min(hello.version, _TLS12)
        body = struct.pack("!H", version) + bytes(32) + b"\x00"
        body += struct.pack("!H", hello.ciphers[0]) + hello.compression[:1] + b"\x00\x00"
        message = b"\x02" + len(body).to_bytes(3, "big") + body
        self.sock.sendall(struct.pack("!BHH", _HANDSHAKE, version, len(message)) + message)
        self.after_hello()
        return None

    def after_hello(self) -> None:
        """What follows the forged ServerHello: the end of the connection."""
        self.sock.shutdown(socket.SHUT_RDWR)


class SwallowsGarbage(AgreesToAnything):
    """After its forged ServerHello, reads whatever comes until the client leaves."""

    def after_hello(self) -> None:
        while self.sock.recv(65536):
            pass
        self.sock.shutdown(socket.SHUT_RDWR)


class FallsBackToClearText(_HandshakeSession):
    """Goes on in clear text when what follows the 220 is no TLS handshake."""

    def choose(self, record: bytes) -> ssl.SSLContext | None:
        return super().choose(record) if record[:1] == bytes([_HANDSHAKE]) else None


class CrashesOnTruncatedHello(_HandshakeSession):
    """Stops the whole server when a client hangs up before its ClientHello is complete."""

    def choose(self, record: bytes) -> ssl.SSLContext | None:
        if record[:1] != bytes([_HANDSHAKE]) or complete(record):
            return super().choose(record)
        while self.sock.recv(65536):
            pass  # the rest never comes: read to the client's end of stream
        self.server.crash()
        return None


class PrefersTls12(_HandshakeSession):
    """Has TLS 1.3 but runs TLS 1.2 for any client that also offers 1.2."""

    TLS12_CONTEXT: ClassVar[ssl.SSLContext | None] = None

    def choose(self, record: bytes) -> ssl.SSLContext | None:
        hello = parse_hello(record)
        if hello is not None and _TLS12 in hello.versions and self.TLS12_CONTEXT is not None:
            return self.TLS12_CONTEXT
        return super().choose(record)


def prefers_tls12(tls12: ssl.SSLContext) -> type[Session]:
    """A `PrefersTls12` session class whose TLS 1.2 handshakes use `tls12`."""
    return type("PrefersTls12With", (PrefersTls12,), {"TLS12_CONTEXT": tls12})


class RemembersEhlo(Session):
    """Keeps the EHLO of the clear-text session after STARTTLS."""

    def starttls(self, arg: str) -> None:
        greeted = self.greeted
        super().starttls(arg)
        self.greeted = self.greeted or greeted
