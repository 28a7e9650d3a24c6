"""The PROXY protocol header (HAProxy's spec, v1 text and v2 binary), read without I/O.

A load balancer that speaks it sends one header before the client's first byte, naming the
client and the address it connected to. `read_proxy_header` looks at the octets received so
far: it gives the header and its length once complete, None while more is needed, and raises
`ProxyHeaderError` as soon as the octets cannot begin a valid header. It depends only on the
octets, never on how they were split into reads, and never needs more than a bounded prefix
(v1: 107 octets; v2: 16 plus the address block and at most `max_tlvs` octets of TLVs).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX: Final = 107  # the longest v1 line, CRLF included
_V1_PREFIX: Final = b"PROXY "
_V1: Final = re.compile(
    rb"PROXY (?:UNKNOWN(?: [\x20-\x7e]*)?|(TCP[46]) ([0-9a-fA-F.:]+) ([0-9a-fA-F.:]+) "
    rb"(0|[1-9][0-9]{0,4}) (0|[1-9][0-9]{0,4}))\r\n"
)
_V2_HEAD: Final = 16  # signature, version and command, family, length
_ANY_MIN: Final = 15  # the shortest header: "PROXY UNKNOWN\r\n" (v2's is 16)
# v2 address block sizes by family byte (address family << 4 | transport protocol).
_V2_ADDRESSES: Final = {0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}
_V2_FAMILIES: Final = {0x1: "TCP4", 0x2: "TCP6", 0x3: "UNIX"}


class ProxyVersion(enum.Enum):
    """Which PROXY header a server expects first."""

    V1 = "v1"
    V2 = "v2"
    ANY = "any"


class ProxyHeaderError(ValueError):
    """The octets cannot begin a valid PROXY header: the connection is closed unanswered."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What a PROXY header says.

    `command` is "PROXY" (a relayed client) or "LOCAL" (v2: the proxy speaks for itself,
    e.g. a health check: the connection's own addresses stand). `family` is "TCP4", "TCP6",
    "UNIX" or "UNKNOWN"; `source` and `destination` are (address, port), or None when the
    header names none. `tlvs` are v2's type-length-value entries in order.
    """

    version: int
    command: str
    family: str
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, kind: int) -> bytes | None:
        """The value of the first TLV of `kind` (0x01 ALPN, 0x02 authority, 0x05 unique
        id, 0x20 SSL, ...), or None."""
        return next((value for k, value in self.tlvs if k == kind), None)

    @property
    def alpn(self) -> bytes | None:
        """The protocol the client negotiated with the proxy (TLV 0x01), if any."""
        return self.tlv(0x01)

    @property
    def authority(self) -> str | None:
        """The host name the client asked for, SNI (TLV 0x02), if any."""
        value = self.tlv(0x02)
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def unique_id(self) -> bytes | None:
        """The proxy's identifier for the connection (TLV 0x05), if any."""
        return self.tlv(0x05)

    @property
    def ssl(self) -> ProxySsl | None:
        """What the proxy says of the client's TLS (TLV 0x20), if it sent it."""
        value = self.tlv(0x20)
        return None if value is None else ProxySsl.decode(value)


@dataclass(frozen=True, slots=True)
class ProxySsl:
    """The SSL TLV of a v2 header: the client's TLS as the proxy saw it.

    `client` holds the flags (0x01 TLS used, 0x02 a client certificate on this
    connection, 0x04 one in the session); `verified` is True when the certificate, if
    any, was verified (the spec's `verify` field is 0). The strings are empty when absent.
    """

    client: int
    verified: bool
    version: str = ""
    common_name: str = ""
    cipher: str = ""
    signature_algorithm: str = ""
    key_algorithm: str = ""

    @classmethod
    def decode(cls, value: bytes) -> ProxySsl:
        """Read the TLV's value; `ProxyHeaderError` when it is cut short."""
        if len(value) < 5:
            raise ProxyHeaderError("a PROXY v2 SSL TLV cut short")
        names = {0x21: "version", 0x22: "common_name", 0x23: "cipher",
                 0x24: "signature_algorithm", 0x25: "key_algorithm"}  # fmt: skip
        fields = {
            names[kind]: text.decode("utf-8", "replace")
            for kind, text in _tlvs(value[5:])
            if kind in names
        }
        verify = int.from_bytes(value[1:5], "big")
        return cls(value[0], verify == 0, **fields)


def read_proxy_header(
    data: bytes | bytearray, version: ProxyVersion = ProxyVersion.ANY, *, max_tlvs: int = 2048
) -> tuple[ProxyHeader, int] | None:
    """The header at the start of `data` and its length in octets, or None when `data` is
    a valid beginning that needs more; `ProxyHeaderError` when it cannot be one."""
    if not data:
        return None
    if data[:1] == b"P" and version is not ProxyVersion.V2:
        return _read_v1(data)
    if data[:1] == b"\r" and version is not ProxyVersion.V1:
        return _read_v2(data, max_tlvs)
    raise ProxyHeaderError(f"not a PROXY {version.value} header: {bytes(data[:16])!r}")


def octets_wanted(
    data: bytes | bytearray, version: ProxyVersion = ProxyVersion.ANY, *, max_tlvs: int = 2048
) -> int:
    """How many octets may still be read after `data` without reading past the header:
    0 once `data` holds a whole header or can no longer begin one.

    For a transport that must leave what follows the header in the socket (the TLS
    handshake of an implicit-TLS listener): read at most this many, and ask again.
    """
    if len(data) < _ANY_MIN:
        return _ANY_MIN - len(data)
    try:
        if read_proxy_header(data, version, max_tlvs=max_tlvs) is not None:
            return 0
    except ProxyHeaderError:
        return 0
    if data[:1] == b"P":
        return 1  # v1: its end is the CRLF, one octet may be the last
    if len(data) < _V2_HEAD:
        return _V2_HEAD - len(data)
    return _V2_HEAD + int.from_bytes(data[14:16], "big") - len(data)


def _read_v1(data: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
    prefix = bytes(data[: len(_V1_PREFIX)])
    if not _V1_PREFIX.startswith(prefix):
        raise ProxyHeaderError(f"not a PROXY v1 header: {prefix!r}")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data[:V1_MAX]:
            raise ProxyHeaderError("a PROXY v1 line longer than 107 octets or without CRLF")
        return None
    line = bytes(data[: end + 2])
    m = _V1.fullmatch(line)
    if m is None:
        raise ProxyHeaderError(f"a malformed PROXY v1 line: {line!r}")
    if m.group(1) is None:
        return ProxyHeader(1, "PROXY", "UNKNOWN"), len(line)
    family = m.group(1).decode()
    kind = ipaddress.IPv4Address if family == "TCP4" else ipaddress.IPv6Address
    try:
        source = str(kind(m.group(2).decode()))
        destination = str(kind(m.group(3).decode()))
    except ValueError as err:
        raise ProxyHeaderError(f"a PROXY v1 address that is not {family}: {err}") from err
    ports = int(m.group(4)), int(m.group(5))
    if max(ports) > 0xFFFF:
        raise ProxyHeaderError(f"a PROXY v1 port out of range: {ports}")
    return ProxyHeader(1, "PROXY", family, (source, ports[0]), (destination, ports[1])), len(line)


def _read_v2(data: bytes | bytearray, max_tlvs: int) -> tuple[ProxyHeader, int] | None:
    seen = bytes(data[: len(V2_SIGNATURE)])
    if not V2_SIGNATURE.startswith(seen):
        raise ProxyHeaderError(f"not a PROXY v2 signature: {seen!r}")
    if len(data) < _V2_HEAD:
        if len(data) > 12 and data[12] >> 4 != 2:
            raise ProxyHeaderError(f"PROXY v2 with version {data[12] >> 4}")
        return None
    command, family = data[12], data[13]
    length = int.from_bytes(data[14:16], "big")
    if command >> 4 != 2 or command & 0xF > 1:
        raise ProxyHeaderError(f"PROXY v2 with version/command byte {command:#04x}")
    addresses = _V2_ADDRESSES.get(family, 0)
    if family not in _V2_ADDRESSES and family >> 4 and command & 0xF:
        raise ProxyHeaderError(f"PROXY v2 with address family byte {family:#04x}")
    if length < addresses or length - addresses > max_tlvs:
        raise ProxyHeaderError(f"PROXY v2 with {length} octets after its head")
    if len(data) < _V2_HEAD + length:
        return None
    body = bytes(data[_V2_HEAD : _V2_HEAD + length])
    tlvs = _tlvs(body[addresses:], top=True)
    total = _V2_HEAD + length
    if command & 0xF == 0:  # LOCAL: the proxy's own connection, whatever the family says
        return ProxyHeader(2, "LOCAL", "UNKNOWN", tlvs=tlvs), total
    if addresses == 0:
        return ProxyHeader(2, "PROXY", "UNKNOWN", tlvs=tlvs), total
    name = _V2_FAMILIES[family >> 4]
    source, destination = _v2_addresses(name, body[:addresses])
    return ProxyHeader(2, "PROXY", name, source, destination, tlvs), total


def _v2_addresses(family: str, block: bytes) -> tuple[tuple[str, int], tuple[str, int]]:
    if family == "UNIX":
        paths = [block[:108], block[108:216]]
        src, dst = (p.split(b"\0", 1)[0].decode("utf-8", "replace") for p in paths)
        return (src, 0), (dst, 0)
    size = 4 if family == "TCP4" else 16
    src = str(ipaddress.ip_address(block[:size]))
    dst = str(ipaddress.ip_address(block[size : 2 * size]))
    ports = block[2 * size : 2 * size + 2], block[2 * size + 2 : 2 * size + 4]
    return (src, int.from_bytes(ports[0], "big")), (dst, int.from_bytes(ports[1], "big"))


def _tlvs(block: bytes, *, top: bool = False) -> tuple[tuple[int, bytes], ...]:
    """The TLVs in `block`; at the `top` level an SSL TLV is read too, so that a malformed
    one refuses the header at once rather than when it is used."""
    found, pos = [], 0
    while pos < len(block):
        if len(block) - pos < 3:
            raise ProxyHeaderError("a PROXY v2 TLV cut short")
        kind, size = block[pos], int.from_bytes(block[pos + 1 : pos + 3], "big")
        value = block[pos + 3 : pos + 3 + size]
        if len(value) < size:
            raise ProxyHeaderError(f"a PROXY v2 TLV of {size} octets cut short")
        if top and kind == 0x20:
            ProxySsl.decode(value)
        found.append((kind, value))
        pos += 3 + size
    return tuple(found)
