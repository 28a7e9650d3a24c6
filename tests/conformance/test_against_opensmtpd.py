"""The suite against a throw-away OpenSMTPD: it fails exactly the reviewed list in
conformance/known/opensmtpd.txt. Skipped only where OpenSMTPD cannot run (not root, or
neither installed nor unpacked: .ci/run unpacks it)."""

from __future__ import annotations

import pytest

from conformance.deviations import known_failures
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.opensmtpd_server import available, running_opensmtpd

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


def test_opensmtpd_fails_exactly_the_reviewed_checks() -> None:
    with running_opensmtpd() as smtpd:
        # It answers some commands seconds late while the suite keeps it busy.
        target = Target(
            "127.0.0.1", smtpd.port, maildir=str(smtpd.maildir), timeout=15.0, quiet=0.5
        )
        results = run_checks(target, select())
    failed = {r.id for r in results if r.verdict is Verdict.FAIL}
    assert failed == known_failures("opensmtpd")
    # Stored messages were inspected: the Maildir checks ran, not skipped.
    transparency = next(r for r in results if r.id == "rfc5321.dot-transparency")
    assert transparency.verdict is Verdict.PASS
