"""The rfc2920 group against broken servers: each PIPELINING bug fails exactly its checks."""

from __future__ import annotations

import ssl

import pytest

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_pipelining import (
    HoldsBufferable,
    HoldsForPartialLine,
    LosesLongBatch,
)
from tests.conformance.broken_server import BrokenServer, Session

LONG = {"rfc2920.long-batch", "rfc2920.long-batch-windowed"}
FLUSH = {"rfc2920.flush-bufferable", "rfc2920.flush-before-partial-line"}


@pytest.mark.parametrize(
    ("session", "failing"),
    [
        (Session, set()),
        (LosesLongBatch, LONG),
        # after-end-of-data opens with MAIL and RCPT one at a time: their replies never come.
        (HoldsBufferable, LONG | FLUSH | {"rfc2920.after-end-of-data"}),
        (HoldsForPartialLine, {"rfc2920.flush-before-partial-line"}),
    ],
    ids=["correct", "loses-long-batch", "holds-bufferable", "holds-for-partial-line"],
)
def test_each_pipelining_bug_fails_exactly_its_checks(
    session: type[Session], failing: set[str], tls_context: ssl.SSLContext
) -> None:
    with BrokenServer(tls=tls_context, session=session) as server:
        target = Target("127.0.0.1", server.port, timeout=1.0, quiet=0.3)
        results = run_checks(target, select(["rfc2920"]), health=False)
    assert {r.id for r in results if r.verdict is Verdict.FAIL} == failing
    assert {r.verdict for r in results} <= {Verdict.PASS, Verdict.FAIL}
