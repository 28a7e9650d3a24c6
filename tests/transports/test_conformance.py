"""The whole conformance suite against each engine, as `smtp-proto serve` configures it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.pytest_plugin import Check, Target, assert_check, pytest_generate_tests
from smtp_proto.config import AuthMode, ServerConfig, TlsMode
from tests.transports.conftest import ENGINES
from tests.transports.transport_support import engine_class
from transports.cli import ServeHandler

__all__ = ["pytest_generate_tests"]  # the hook pytest picks up from this module

USER, PASSWORD = "conformance", "pa55:word"
CONFIG = ServerConfig(
    hostname="mx.example.test", auth_mode=AuthMode.OPTIONAL, tls_mode=TlsMode.OPTIONAL
)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> None:
    """Sessions of a shared server end on their own time; the module checks at its end."""


@pytest.fixture(scope="module", params=ENGINES)
def conformance_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One server per engine for every check: STARTTLS offered, AUTH after it, a Maildir."""
    before = set(threading.enumerate())
    maildir: Path = tmp_path_factory.mktemp("store") / "maildir"
    handler = ServeHandler(maildir, {USER: PASSWORD}, None)
    server = engine_class(request.param)(
        handler, ports="0", config=CONFIG, io_cmd_timeout=5.0, io_data_timeout=5.0
    )
    with server:
        host, port = server.addresses[0]
        yield Target(
            host,
            port,
            user=USER,
            password=PASSWORD,
            maildir=str(maildir),
            timeout=5.0,
            quiet=0.5,
        )
    leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leaked == []


# Failures of the core, not of a transport; once fixed, the test fails until removed here.
CORE_KNOWN: dict[str, str] = {}


def test_conformance(conformance_target: Target, conformance_check: Check) -> None:
    known = CORE_KNOWN.get(conformance_check.id)
    if known is None:
        assert_check(conformance_target, conformance_check)
        return
    try:
        assert_check(conformance_target, conformance_check)
    except pytest.fail.Exception:
        pytest.xfail(known)
    pytest.fail(f"{conformance_check.id} passes now: take it out of CORE_KNOWN")
