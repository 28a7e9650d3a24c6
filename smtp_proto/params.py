"""ESMTP parameters of MAIL and RCPT, parsed into typed values (RFC 1870, 6152, 3030,
6531, 4954 5, 3461). Pure functions: text in, values or a `ParamError` carrying the reply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
