"""The pytest entry, used the way the transports' tests use it: one test per check."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.pytest_plugin import Check, Target, assert_check, known_failures, selected_checks
from conformance.verdict import Verdict
from tests.conformance.broken_server import BrokenServer, Faults

pytest_plugins = ["conformance.pytest_plugin"]

CONFORMANCE_SELECT = ["smuggling", "rfc3207", "rfc1870.ehlo-parameter"]


@pytest.fixture(scope="module")
def conformance_target(
    tls_context: ssl.SSLContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The fault-free broken server, shared by every check of this module."""
    store = tmp_path_factory.mktemp("store")
    with BrokenServer(tls=tls_context, store=store) as server:
        yield Target("127.0.0.1", server.port, maildir=str(store), timeout=2.0, quiet=0.5)


def test_conformance(conformance_target: Target, conformance_check: Check) -> None:
    if conformance_check.id == "rfc1870.ehlo-parameter":
        with pytest.raises(pytest.skip.Exception, match="SIZE not advertised"):
            assert_check(conformance_target, conformance_check)
        return
    assert assert_check(conformance_target, conformance_check).verdict is Verdict.PASS


def test_a_failing_check_fails_the_test_with_the_exchange(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    (check,) = selected_checks(["smuggling.data-lf-dot-lf"])
    with BrokenServer(Faults(bare_lf_ends_data=True), tls=tls_context) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0)
        with pytest.raises(pytest.fail.Exception) as failed:
            assert_check(target, check)
    message = str(failed.value)
    assert message.startswith("smuggling.data-lf-dot-lf (RFC 5321 2.3.8, 4.1.1.4)")
    assert "why: smuggled commands were answered" in message
    assert "C: MAIL FROM:<sender@example.test>\\r\\n" in message


def test_an_unreachable_target_fails() -> None:
    (check,) = selected_checks(["rfc5321.noop"])
    with BrokenServer() as server:
        port = server.port
    with pytest.raises(pytest.fail.Exception, match=r"cannot reach 127\.0\.0\.1"):
        assert_check(Target("127.0.0.1", port, timeout=1.0), check)


def test_known_failures_reads_ids_without_comments() -> None:
    known = known_failures("aiosmtpd")
    assert "rfc5321.help" in known
    assert all("#" not in i and " " not in i for i in known)
