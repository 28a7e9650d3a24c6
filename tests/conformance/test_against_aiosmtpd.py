"""The suite against aiosmtpd: it fails exactly the reviewed list in conformance/known/."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.pytest_plugin import known_failures
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.aiosmtpd_server import running_aiosmtpd


@pytest.fixture
def aiosmtpd_target(tmp_path: Path, tls_context: ssl.SSLContext) -> Iterator[Target]:
    """aiosmtpd on 127.0.0.1 with STARTTLS, AUTH (after TLS) and a Maildir."""
    with running_aiosmtpd(tmp_path / "maildir", tls_context) as target:
        yield target


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_aiosmtpd_fails_exactly_the_reviewed_checks(aiosmtpd_target: Target) -> None:
    results = run_checks(aiosmtpd_target, select())
    failed = {r.id for r in results if r.verdict is Verdict.FAIL}
    assert failed == known_failures("aiosmtpd")
