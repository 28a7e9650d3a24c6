"""ESMTP parameters of MAIL and RCPT, parsed into typed values (RFC 1870, 6152, 3030,
6531, 4954 5, 3461). Pure functions: text in, values or a `ParamError` carrying the reply.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from smtp_proto import replies
from smtp_proto.replies import Reply


class Body(enum.Enum):
    """The BODY= parameter (RFC 6152, RFC 3030)."""

    SEVEN_BIT = "7BIT"
    EIGHT_BIT_MIME = "8BITMIME"
    BINARY_MIME = "BINARYMIME"


class Ret(enum.Enum):
    """The DSN RET= parameter (RFC 3461 4.3)."""

    FULL = "FULL"
    HDRS = "HDRS"


class Notify(enum.Enum):
    """One value of the DSN NOTIFY= parameter (RFC 3461 4.1)."""

    NEVER = "NEVER"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


@dataclass(frozen=True, slots=True)
class Orcpt:
    """The DSN ORCPT= parameter (RFC 3461 4.2): address type and the xtext-decoded address."""

    addr_type: str
    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MailParams:
    """Parameters of MAIL FROM; a field is None when the client did not send it."""

    size: int | None = None
    body: Body | None = None
    smtputf8: bool = False
    auth: str | None = None  # AUTH= xtext-decoded; "<>" when the submitter is unknown
    ret: Ret | None = None
    envid: str | None = None  # xtext-decoded


@dataclass(frozen=True, slots=True, kw_only=True)
class RcptParams:
    """Parameters of RCPT TO."""

    notify: frozenset[Notify] = field(default_factory=frozenset)
    orcpt: Orcpt | None = None


class ParamError(Exception):
    """A parameter the core refuses; `reply` is what the client gets."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.lines[0]}")
        self.reply = reply


# RFC 5321 4.1.2: esmtp-keyword and esmtp-value (printable ASCII without "=" or space).
_KEYWORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_VALUE: Final = re.compile(r"[\x21-\x3c\x3e-\x7e]+")
# RFC 3461 4: xchar is "!".."~" except "+" and "="; hexchar is "+" and two hex digits
# (upper case in the RFC; lower case is taken too, it is unambiguous).
_XTEXT: Final = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-Fa-f]{2})*")
_HEXCHAR: Final = re.compile(rb"\+([0-9A-Fa-f]{2})")
_SIZE: Final = re.compile(r"[0-9]{1,20}")
_ATOM: Final = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")  # RFC 5322 atext
MAX_ENVID: Final = 100  # RFC 3461 4.4
MAX_ORCPT_ADDRESS: Final = 500  # RFC 3461 4.2


def xtext_decode(text: str) -> str:
    """Decode RFC 3461 section 4 xtext ("+" and two hex digits per encoded octet).

    The octets must form UTF-8. Raises `ParamError` (501 5.5.4) when malformed.
    """
    if _XTEXT.fullmatch(text) is None:
        raise ParamError(replies.BAD_PARAMETER)
    if "+" not in text:
        return text
    raw = _HEXCHAR.sub(lambda m: bytes((int(m.group(1), 16),)), text.encode("ascii"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParamError(replies.BAD_PARAMETER) from None


def _required(value: str | None) -> str:
    if value is None:
        raise ParamError(replies.BAD_PARAMETER)
    return value


def _size(value: str | None, enabled: frozenset[str]) -> int:
    digits = _required(value)
    if _SIZE.fullmatch(digits) is None:  # RFC 1870: 1*20DIGIT
        raise ParamError(replies.BAD_PARAMETER)
    return int(digits)


def _body(value: str | None, enabled: frozenset[str]) -> Body:
    try:
        body = Body(_required(value).upper())
    except ValueError:
        raise ParamError(replies.BAD_PARAMETER) from None
    # RFC 3030 3: BINARYMIME is its own extension; 7BIT and 8BITMIME belong to RFC 6152.
    needs = "BINARYMIME" if body is Body.BINARY_MIME else "8BITMIME"
    if needs not in enabled:
        raise ParamError(replies.UNKNOWN_PARAMETER)
    return body


def _flag(value: str | None, enabled: frozenset[str]) -> bool:
    if value is not None:  # RFC 6531 3.4: SMTPUTF8 takes no value
        raise ParamError(replies.BAD_PARAMETER)
    return True


def _auth(value: str | None, enabled: frozenset[str]) -> str:
    return xtext_decode(_required(value))  # RFC 4954 5: "<>" or an xtext addr-spec


def _ret(value: str | None, enabled: frozenset[str]) -> Ret:
    try:
        return Ret(_required(value).upper())
    except ValueError:
        raise ParamError(replies.BAD_PARAMETER) from None


def _envid(value: str | None, enabled: frozenset[str]) -> str:
    text = _required(value)
    if len(text) > MAX_ENVID:
        raise ParamError(replies.BAD_PARAMETER)
    envid = xtext_decode(text)
    if not (envid.isascii() and envid.isprintable()):  # RFC 3461 4.4
        raise ParamError(replies.BAD_PARAMETER)
    return envid


def _notify(value: str | None, enabled: frozenset[str]) -> frozenset[Notify]:
    items = _required(value).upper().split(",")
    try:
        notify = frozenset(Notify(item) for item in items)
    except ValueError:
        raise ParamError(replies.BAD_PARAMETER) from None
    # RFC 3461 4.1: NEVER stands alone; a repeated value is malformed too.
    if len(notify) != len(items) or (Notify.NEVER in notify and len(notify) > 1):
        raise ParamError(replies.BAD_PARAMETER)
    return notify


def _orcpt(value: str | None, enabled: frozenset[str]) -> Orcpt:
    addr_type, semicolon, encoded = _required(value).partition(";")
    if not semicolon or _ATOM.fullmatch(addr_type) is None:
        raise ParamError(replies.BAD_PARAMETER)
    if not encoded or len(encoded) > MAX_ORCPT_ADDRESS:
        raise ParamError(replies.BAD_PARAMETER)
    return Orcpt(addr_type, xtext_decode(encoded))


_Parser = Callable[[str | None, frozenset[str]], object]

# keyword -> (field, extensions of which at least one must be enabled, value parser)
_MAIL: Final[Mapping[str, tuple[str, frozenset[str], _Parser]]] = {
    "SIZE": ("size", frozenset({"SIZE"}), _size),
    "BODY": ("body", frozenset({"8BITMIME", "BINARYMIME"}), _body),
    "SMTPUTF8": ("smtputf8", frozenset({"SMTPUTF8"}), _flag),
    "AUTH": ("auth", frozenset({"AUTH"}), _auth),
    "RET": ("ret", frozenset({"DSN"}), _ret),
    "ENVID": ("envid", frozenset({"DSN"}), _envid),
}
_RCPT: Final[Mapping[str, tuple[str, frozenset[str], _Parser]]] = {
    "NOTIFY": ("notify", frozenset({"DSN"}), _notify),
    "ORCPT": ("orcpt", frozenset({"DSN"}), _orcpt),
}


def _parse(
    text: str, enabled: frozenset[str], table: Mapping[str, tuple[str, frozenset[str], _Parser]]
) -> dict[str, Any]:
    if not text.isascii():
        raise ParamError(replies.BAD_PARAMETER)
    found: dict[str, Any] = {}
    for token in text.split(" "):
        if not token:
            continue  # runs of spaces are tolerated
        keyword, equals, value = token.partition("=")
        if _KEYWORD.fullmatch(keyword) is None:
            raise ParamError(replies.BAD_PARAMETER)
        spec = table.get(keyword.upper())
        if spec is None or not spec[1] & enabled:
            raise ParamError(replies.UNKNOWN_PARAMETER)
        name, _, parse = spec
        if name in found or (equals and _VALUE.fullmatch(value) is None):
            raise ParamError(replies.BAD_PARAMETER)
        found[name] = parse(value if equals else None, enabled)
    return found


def parse_mail_params(text: str, enabled: frozenset[str]) -> MailParams:
    """Parse the parameters of MAIL FROM ("SIZE=100 BODY=8BITMIME").

    `enabled` holds the EHLO keywords in force ("SIZE", "8BITMIME", "BINARYMIME",
    "SMTPUTF8", "AUTH", "DSN"). Raises `ParamError`: 555 5.5.4 for an unknown or
    disabled keyword, 501 5.5.4 for a malformed, missing or repeated value.
    """
    if not text:
        return NO_MAIL_PARAMS  # the common case: immutable, so one value serves all
    return MailParams(**_parse(text, enabled, _MAIL))


def parse_rcpt_params(text: str, enabled: frozenset[str]) -> RcptParams:
    """Parse the parameters of RCPT TO ("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b").

    Same rules and errors as `parse_mail_params`.
    """
    if not text:
        return _NO_RCPT_PARAMS
    return RcptParams(**_parse(text, enabled, _RCPT))


NO_MAIL_PARAMS: Final = MailParams()  # MAIL FROM without parameters
_NO_RCPT_PARAMS: Final = RcptParams()
