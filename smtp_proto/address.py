"""Paths and mailboxes of MAIL and RCPT (RFC 5321 4.1.2, 4.1.3, 4.5.3.1; RFC 6531 3.3).

Pure string checks: text in, a mailbox or an `AddressError` carrying the reply out.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final, Literal

from smtp_proto import replies
from smtp_proto.replies import Reply

# RFC 5321 4.5.3.1: local part 64, domain 255, a whole path (with its angle brackets) 256.
MAX_LOCAL_PART: Final = 64
MAX_DOMAIN: Final = 255
MAX_PATH: Final = 256
_MAX_LABEL: Final = 63

# Non-ASCII is let through by these patterns: parse_mailbox refuses it beforehand unless
# SMTPUTF8 is in force (RFC 6531 3.3 adds UTF8-non-ascii to atext, qtext and labels).
_NON_ASCII: Final = "\u0080-\U0010ffff"
_ATEXT: Final = rf"[A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~{_NON_ASCII}]"
_DOT_STRING: Final = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# Quoted-string: qtextSMTP and quoted-pairSMTP (RFC 5321 4.1.2).
_QUOTED_STRING: Final = re.compile(
    rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_NON_ASCII}]|\\[\x20-\x7e])*"'
)
_LABEL: Final = re.compile(
    rf"[A-Za-z0-9{_NON_ASCII}](?:[A-Za-z0-9\-{_NON_ASCII}]*[A-Za-z0-9{_NON_ASCII}])?"
)
_IPV4: Final = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# General-address-literal: Standardized-tag ":" 1*dcontent (RFC 5321 4.1.3).
_GENERAL_LITERAL: Final = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?:[\x21-\x5a\x5e-\x7e]+"
)
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")  # escapes read by re, not in the source
# The common case in one match: an ASCII dot-string, "@", LDH labels of at most 63
# octets. Whatever it takes the full checks take too; the rest goes to them.
_ASCII_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_ASCII_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_PLAIN_MAILBOX: Final = re.compile(
    rf"{_ASCII_ATEXT}+(?:\.{_ASCII_ATEXT}+)*@{_ASCII_LABEL}(?:\.{_ASCII_LABEL})*"
)


class AddressError(Exception):
    """A path or mailbox the core refuses; `reply` is what the client gets."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.lines[0]}")
        self.reply = reply


def split_path(argument: str, keyword: str) -> tuple[str, str]:
    """Split a MAIL/RCPT argument ("FROM:<a@b.example> SIZE=1") into path and parameter text.

    The keyword is matched case-insensitively and spaces between the colon and "<" are
    tolerated. The path comes back without angle brackets; parameters stripped of the
    spaces around them. Raises `AddressError` (501 5.5.4) when the keyword or colon is
    missing, the path is not in angle brackets or unterminated, or anything but a space
    follows the ">".
    """
    size = len(keyword)
    if argument[:size].upper() != keyword.upper() or argument[size : size + 1] != ":":
        raise AddressError(replies.BAD_SYNTAX)
    rest = argument[size + 1 :].lstrip(" ")
    if not rest.startswith("<"):
        raise AddressError(replies.BAD_SYNTAX)
    end = _closing_bracket(rest)
    tail = rest[end + 1 :]
    if tail and not tail.startswith(" "):
        raise AddressError(replies.BAD_SYNTAX)
    return rest[1:end], tail.strip(" ")


def _closing_bracket(text: str) -> int:
    """Index of the ">" that ends the path opened at text[0]; quotes may hide a ">"."""
    if '"' not in text:
        end = text.find(">")
        if end < 0:
            raise AddressError(replies.BAD_SYNTAX)
        return end
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return index
    raise AddressError(replies.BAD_SYNTAX)


def parse_mailbox(path: str, *, kind: Literal["MAIL", "RCPT"], utf8: bool) -> str:
    """Validate a path from `split_path`; return its mailbox, source route dropped, case kept.

    MAIL takes "" (the null reverse-path) and returns ""; RCPT refuses "" but takes a bare
    "postmaster" in any case (RFC 5321 4.1.1.3). Non-ASCII needs `utf8` (else 553 5.6.7);
    undecodable bytes (lone surrogates) and every other fault raise `AddressError` with
    BAD_SENDER_SYNTAX (MAIL) or BAD_RECIPIENT_SYNTAX (RCPT).
    """
    bad = replies.BAD_SENDER_SYNTAX if kind == "MAIL" else replies.BAD_RECIPIENT_SYNTAX
    if not path.isascii():
        if _SURROGATE.search(path):
            raise AddressError(bad)
        if not utf8:
            raise AddressError(replies.NEED_SMTPUTF8)
    if not path:
        if kind == "MAIL":
            return ""
        raise AddressError(bad)
    if (
        len(path) <= MAX_PATH - 2
        and _PLAIN_MAILBOX.fullmatch(path) is not None
        and path.index("@") <= MAX_LOCAL_PART
    ):
        return path
    if kind == "RCPT" and path.lower() == "postmaster":
        return path
    if _octets(path) + 2 > MAX_PATH:
        raise AddressError(bad)
    mailbox = _drop_source_route(path) if path.startswith("@") else path
    if mailbox is None or not _valid_mailbox(mailbox):
        raise AddressError(bad)
    return mailbox


def _octets(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _drop_source_route(path: str) -> str | None:
    """Check and drop an A-d-l ("@a.example,@b.example:"), RFC 5321 4.1.2 and appendix C.

    None when the route is malformed.
    """
    route, colon, mailbox = path.partition(":")
    hops = route.split(",")
    if not colon or not all(hop.startswith("@") and _valid_domain(hop[1:]) for hop in hops):
        return None
    return mailbox


def _valid_mailbox(mailbox: str) -> bool:
    if mailbox.startswith('"'):
        match = _QUOTED_STRING.match(mailbox)
        if match is None or mailbox[match.end() : match.end() + 1] != "@":
            return False
        local, domain = mailbox[: match.end()], mailbox[match.end() + 1 :]
    else:
        local, at, domain = mailbox.partition("@")
        if not at or _DOT_STRING.fullmatch(local) is None:
            return False
    if _octets(local) > MAX_LOCAL_PART:
        return False
    if domain.startswith("["):
        return _valid_address_literal(domain)
    return _valid_domain(domain)


def _valid_domain(domain: str) -> bool:
    """Domain = sub-domain *("." sub-domain), each an LDH label or a U-label (RFC 6531)."""
    if not domain or _octets(domain) > MAX_DOMAIN:
        return False
    for label in domain.split("."):
        if _LABEL.fullmatch(label) is None:
            return False
        if label.isascii():
            if len(label) > _MAX_LABEL:
                return False
        # A U-label must be printable and its A-label ("xn--" + punycode) fit in 63 octets.
        elif not label.isprintable() or len(label.encode("punycode")) + 4 > _MAX_LABEL:
            return False
    return True


def _valid_address_literal(domain: str) -> bool:
    """ "[" (IPv4 / "IPv6:" IPv6 / General-address-literal) "]", RFC 5321 4.1.3."""
    if not domain.endswith("]") or not domain.isascii() or len(domain) > MAX_DOMAIN:
        return False
    content = domain[1:-1]
    if _IPV4.fullmatch(content):
        return _is_ip(content, ipaddress.IPv4Address)
    if content[:5].upper() == "IPV6:":
        # ipaddress takes a "%zone" suffix, which an address literal must not carry.
        return "%" not in content and _is_ip(content[5:], ipaddress.IPv6Address)
    return _GENERAL_LITERAL.fullmatch(content) is not None


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True
