"""The conformance checks valid over LMTP, the rfc2033 group among them, against each engine
as `smtp-proto serve --lmtp` configures it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.pytest_plugin import (
    Check,
    Target,
    assert_check,
    pytest_generate_tests,
    selected_checks,
)
from conformance.registry import Speaks
from smtp_proto.config import ServerConfig
from tests.transports.conftest import ENGINES
from tests.transports.transport_support import engine_class
from transports.cli import ServeHandler

__all__ = ["pytest_generate_tests"]  # the hook pytest picks up from this module

CONFORMANCE_LMTP = True  # only the checks valid over LMTP
CONFIG = ServerConfig(hostname="lmtp.example.test", greeting="LMTP smtp-proto ready", lmtp=True)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> None:
    """Sessions of a shared server end on their own time; the module checks at its end."""


@pytest.fixture(scope="module", params=ENGINES)
def conformance_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One LMTP server per engine for every check, storing into a Maildir."""
    before = set(threading.enumerate())
    maildir: Path = tmp_path_factory.mktemp("store") / "maildir"
    handler = ServeHandler(maildir, {}, None)
    server = engine_class(request.param)(
        handler, ports="0", config=CONFIG, io_cmd_timeout=5.0, io_data_timeout=5.0
    )
    with server:
        host, port = server.addresses[0]
        yield Target(host, port, maildir=str(maildir), timeout=5.0, quiet=0.5, lmtp=True)
    leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leaked == []


def test_conformance(conformance_target: Target, conformance_check: Check) -> None:
    assert_check(conformance_target, conformance_check)


def test_the_lmtp_run_holds_the_rfc2033_group_and_no_smtp_only_check() -> None:
    checks = selected_checks(lmtp=True)
    assert len([c for c in checks if c.group == "rfc2033"]) >= 14
    assert all(c.speaks is not Speaks.SMTP for c in checks)
