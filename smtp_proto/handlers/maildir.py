"""`MaildirHandler`: stores each accepted message into a Maildir with a `Received:` header.

A message is written into tmp/, synced, then linked into new/ (the Maildir rule), so new/
only ever holds whole messages; a failed write leaves nothing behind. The Maildir is
created when missing.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import itertools
import logging
import os
import re
import time
from pathlib import Path
from typing import Final

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd452Error
from smtp_proto.handler import Handler, MaybeAwaitable

# Message content goes to the file in slices of about this size, never copied whole.
_SLICE: Final = 1024 * 1024
# The first word of a greeting when it names a host: a domain or an address literal.
_HOST_WORD: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[!-Z^-~]+\]")
# errno values that say the file system is full: 452 4.3.1, the client may retry later.
_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
# A clash of tmp/ names (another process on the same clock and pid) is retried this often.
_ATTEMPTS: Final = 100


def _clean(text: str) -> str:
    """Header-safe text: control characters (CR, LF, ...) dropped."""
    return "".join(ch for ch in text if ch.isprintable())


def _address_literal(ip: str) -> str:
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"  # RFC 5321 4.1.3


def local_name(ctx: Context) -> str:
    """This server's name as its greeting gave it (the word after 220, RFC 5321 4.3.1),
    so a Received header says what the client was told; else the local address."""
    first = ctx.server.local_response.split(" ", 1)[0]
    return first if _HOST_WORD.fullmatch(first) else ctx.server.local_host


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

    `hostname` names this server in the Received header (default: the name its greeting
    gave, see `local_name`). Lines end in LF in the files, as Maildir readers expect, except
    for BODY=BINARYMIME content, which is kept byte for byte. A full file system or quota
    answers 452 4.3.1, any other OSError 451 4.3.0; either way no file is left behind.
    Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], *, hostname: str | None = None) -> None:
        self.path = Path(path)
        self.hostname = hostname
        # Make cur/new/tmp also in an existing empty folder (a fresh mount, `mkdir maildir`).
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        host = os.uname().nodename.replace("/", r"\057").replace(":", r"\072")
        self._host = host or "localhost"
        self._deliveries = itertools.count(1)  # next() is atomic: no lock needed

    def on_message_data_event(self, ctx: Context) -> MaybeAwaitable[None]:
        """Store the message (see `store`); an OSError answers 451 or 452, never 250."""
        self.store(ctx)
        return None

    def store(self, ctx: Context) -> str:
        """Write the message in `ctx` with its Received header; returns the Maildir key.

        Raises `Smtpd452Error` when the file system is full, OSError on other failures.
        """
        hostname = self.hostname or local_name(ctx)
        header = received_header(ctx, hostname=hostname)
        binary = ctx.envelope.encoding_body == "binarymime"
        try:
            key = self._deliver(header, ctx.message.data, binary=binary)
        except OSError as err:
            if err.errno in _FULL:
                raise Smtpd452Error(log=f"{ctx.message.queue_id} not stored: {err}") from err
            raise
        self.on_logging_event(ctx, logging.DEBUG, f"{ctx.message.queue_id} stored as {key}")
        return key

    def _deliver(self, header: bytes, data: bytearray, *, binary: bool) -> str:
        """tmp/, written and synced, then linked into new/; nothing is left when it fails."""
        fd, key = self._create()
        tmp = self.path / "tmp" / key
        try:
            try:
                _write(fd, header if binary else header.replace(b"\r\n", b"\n"))
                _write_content(fd, data, binary=binary)
                os.fsync(fd)
            finally:
                os.close(fd)
            # A link never replaces a file already in new/; a rename would.
            os.link(tmp, self.path / "new" / key)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # stored: a stale tmp/ name harms nothing
            os.unlink(tmp)
        return key

    def _create(self) -> tuple[int, str]:
        """A new file in tmp/ under a unique name (time, pid, count, host): (fd, name)."""
        for _ in range(_ATTEMPTS):
            now = time.time()
            key = (
                f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}"
                f"Q{next(self._deliveries)}.{self._host}"
            )
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            try:
                return os.open(self.path / "tmp" / key, flags, 0o666), key
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no free name in tmp/", str(self.path / "tmp"))


def _write(fd: int, data: bytes | memoryview) -> None:
    """All of `data` to `fd` (os.write may take less than it is given)."""
    with memoryview(data) as view:
        while view:
            view = view[os.write(fd, view) :]


def _write_content(fd: int, data: bytearray, *, binary: bool) -> None:
    """The message content, CRLF turned into LF unless `binary`, a slice at a time."""
    start, end = 0, len(data)
    with memoryview(data) as view:
        while start < end:
            stop = min(start + _SLICE, end)
            if binary:
                _write(fd, view[start:stop])
                start = stop
                continue
            if stop < end:  # cut after a line end, or at least never between CR and LF
                lf = data.rfind(b"\n", start, stop)
                if lf >= 0:
                    stop = lf + 1
                elif data[stop - 1] == 0x0D:
                    stop -= 1
            _write(fd, bytes(view[start:stop]).replace(b"\r\n", b"\n"))
            start = stop
