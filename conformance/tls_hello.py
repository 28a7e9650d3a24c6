"""A hand-built TLS ClientHello and a reader for the server's first answer to it.

The checks offer versions, cipher suites and compression that this machine's OpenSSL may no
longer speak (SSL 3.0, RC4, export ciphers, DEFLATE), so they write the ClientHello bytes
themselves and read only the ServerHello: what the server picks, or its refusal. Never
completes a handshake and never imports the project's server code.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

# Protocol versions as they appear on the wire (RFC 8446 4.1.2, legacy_version).
SSL3: Final = 0x0300
TLS10: Final = 0x0301
TLS11: Final = 0x0302
TLS12: Final = 0x0303
VERSION_NAMES: Final = {SSL3: "SSL 3.0", TLS10: "TLS 1.0", TLS11: "TLS 1.1", TLS12: "TLS 1.2"}

# Suites a sound TLS 1.0-1.2 server takes: ECDHE and DHE with AES, then static RSA.
MODERN: Final = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009E, 0x009F)
LEGACY: Final = (0xC009, 0xC013, 0xC00A, 0xC014, 0x0033, 0x0039, 0x002F, 0x0035, 0x000A)
STATIC_RSA: Final = (0x009C, 0x009D, 0x003C, 0x003D, 0x002F, 0x0035)
# Suites RFC 9325 4.1 and RFC 7465 forbid, and anonymous ones (no server certificate).
NULL_CIPHERS: Final = (0xC006, 0xC010, 0x003B, 0x0002, 0x0001, 0xC015)
RC4_CIPHERS: Final = (0xC007, 0xC011, 0x0005, 0x0004, 0xC016, 0x0018)
EXPORT_CIPHERS: Final = (0x0003, 0x0006, 0x0008, 0x0014, 0x0011, 0x0009, 0x0015, 0x0012)
ANONYMOUS_CIPHERS: Final = (0xC018, 0xC019, 0x00A6, 0x00A7, 0x006C, 0x006D, 0x0034, 0x003A)
_SCSV: Final = 0x00FF  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV, RFC 5746 3.3

NO_COMPRESSION: Final = 0
DEFLATE: Final = 1  # RFC 3749

_HANDSHAKE: Final = 22
_ALERT: Final = 21
_CLIENT_HELLO: Final = 1
_SERVER_HELLO: Final = 2
_GROUPS: Final = (0x001D, 0x0017, 0x0018, 0x0100)  # x25519, P-256, P-384, ffdhe2048
_SIGNATURES: Final = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
_OLD_SIGNATURES: Final = (0x0203, 0x0201)  # SHA-1, which a TLS 1.0 server may insist on


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's first answer to a ClientHello: a ServerHello, an alert, or a close.

    `version`, `cipher` and `compression` are those the ServerHello chose; `alert` is the
    alert description (RFC 8446 6); `data` is what arrived, for a reason text.
    """

    kind: str  # "hello", "alert", "closed", "silent" or "other"
    version: int = 0
    cipher: int = 0
    compression: int = 0
    alert: int = 0
    data: bytes = b""

    def describe(self) -> str:
        """A short account for a check's reason."""
        if self.kind == "hello":
            name = VERSION_NAMES.get(self.version, f"0x{self.version:04x}")
            extra = f", compression {self.compression}" if self.compression else ""
            return f"ServerHello: {name}, cipher suite 0x{self.cipher:04x}{extra}"
        if self.kind == "alert":
            return f"TLS alert {self.alert}"
        if self.kind in ("closed", "silent"):
            return "connection closed" if self.kind == "closed" else "no answer"
        return f"unexpected bytes {self.data[:16]!r}"


def client_hello(
    version: int,
    ciphers: tuple[int, ...],
    *,
    server_name: str | None = None,
    compression: tuple[int, ...] = (NO_COMPRESSION,),
    random: bytes = bytes(range(32)),
) -> bytes:
    """One TLS record holding a ClientHello that offers `version` (no supported_versions
    extension, so a TLS 1.3 server answers as 1.2 or lower), `ciphers` and `compression`.
    `server_name` goes into SNI unless it is an address literal."""
    suites = b"".join(struct.pack("!H", c) for c in (*ciphers, _SCSV))
    methods = bytes(compression)
    body = (
        struct.pack("!H", version)
        + random
        + b"\x00"  # no session id
        + struct.pack("!H", len(suites))
        + suites
        + bytes([len(methods)])
        + methods
    )
    extensions = _extensions(server_name)
    body += struct.pack("!H", len(extensions)) + extensions
    message = bytes([_CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body
    # Record version 1.0 for every hello, as clients do (RFC 8446 5.1); SSL 3.0 for SSL 3.0.
    record_version = SSL3 if version == SSL3 else TLS10
    return struct.pack("!BHH", _HANDSHAKE, record_version, len(message)) + message


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _u16_list(values: tuple[int, ...]) -> bytes:
    packed = b"".join(struct.pack("!H", v) for v in values)
    return struct.pack("!H", len(packed)) + packed


def _extensions(server_name: str | None) -> bytes:
    out = b""
    if server_name and not _is_address(server_name):
        name = server_name.encode("idna")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        out += _extension(0, struct.pack("!H", len(entry)) + entry)
    out += _extension(10, _u16_list(_GROUPS))  # supported_groups
    out += _extension(11, b"\x01\x00")  # ec_point_formats: uncompressed
    out += _extension(13, _u16_list(_SIGNATURES + _OLD_SIGNATURES))  # signature_algorithms
    return out


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def parse_answer(data: bytes) -> Answer | None:
    """The server's answer read from the first bytes it sent after a ClientHello, or None
    while more bytes are needed; `data == b""` with the connection closed means "closed"."""
    if len(data) < 5:
        return None
    kind, _, length = struct.unpack("!BHH", data[:5])
    if kind == _ALERT:
        return Answer("alert", alert=data[6], data=data) if len(data) >= 7 else None
    if kind != _HANDSHAKE:
        return Answer("other", data=data)
    fragment = data[5 : 5 + length]
    if len(fragment) < 4:
        return None if len(data) < 5 + length else Answer("other", data=data)
    if fragment[0] != _SERVER_HELLO:
        return Answer("other", data=data)
    body = fragment[4 : 4 + int.from_bytes(fragment[1:4], "big")]
    if len(body) < 38:
        return None if len(data) < 5 + length else Answer("other", data=data)
    session = body[34]
    at = 35 + session
    if len(body) < at + 3:
        return Answer("other", data=data)
    version = struct.unpack("!H", body[:2])[0]
    cipher = struct.unpack("!H", body[at : at + 2])[0]
    return Answer("hello", version, cipher, body[at + 2], data=data)
