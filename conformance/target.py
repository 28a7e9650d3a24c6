"""The server under test: where it listens, how to reach it, and the suite's time bounds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    """A server to grade and the options the checks use.

    `timeout` bounds every expected reply (seconds); `quiet` is how long a check waits to
    be sure the server does *not* answer; `idle_limit` bounds the slow group's idle waits.
    `maildir` is a Maildir or plain directory where the server stores accepted messages.
    `proxy` makes every connection open as a load balancer's would, with a PROXY header
    (HAProxy's protocol) naming this client. `lmtp`: the server speaks LMTP (RFC 2033), so
    sessions open with LHLO instead of EHLO.
    """

    host: str
    port: int
    tls_implicit: bool = False
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    maildir: str | None = None
    timeout: float = 10.0
    quiet: float = 2.0
    idle_limit: float = 330.0
    flood: int = 20
    helo: str = "conformance.example.test"
    mail_from: str = "sender@example.test"
    rcpt_to: str = "rcpt@example.test"
    proxy: str | None = None  # "v1" or "v2": each connection opens with a PROXY header
    lmtp: bool = False
    tls_name: str | None = None  # the name the certificate must carry; default: host
    # How long a message accepted with 250 may take to reach --maildir: a queueing server
    # (Postfix) delivers after its 250, later still on a loaded machine.
    store_wait: float = 15.0

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) when both were given."""
        if self.user is None or self.password is None:
            return None
        return self.user, self.password


def parse_hostport(text: str) -> tuple[str, int]:
    """Split "host:port" or "[v6]:port"; a bare host (or "[v6]") means port 25, SMTP's.
    Raises ValueError on a bad port."""
    if (text and ":" not in text.strip("[]")) or (text.startswith("[") and text.endswith("]")):
        return text.strip("[]"), 25
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST or HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
