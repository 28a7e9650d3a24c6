"""aiosmtpd on 127.0.0.1 (STARTTLS, AUTH after it, SMTPUTF8, a Maildir), to grade it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from conformance.target import Target

USER, PASSWORD = "alice", "s3cret"


def version() -> str:
    """The installed aiosmtpd version."""
    return package_version("aiosmtpd")


class _PortZeroController(Controller):
    """aiosmtpd's Controller, reading the port the kernel chose for port 0."""

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


@contextlib.contextmanager
def running_aiosmtpd(maildir: Path, tls_context: ssl.SSLContext) -> Iterator[Target]:
    """Start aiosmtpd, yield the target that grades it, stop it."""
    controller = _PortZeroController(
        Mailbox(maildir),
        hostname="127.0.0.1",
        port=0,
        tls_context=tls_context,
        authenticator=_authenticate,
        enable_SMTPUTF8=True,
    )
    controller.start()
    try:
        yield Target(
            "127.0.0.1",
            controller.port,
            user=USER,
            password=PASSWORD,
            maildir=str(maildir),
            timeout=2.0,
            quiet=0.5,
        )
    finally:
        controller.stop()
