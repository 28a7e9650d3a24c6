"""The broken fixture server with AUTH (PLAIN, LOGIN), the MAIL parameters AUTH= and BODY=,
and BDAT with BINARYMIME: correct by default; each `AuthBdatFaults` flag adds one classic bug.

A session subclass of broken_server's `Session`; `AuthBdatServer` runs it.
"""

from __future__ import annotations

import binascii
import os
import re
import socket
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.broken_server import BrokenServer, Session

USER, PASSWORD = b"alice", b"s3cret"
_BDAT = re.compile(r"([0-9]{1,12})( +LAST)? *", re.IGNORECASE)
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})+")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LOGIN_PROMPTS = ("334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6")  # "Username:", "Password:"


@dataclass(frozen=True)
class AuthBdatFaults:
    """Which AUTH, MAIL parameter and BINARYMIME bugs the server has."""

    waits_after_equals: bool = False  # "AUTH PLAIN =" taken as no initial response: 334
    malformed_plain_500: bool = False  # a PLAIN message without two NULs gets 500
    any_authzid: bool = False  # the PLAIN authzid is ignored: anyone may act as anyone
    refuses_authzid: bool = False  # any authzid at all fails, even the user's own
    late_cancel_ignored: bool = False  # "*" at the LOGIN password prompt is the password
    auth_once: bool = False  # a failed or cancelled AUTH ends AUTH for the session: 503
    auth_without_ehlo: bool = False  # AUTH runs before EHLO and after HELO
    mechanism_case: bool = False  # "plain" is not "PLAIN": 504
    short_auth_lines: bool = False  # response lines over 1000 octets get 500
    bare_codes: bool = False  # AUTH replies lack enhanced codes, though advertised
    no_mechanism_waits: bool = False  # a bare "AUTH" gets 334
    no_mail_auth: bool = False  # MAIL's AUTH= parameter is unknown: 555
    lax_mail_auth: bool = False  # any AUTH= value is taken, xtext or not
    short_mail_line: bool = False  # MAIL lines over 512 octets get 500, AUTH= or not
    binarymime_off: bool = False  # not a bug: BINARYMIME neither offered nor taken (555)
    binarymime_alone: bool = False  # BINARYMIME advertised, CHUNKING not
    hides_binarymime: bool = False  # BINARYMIME not advertised, BODY=BINARYMIME taken
    refuses_binarymime_body: bool = False  # BINARYMIME advertised, BODY=BINARYMIME 555
    case_sensitive_body: bool = False  # "binarymime" is not "BINARYMIME": 501
    data_after_binarymime: bool = False  # DATA takes a message after BODY=BINARYMIME
    normalises_line_ends: bool = False  # a lone CR or LF in binary content becomes CRLF
    unstuffs_dots: bool = False  # a leading dot of binary content lines is removed
    drops_nul: bool = False  # NULs are removed from binary content
    folds_long_lines: bool = False  # binary lines over 998 octets get a CRLF inserted
    drops_cr_at_chunk_end: bool = False  # a CR ending a chunk is lost
    empty_last_adds_crlf: bool = False  # BDAT 0 LAST appends a CRLF


class _Refused(Exception):
    """Ends an AUTH exchange with this reply."""

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        super().__init__(text)
        self.code, self.enhanced, self.text = code, enhanced, text


def _decode(text: bytes) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise _Refused(501, "5.5.2", "bad base64") from None


def _slices(line: bytes, size: int) -> list[bytes]:
    return [line[i : i + size] for i in range(0, len(line), size)] or [line]


class AuthBdatSession(Session):
    """A session that adds AUTH, MAIL parameters and BDAT to the broken server's commands."""

    def __init__(self, sock: socket.socket, server: BrokenServer) -> None:
        super().__init__(sock, server)
        self.flaws = server.flaws if isinstance(server, AuthBdatServer) else AuthBdatFaults()
        self.extended = False  # EHLO (not HELO) opened the session
        self.authenticated = False
        self.auth_tried = False
        self.binary = False  # MAIL had BODY=BINARYMIME
        self.chunks: bytearray | None = None  # BDAT content of the transaction so far

    def command(self, verb: str, arg: str) -> None:
        if (verb in ("EHLO", "HELO") and arg) or (verb == "RSET" and not arg):
            self.binary, self.chunks = False, None
            self.extended = verb == "EHLO" or (verb == "RSET" and self.extended)
        if verb == "EHLO" and arg:
            self.greeted, self.mail, self.rcpts = True, False, 0
            self.send(self.capabilities())
        elif verb == "AUTH":
            self.auth(arg)
        elif verb == "BDAT":
            self.bdat(arg)
        elif verb == "MAIL" and self.greeted and not self.mail:
            self.mail_from(arg)
        else:
            super().command(verb, arg)

    def capabilities(self) -> str:
        f = self.flaws
        words = ["broken.test", "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"]
        words += ["AUTH PLAIN LOGIN"] + ([] if f.binarymime_alone else ["CHUNKING"])
        words += [] if f.hides_binarymime or f.binarymime_off else ["BINARYMIME"]
        return "\r\n".join(f"250-{w}" for w in words[:-1]) + f"\r\n250 {words[-1]}"

    def reply(self, code: int, enhanced: str, text: str) -> None:
        self.send(f"{code} {text}" if self.flaws.bare_codes else f"{code} {enhanced} {text}")

    # AUTH (RFC 4954), PLAIN (RFC 4616) and LOGIN.

    def auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        name = mechanism if self.flaws.mechanism_case else mechanism.upper()
        if not (self.extended or self.flaws.auth_without_ehlo):
            self.reply(503, "5.5.1", "EHLO first")
        elif self.authenticated or self.mail or (self.auth_tried and self.flaws.auth_once):
            self.reply(503, "5.5.1", "bad sequence")
        elif not mechanism and self.flaws.no_mechanism_waits:
            self.send("334 ")
        elif not mechanism:
            self.reply(501, "5.5.4", "syntax: AUTH mechanism")
        elif name not in ("PLAIN", "LOGIN"):
            self.reply(504, "5.5.4", "unknown mechanism")
        else:
            self.auth_tried = True
            try:
                ok = self.plain(initial) if name == "PLAIN" else self.login(initial)
            except _Refused as refusal:
                self.reply(refusal.code, refusal.enhanced, refusal.text)
                return
            self.authenticated = ok
            self.reply(*((235, "2.7.0", "ok") if ok else (535, "5.7.8", "invalid credentials")))

    def response(self, *, cancel: bool = True) -> bytes:
        line = self.read_line()
        if line is None:
            raise ConnectionError("closed in AUTH")
        if line == b"*" and cancel:
            raise _Refused(501, "5.0.0", "cancelled")
        if self.flaws.short_auth_lines and len(line) + 2 > 1000:
            raise _Refused(500, "5.5.6", "line too long")
        return line if line == b"*" else _decode(line)

    def initial(self, initial: str, prompt: str) -> bytes:
        if initial and not (initial == "=" and self.flaws.waits_after_equals):
            return b"" if initial == "=" else _decode(initial.encode())  # RFC 4954 4
        self.send(prompt)
        return self.response()

    def plain(self, initial: str) -> bool:
        parts = self.initial(initial, "334 ").split(b"\0")
        if len(parts) != 3:
            raise _Refused(500 if self.flaws.malformed_plain_500 else 501, "5.5.2", "malformed")
        authzid, authcid, password = parts
        acts_as_other = self.flaws.refuses_authzid or authzid != authcid
        if authzid and acts_as_other and not self.flaws.any_authzid:
            return False  # RFC 4616 2: these credentials act as no one else
        return (authcid, password) == (USER, PASSWORD)

    def login(self, initial: str) -> bool:
        user = self.initial(initial, _LOGIN_PROMPTS[0])
        self.send(_LOGIN_PROMPTS[1])
        return (user, self.response(cancel=not self.flaws.late_cancel_ignored)) == (USER, PASSWORD)

    # MAIL parameters (RFC 4954 5, RFC 6152, RFC 3030 3).

    def mail_from(self, arg: str) -> None:
        if self.flaws.short_mail_line and len(arg) + len("MAIL \r\n") > 512:
            self.reply(500, "5.5.2", "line too long")
            return
        path, _, params = arg.partition(">")
        binary = False
        for param in params.split():
            key, _, value = param.partition("=")
            refusal = self.parameter(key.upper(), value)
            if refusal is not None:
                self.reply(*refusal)
                return
            binary = binary or (key.upper() == "BODY" and value.upper() == "BINARYMIME")
        super().command("MAIL", path + ">")
        self.binary = binary and self.mail

    def parameter(self, key: str, value: str) -> tuple[int, str, str] | None:
        f = self.flaws
        if key == "BODY":
            body = value if f.case_sensitive_body else value.upper()
            if body not in ("7BIT", "8BITMIME", "BINARYMIME"):
                return 501, "5.5.4", "bad BODY value"
            if body == "BINARYMIME" and (f.refuses_binarymime_body or f.binarymime_off):
                return 555, "5.5.4", "BINARYMIME not implemented"
        elif key == "AUTH" and not f.no_mail_auth:
            if not f.lax_mail_auth and _XTEXT.fullmatch(value) is None:
                return 501, "5.5.4", "AUTH= is not xtext"
        elif key != "SIZE":
            return 555, "5.5.4", "unknown parameter"
        return None

    # DATA and BDAT (RFC 3030).

    def data(self) -> None:
        if self.chunks is not None or (self.binary and not self.flaws.data_after_binarymime):
            self.reply(503, "5.5.1", "BDAT, not DATA, in this transaction")
            return
        super().data()
        self.binary = False

    def bdat(self, arg: str) -> None:
        match = _BDAT.fullmatch(arg)
        if match is None:
            self.reply(501, "5.5.4", "syntax: BDAT size [LAST]")
            return
        chunk = self.read_exact(int(match[1]))  # RFC 3030 2: read even when refused
        if not self.rcpts:
            self.reply(503, "5.5.1", "no recipient")
            return
        if self.binary and self.flaws.drops_cr_at_chunk_end and chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        self.chunks = (self.chunks or bytearray()) + chunk
        if match[2] is None:
            self.reply(250, "2.0.0", "chunk received")
            return
        content = bytes(self.chunks)
        if self.binary:
            content = self.mangle(content, empty_last=not chunk)
        self.server.store(content)
        self.mail, self.rcpts, self.binary, self.chunks = False, 0, False, None
        self.reply(250, "2.0.0", "stored")

    def mangle(self, content: bytes, *, empty_last: bool) -> bytes:
        f = self.flaws
        if f.normalises_line_ends:
            content = _LINE_END.sub(b"\r\n", content)
        lines = content.split(b"\r\n")
        if f.unstuffs_dots:
            lines = [line[1:] if line.startswith(b".") else line for line in lines]
        if f.folds_long_lines:
            lines = [b"\r\n".join(_slices(line, 998)) for line in lines]
        content = b"\r\n".join(lines)
        if f.drops_nul:
            content = content.replace(b"\0", b"")
        return content + b"\r\n" if empty_last and f.empty_last_adds_crlf else content


class AuthBdatServer(BrokenServer):
    """The broken server running `AuthBdatSession` with `flaws`; stores whole files only."""

    def __init__(
        self,
        flaws: AuthBdatFaults = AuthBdatFaults(),
        *,
        tls: ssl.SSLContext | None = None,
        store: Path | None = None,
    ) -> None:
        super().__init__(tls=tls, store=store, session=AuthBdatSession)
        self.flaws = flaws

    def store(self, message: bytes) -> None:
        """Write `message` under a dot name, then rename it: a reader never sees half."""
        if self.store_dir is None:
            return
        name = uuid.uuid4().hex
        tmp = self.store_dir / f".{name}"
        tmp.write_bytes(message)
        os.replace(tmp, self.store_dir / f"{name}.eml")
