"""The LMTP run (--lmtp) against the reference LMTP servers, aiosmtpd's `LMTP` class and
node's smtp-server with `lmtp: true`: each fails exactly its reviewed list in
conformance/known/. Skipped only where the server is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conformance.deviations import known_failures
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import CheckResult, Verdict
from tests.conformance.conformance_tls import write_self_signed
from tests.conformance.node_server import available, running_node

NO_AIOSMTPD = importlib.util.find_spec("aiosmtpd") is None


def failed(results: list[CheckResult]) -> set[str]:
    """The ids of the failed checks."""
    return {r.id for r in results if r.verdict is Verdict.FAIL}


@pytest.mark.skipif(NO_AIOSMTPD, reason="aiosmtpd is not installed")
def test_aiosmtpd_lmtp_fails_exactly_the_reviewed_checks(tmp_path: Path) -> None:
    from tests.conformance.aiosmtpd_lmtp import running_aiosmtpd_lmtp

    with running_aiosmtpd_lmtp(tmp_path / "maildir") as target:
        results = run_checks(target, select(lmtp=True))
    assert failed(results) == known_failures("aiosmtpd-lmtp")


@pytest.mark.skipif(available() is not None, reason=str(available()))
def test_node_smtp_server_lmtp_fails_exactly_the_reviewed_checks(tmp_path: Path) -> None:
    tls = write_self_signed(tmp_path)
    with running_node(tmp_path / "maildir", tls, lmtp=True) as node:
        target = Target(
            "127.0.0.1",
            node.port,
            maildir=str(node.maildir),
            timeout=3.0,
            quiet=0.5,
            lmtp=True,
        )
        results = run_checks(target, select(lmtp=True))
    assert failed(results) == known_failures("node-smtp-server-lmtp")
