"""aiosmtpd's LMTP server (`aiosmtpd.lmtp.LMTP`) on 127.0.0.1 with its Maildir handler, to
grade it with --lmtp."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from aiosmtpd.handlers import Mailbox
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from conformance.target import Target
from tests.conformance.aiosmtpd_server import _PortZeroController


class _LmtpController(_PortZeroController):
    """The port-0 controller, serving LMTP instead of SMTP."""

    def factory(self) -> SMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


@contextlib.contextmanager
def running_aiosmtpd_lmtp(maildir: Path) -> Iterator[Target]:
    """Start aiosmtpd's LMTP server, yield the target that grades it, stop it."""
    controller = _LmtpController(Mailbox(maildir), hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield Target(
            "127.0.0.1", controller.port, maildir=str(maildir), timeout=2.0, quiet=0.5, lmtp=True
        )
    finally:
        controller.stop()
