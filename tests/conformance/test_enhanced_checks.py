"""The rfc2034 group against broken servers: each way of getting enhanced codes wrong fails
exactly its checks."""

from __future__ import annotations

import ssl

import pytest

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_enhanced import (
    BareVrfyBdat,
    EnhancedSession,
    EveryTwoTwenty,
    FourAsFive,
    SuccessForAll,
    ZeroPadded,
)
from tests.conformance.broken_server import BrokenServer, Session

# syntax-error is not here: this server takes "MAIL FROM:<sender@>" with 250.
REFUSALS = {
    "rfc2034.bad-sequence",
    "rfc2034.unknown-command",
    "rfc2034.rset-argument",
    "rfc2034.data-no-rcpt",
    "rfc2034.rcpt-syntax",
    "rfc2034.class-4xx",
}


@pytest.mark.parametrize(
    ("session", "failing"),
    [
        (EnhancedSession, set()),
        (FourAsFive, {"rfc2034.class-4xx"}),
        (ZeroPadded, {"rfc2034.no-leading-zeros"}),
        (EveryTwoTwenty, {"rfc2034.starttls"}),
        (SuccessForAll, REFUSALS),
        (BareVrfyBdat, {"rfc2034.vrfy", "rfc2034.bdat"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_enhanced_code_bug_fails_exactly_its_checks(
    session: type[Session], failing: set[str], tls_context: ssl.SSLContext
) -> None:
    with BrokenServer(tls=tls_context, session=session) as server:
        target = Target("127.0.0.1", server.port, timeout=1.0, quiet=0.3)
        results = run_checks(target, select(["rfc2034"]), health=False)
    assert {r.id for r in results if r.verdict is Verdict.FAIL} == failing
    assert {r.id for r in results if r.verdict is Verdict.SKIP} == set()


def test_without_the_keyword_the_group_skips(tls_context: ssl.SSLContext) -> None:
    with BrokenServer(tls=tls_context) as server:
        target = Target("127.0.0.1", server.port, timeout=1.0, quiet=0.3)
        results = run_checks(target, select(["rfc2034"]), health=False)
    assert {r.verdict for r in results} == {Verdict.SKIP}
