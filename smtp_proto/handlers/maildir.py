"""`MaildirHandler`: stores each accepted message into a Maildir with a `Received:` header.

Uses only the stdlib `mailbox` module; the Maildir is created when missing.
"""

from __future__ import annotations

import email.utils
import logging
import mailbox
import os
import threading
from pathlib import Path

from smtp_proto.context import Context
from smtp_proto.handler import Handler, MaybeAwaitable


def _clean(text: str) -> str:
    """Header-safe text: control characters (CR, LF, ...) dropped."""
    return "".join(ch for ch in text if ch.isprintable())


def _address_literal(ip: str) -> str:
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"  # RFC 5321 4.1.3


def received_protocol(ctx: Context) -> str:
    """The `with` keyword of a Received header (RFC 3848, RFC 6531 3.7.3): ESMTPSA, ...

    SMTP for HELO; ESMTP or LMTP with S for TLS and A for AUTH; a UTF8 prefix for SMTPUTF8.
    """
    server = ctx.server
    if server.helo_verb == "HELO":
        return "SMTP"
    base = "LMTP" if server.helo_verb == "LHLO" else "ESMTP"
    if ctx.envelope.encoding_utf8:
        base = "UTF8" + base.removeprefix("E")
    suffix = ("S" if server.encrypted else "") + ("A" if server.authenticated else "")
    return base + suffix


def received_header(ctx: Context, *, hostname: str) -> bytes:
    """A `Received:` header (RFC 5321 4.4) for the message in `ctx`, folded, ending in CRLF.

    `for <rcpt>` appears only with a single recipient; the date is `ctx.message.delivered`.
    """
    server, envelope, message = ctx.server, ctx.envelope, ctx.message
    literal = _address_literal(server.remote_ip)
    remote = _clean(server.remote_host)
    tcp_info = f"{remote} {literal}" if remote and remote != server.remote_ip else literal
    helo = _clean(server.helo) or literal
    lines = [
        f"Received: from {helo} ({tcp_info})",
        f"\tby {_clean(hostname)} (smtp-proto) with {received_protocol(ctx)}"
        f" id {_clean(message.queue_id)}",
    ]
    if len(envelope.rcpt_to) == 1:
        lines.append(f"\tfor <{_clean(envelope.rcpt_to[0])}>")
    when = message.delivered or message.received or server.connected
    lines[-1] += f"; {email.utils.format_datetime(when)}"
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


class MaildirHandler(Handler):
    """Stores every accepted message into the Maildir at `path` before the 250 goes out.

    `hostname` names this server in the Received header (default: the local host the
    transport reports). Lines end in LF in the files, as Maildir readers expect, except
    for BODY=BINARYMIME content, which is kept byte for byte. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], *, hostname: str | None = None) -> None:
        self.path = Path(path)
        self.hostname = hostname
        # mailbox.Maildir(create=True) makes cur/new/tmp only when the folder is missing,
        # so an existing empty folder (a fresh mount, `mkdir maildir`) would fail each add.
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._maildir = mailbox.Maildir(self.path, create=False)
        self._lock = threading.Lock()

    def on_message_data_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """Store the message (see `store`); an OSError answers 451, never 250."""
        self.store(ctx)
        return None

    def store(self, ctx: Context) -> str:
        """Write the message in `ctx` with its Received header; returns the Maildir key."""
        hostname = self.hostname or ctx.server.local_host
        content = received_header(ctx, hostname=hostname) + bytes(ctx.message.data)
        if ctx.envelope.encoding_body != "binarymime":
            content = content.replace(b"\r\n", b"\n")
        with self._lock:
            key = self._maildir.add(content)
        self.on_logging_event(ctx, logging.DEBUG, f"{ctx.message.queue_id} stored as {key}")
        return key
