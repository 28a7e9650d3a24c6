"""SASL exchanges for AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195).

Pure: response lines in, challenges or `AuthCredentials` out. The nonce is passed in, and
no secret ever reaches a repr or an exception message.
"""

from __future__ import annotations

import binascii
import enum
import re
from dataclasses import dataclass
from typing import Final, NoReturn

from smtp_proto import replies
from smtp_proto.events import AuthCredentials
from smtp_proto.replies import Reply

MECHANISMS: Final = frozenset({"PLAIN", "LOGIN", "CRAM-MD5"})

# LOGIN prompts: base64 of "Username:" and of "Password:".
_LOGIN_PROMPTS: Final = ("VXNlcm5hbWU6", "UGFzc3dvcmQ6")
_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_CRAM_RESPONSE: Final = re.compile(r"(.+) ([0-9A-Fa-f]{32})", re.DOTALL)


class SaslError(Exception):
    """The exchange failed; `reply` is what the client gets (the core counts it as a failure)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.lines[0]}")
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Challenge:
    """A server challenge: `text` follows "334 " on the wire, base64 already applied."""

    text: str


class _Stage(enum.Enum):
    NEW = enum.auto()  # begin() not called yet
    WAITING = enum.auto()  # a challenge is out, respond() expected
    DONE = enum.auto()  # credentials returned or the exchange failed


class SaslExchange:
    """One SASL exchange for AUTH; feed each client response line until credentials come out.

    Every call after the exchange ended (credentials returned or `SaslError` raised), and
    `respond()` before `begin()`, raises `RuntimeError`: a caller bug, not the client's.
    """

    __slots__ = ("_challenge", "_mechanism", "_stage", "_username")

    def __init__(self, mechanism: str, *, hostname: str, nonce: str) -> None:
        """Start an exchange for `mechanism` ("PLAIN", "LOGIN" or "CRAM-MD5", upper case).

        `hostname` and `nonce` form the CRAM-MD5 challenge "<nonce@hostname>".
        Raises `ValueError` for any other mechanism.
        """
        if mechanism not in MECHANISMS:
            raise ValueError(f"unsupported SASL mechanism {mechanism!r}")
        self._mechanism = mechanism
        self._challenge = f"<{nonce}@{hostname}>".encode() if mechanism == "CRAM-MD5" else b""
        self._stage = _Stage.NEW
        self._username: str | None = None

    def __repr__(self) -> str:
        return f"<SaslExchange {self._mechanism} {self._stage.name}>"

    def begin(self, initial: str | None) -> Challenge | AuthCredentials:
        """Begin with the AUTH command's initial response, or None when it had none.

        "=" is an empty initial response and "*" cancels (RFC 4954 4). Raises `SaslError`.
        """
        if self._stage is not _Stage.NEW:
            raise RuntimeError("SaslExchange.begin() called twice")
        self._stage = _Stage.WAITING
        if initial is None:
            return Challenge(self._first_challenge())
        if self._mechanism == "CRAM-MD5" and initial != "*":
            self._fail(replies.AUTH_MALFORMED)  # the server speaks first (RFC 2195)
        return self._step(self._decode("" if initial == "=" else initial))

    def respond(self, line: str) -> Challenge | AuthCredentials:
        """Take one client response line (without CRLF); "*" cancels. Raises `SaslError`."""
        if self._stage is not _Stage.WAITING:
            raise RuntimeError(f"SaslExchange.respond() called in stage {self._stage.name}")
        return self._step(self._decode(line))

    def _first_challenge(self) -> str:
        if self._mechanism == "PLAIN":
            return ""  # RFC 4616 2: an empty challenge asks for the message
        if self._mechanism == "LOGIN":
            return _LOGIN_PROMPTS[0]
        return binascii.b2a_base64(self._challenge, newline=False).decode("ascii")

    def _fail(self, reply: Reply) -> NoReturn:
        self._stage = _Stage.DONE
        raise SaslError(reply)

    def _decode(self, line: str) -> str:
        if line == "*":
            self._fail(replies.AUTH_CANCELLED)
        # strict_mode alone still takes padding after a full quantum ("dGlt=").
        if _BASE64.fullmatch(line) is None:
            self._fail(replies.AUTH_BAD_BASE64)
        raw = binascii.a2b_base64(line.encode("ascii"), strict_mode=True)
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # fail outside the handler: the error object holds the secret's bytes
        if text is None:
            self._fail(replies.AUTH_BAD_BASE64)
        return text

    def _step(self, message: str) -> Challenge | AuthCredentials:
        if self._mechanism == "PLAIN":
            return self._plain(message)
        if self._mechanism == "LOGIN":
            return self._login(message)
        return self._cram_md5(message)

    def _done(self, authzid: str, authcid: str, secret: str) -> AuthCredentials:
        self._stage = _Stage.DONE
        self._username = None
        return AuthCredentials(
            mechanism=self._mechanism,
            authorization_id=authzid,
            authentication_id=authcid,
            secret=secret,
            challenge=self._challenge,
        )

    def _plain(self, message: str) -> AuthCredentials:
        # RFC 4616 2: [authzid] NUL authcid NUL passwd, authcid and passwd not empty.
        parts = message.split("\0")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            self._fail(replies.AUTH_MALFORMED)
        return self._done(*parts)

    def _login(self, message: str) -> Challenge | AuthCredentials:
        if not message or "\0" in message:
            self._fail(replies.AUTH_MALFORMED)
        if self._username is None:
            self._username = message
            return Challenge(_LOGIN_PROMPTS[1])
        return self._done("", self._username, message)

    def _cram_md5(self, message: str) -> AuthCredentials:
        # RFC 2195 2: the user name, a space, then the HMAC-MD5 digest in hex.
        match = _CRAM_RESPONSE.fullmatch(message)
        if match is None or "\0" in match.group(1):
            self._fail(replies.AUTH_MALFORMED)
        return self._done("", match.group(1), match.group(2))
