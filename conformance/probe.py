"""What a check works with: connections opened to a chosen state, capabilities, judging helpers.

A `Probe` lives for one check; it closes every connection the check opened.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from conformance.client import Client, Reply, Transcript, client_tls_context
from conformance.target import Target
from conformance.verdict import CheckFailed, CheckSkipped

MESSAGE: bytes = (
    b"From: <sender@example.test>\r\n"
    b"To: <rcpt@example.test>\r\n"
    b"Subject: conformance check\r\n"
    b"\r\n"
    b"A short message.\r\n"
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """EHLO keywords (upper case) mapped to their parameters, in clear text and after TLS."""

    plain: dict[str, str] = field(default_factory=dict)
    secure: dict[str, str] = field(default_factory=dict)

    def offered(self, keyword: str) -> bool:
        """True when the server advertises `keyword` before or after TLS."""
        return keyword in self.plain or keyword in self.secure


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """The keywords of an EHLO reply (lines after the first), upper case, with parameters."""
    caps: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            caps[keyword.upper()] = params.strip()
    return caps


def expect(reply: Reply, *codes: int, what: str = "") -> Reply:
    """Fail unless the reply's code is one of `codes`; a one-digit code means its class."""
    for code in codes:
        if reply.code == code or (code < 10 and reply.code // 100 == code):
            return reply
    wanted = " or ".join(f"{c}xx" if c < 10 else str(c) for c in codes)
    prefix = f"{what}: " if what else ""
    raise CheckFailed(f"{prefix}expected {wanted}, got {reply}")


class Probe:
    """Opens connections for one check and records everything they exchange."""

    def __init__(self, target: Target, caps: Capabilities, *, upgrade: bool = False) -> None:
        self.target = target
        self.caps = caps
        self.transcript = Transcript()
        self.upgrade = upgrade or target.starttls
        self._clients: list[Client] = []

    @property
    def active_caps(self) -> dict[str, str]:
        """Capabilities of the sessions `ready()` opens (after TLS if it upgrades)."""
        secure = self.target.tls_implicit or (self.upgrade and "STARTTLS" in self.caps.plain)
        return self.caps.secure if secure and self.caps.secure else self.caps.plain

    def has(self, keyword: str) -> bool:
        """True when the sessions `ready()` opens advertise `keyword`."""
        return keyword in self.active_caps

    def require(self, *keywords: str) -> None:
        """Skip the check unless every keyword is advertised; a keyword offered only after
        STARTTLS makes the sessions `ready()` opens upgrade to TLS."""
        for keyword in keywords:
            if keyword in self.caps.secure and keyword not in self.caps.plain:
                self.upgrade = True
            if not self.has(keyword):
                raise CheckSkipped(f"{keyword} not advertised")

    def maildir(self) -> Path:
        """The message store given with --maildir; skips the check without one."""
        if self.target.maildir is None:
            raise CheckSkipped("needs --maildir to inspect stored messages")
        return Path(self.target.maildir)

    def connect(self, *, proxy_header: bool = True) -> Client:
        """A new TCP (or implicit TLS) connection, nothing read yet; with --proxy, its PROXY
        header sent first unless `proxy_header` is False (the proxy group's own checks)."""
        t = self.target
        label = str(len(self._clients) + 1) if self._clients else ""
        self.transcript.add("*" + label, f"connect {t.host}:{t.port}".encode())
        try:
            sock = socket.create_connection((t.host, t.port), timeout=t.timeout)
        except OSError as err:
            raise CheckFailed(f"cannot connect: {err}") from err
        if t.proxy is not None and proxy_header:
            header = make_proxy_header(t.proxy, sock.getsockname(), sock.getpeername())
            self.transcript.add("C" + label, header)
            sock.sendall(header)
        if t.tls_implicit:
            try:
                sock = client_tls_context().wrap_socket(sock)
            except OSError as err:
                sock.close()
                raise CheckFailed(f"implicit TLS handshake failed: {err}") from err
        client = Client(sock, self.transcript, t.timeout, label)
        self._clients.append(client)
        return client

    def greeted(self) -> Client:
        """A connection whose 220 greeting has been read."""
        client = self.connect()
        expect(client.reply(), 220, what="greeting")
        return client

    @property
    def greeting_verb(self) -> str:
        """The verb that greets: LHLO for an LMTP target, else EHLO."""
        return "LHLO" if self.target.lmtp else "EHLO"

    def ehlo(self, client: Client) -> dict[str, str]:
        """Send EHLO (LHLO over LMTP), require 250, return the advertised keywords."""
        verb = self.greeting_verb
        return parse_ehlo(expect(client.command(f"{verb} {self.target.helo}"), 250, what=verb))

    def starttls(self, client: Client) -> dict[str, str]:
        """STARTTLS, handshake, EHLO again; returns the keywords offered under TLS."""
        expect(client.command("STARTTLS"), 220, what="STARTTLS")
        client.starttls()
        return self.ehlo(client)

    def ready(self) -> Client:
        """A greeted connection after EHLO (and STARTTLS plus EHLO when upgrading)."""
        client = self.greeted()
        caps = self.ehlo(client)
        if self.upgrade and not self.target.tls_implicit and "STARTTLS" in caps:
            self.starttls(client)
        return client

    def secure(self) -> Client:
        """A session under TLS after EHLO; skips if the server offers no TLS at all."""
        if self.target.tls_implicit:
            return self.ready()
        if "STARTTLS" not in self.caps.plain:
            raise CheckSkipped("STARTTLS not advertised")
        client = self.greeted()
        self.ehlo(client)
        self.starttls(client)
        return client

    def mail(self, params: str = "", client: Client | None = None) -> Client:
        """A session with MAIL FROM accepted (250)."""
        client = client or self.ready()
        line = f"MAIL FROM:<{self.target.mail_from}>{' ' + params if params else ''}"
        expect(client.command(line), 250, what="MAIL FROM")
        return client

    def rcpt(self, params: str = "", client: Client | None = None) -> Client:
        """A session with MAIL FROM and one RCPT TO accepted."""
        client = self.mail(params, client)
        expect(client.command(f"RCPT TO:<{self.target.rcpt_to}>"), 250, 251, what="RCPT TO")
        return client

    def deliver(self, client: Client, content: bytes = MESSAGE) -> Reply:
        """DATA (354), then `content` and CRLF.CRLF; returns the end-of-data reply."""
        expect(client.command("DATA"), 354, what="DATA")
        client.send(content + b".\r\n")
        return client.reply()

    def quit(self, client: Client) -> None:
        """QUIT, expect 221."""
        expect(client.command("QUIT"), 221, what="QUIT")

    def close(self) -> None:
        """Close every connection this probe opened."""
        for client in self._clients:
            client.close()
        self._clients.clear()


_PROXY_V2: Final = b"\r\n\r\n\x00\r\nQUIT\n"


def make_proxy_header(version: str, client: Any, server: Any) -> bytes:
    """The PROXY header a load balancer would send for a client at `client` reaching
    `server` (socket addresses), in HAProxy's `version` "v1" or "v2"."""
    family = socket.AF_INET6 if ":" in client[0] else socket.AF_INET
    if version == "v1":
        name = "TCP6" if family == socket.AF_INET6 else "TCP4"
        return f"PROXY {name} {client[0]} {server[0]} {client[1]} {server[1]}\r\n".encode()
    addresses = socket.inet_pton(family, client[0]) + socket.inet_pton(family, server[0])
    addresses += struct.pack("!HH", client[1], server[1])
    kind = 0x21 if family == socket.AF_INET6 else 0x11
    return _PROXY_V2 + bytes([0x21, kind]) + struct.pack("!H", len(addresses)) + addresses
