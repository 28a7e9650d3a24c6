"""The suite against aiosmtpd: it fails exactly the reviewed list in conformance/known/."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from conformance.pytest_plugin import known_failures
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict

USER, PASSWORD = "alice", "s3cret"


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


@pytest.fixture
def aiosmtpd_target(tmp_path: Path, tls_context: ssl.SSLContext) -> Iterator[Target]:
    """aiosmtpd on 127.0.0.1 with STARTTLS, AUTH (after TLS) and a Maildir."""
    maildir = tmp_path / "maildir"
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


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_aiosmtpd_fails_exactly_the_reviewed_checks(aiosmtpd_target: Target) -> None:
    results = run_checks(aiosmtpd_target, select())
    failed = {r.id for r in results if r.verdict is Verdict.FAIL}
    assert failed == known_failures("aiosmtpd")
