"""XCLIENT (Postfix's extension): a trusted front end or test harness names the client.

`XCLIENT NAME=mx.example ADDR=192.0.2.9 PORT=56324 ...`: each value xtext-encoded (RFC 3461
4), "[UNAVAILABLE]" when the front end does not know it and, for NAME, "[TEMPUNAVAIL]" when
its lookup failed for now. `read_attributes` checks and decodes them, without I/O.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from smtp_proto.params import ParamError, xtext_decode

ATTRIBUTES: Final = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT")
UNAVAILABLE: Final = "[UNAVAILABLE]"
TEMPUNAVAIL: Final = "[TEMPUNAVAIL]"
_UNKNOWN: Final = frozenset({UNAVAILABLE, TEMPUNAVAIL})
_NAME_MAX: Final = 255  # a host name, or a HELO argument


class XclientError(ValueError):
    """An XCLIENT line that cannot be taken: 501 5.5.4 with this text."""


def read_attributes(arg: str) -> tuple[tuple[str, str], ...]:
    """The (NAME, value) pairs of an XCLIENT argument in order, names upper-cased, values
    decoded and checked; `XclientError` names the first one that is wrong."""
    items = arg.split()
    if not items:
        raise XclientError("XCLIENT needs at least one attribute")
    found: list[tuple[str, str]] = []
    for item in items:
        name, sep, encoded = item.partition("=")
        name = name.upper()
        if not sep or name not in ATTRIBUTES:
            shown = f": {name}" if name.isascii() and name.isalpha() and len(name) <= 20 else ""
            raise XclientError(f"Bad XCLIENT attribute{shown}")
        try:
            value = xtext_decode(encoded)
        except ParamError as err:
            raise XclientError(f"Bad XCLIENT {name} value: not xtext") from err
        found.append((name, _checked(name, value)))
    return tuple(found)


def _checked(name: str, value: str) -> str:
    """`value` as the attribute keeps it (an address without its IPV6: prefix, PROTO upper-
    cased); `XclientError` when it is not one the attribute takes."""
    if value in _UNKNOWN:
        if value == TEMPUNAVAIL and name != "NAME":
            raise XclientError(f"Bad XCLIENT {name} value: {TEMPUNAVAIL} is for NAME only")
        return value
    if name in ("ADDR", "DESTADDR"):
        return _address(name, value)
    if name in ("PORT", "DESTPORT"):
        if not (value.isdigit() and value.isascii() and int(value) <= 0xFFFF):
            raise XclientError(f"Bad XCLIENT {name} value: not a port")
        return str(int(value))
    if name == "PROTO":
        if value.upper() not in ("SMTP", "ESMTP"):
            raise XclientError("Bad XCLIENT PROTO value: SMTP or ESMTP")
        return value.upper()
    if not value or not value.isprintable() or (name != "LOGIN" and len(value) > _NAME_MAX):
        raise XclientError(f"Bad XCLIENT {name} value")
    return value


def _address(name: str, value: str) -> str:
    v6 = value[:5].upper() == "IPV6:"
    text = value[5:] if v6 else value
    try:
        address = ipaddress.IPv6Address(text) if v6 else ipaddress.IPv4Address(text)
    except ValueError as err:
        raise XclientError(f"Bad XCLIENT {name} value: not an address") from err
    return str(address)
