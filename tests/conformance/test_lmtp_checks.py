"""The rfc2033 group against broken LMTP servers: each bug fails exactly its checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.probe import Capabilities
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_lmtp import LmtpFaults, lmtp_session
from tests.conformance.broken_server import BrokenServer, Session

COUNTS = {
    "rfc2033.five-rcpts",
    "rfc2033.duplicate-rcpt",
    "rfc2033.refused-rcpt-no-reply",
    "rfc2033.rset-clears-rcpts",
    "rfc2033.reply-enhanced-codes",
    "rfc2033.bdat-last",
    "rfc2033.pipelined-transaction",
    "rfc2033.pipelined-after-data",
    "rfc2033.quit-after-replies",
    "rfc2033.stored",
}
HELO_EHLO = {"rfc2033.ehlo-refused", "rfc2033.helo-refused", "rfc2033.helo-ehlo-500"}
PIPELINED = {"rfc2033.pipelined-transaction", "rfc2033.pipelined-after-data"}
FAULTS = [
    (LmtpFaults(), set()),
    # rset-clears-rcpts has one RCPT after RSET: a single reply is right there.
    (LmtpFaults(one_reply=True), COUNTS - {"rfc2033.rset-clears-rcpts"}),
    (LmtpFaults(extra_reply=True), COUNTS | {"rfc2033.one-rcpt"}),
    (LmtpFaults(replies_for_refused=True), {"rfc2033.refused-rcpt-no-reply"}),
    (LmtpFaults(answers_ehlo=True), HELO_EHLO),
    (LmtpFaults(refuses_ehlo_502=True), {"rfc2033.helo-ehlo-500"}),
    (LmtpFaults(no_8bitmime=True), {"rfc2033.lhlo-8bitmime"}),
    (LmtpFaults(plain_replies=True), {"rfc2033.reply-enhanced-codes"}),
    (LmtpFaults(bare_lhlo=True), {"rfc2033.lhlo-no-domain"}),
    (LmtpFaults(mail_before_lhlo=True), {"rfc2033.mail-before-lhlo"}),
    (LmtpFaults(lhlo_keeps_transaction=True), {"rfc2033.lhlo-resets-transaction"}),
    (LmtpFaults(rset_keeps_rcpts=True), {"rfc2033.rset-clears-rcpts"}),
    (
        LmtpFaults(data_without_rcpt_554=True),
        {"rfc2033.data-no-rcpt", "rfc2033.data-after-refused-rcpt"},
    ),
    (LmtpFaults(chunk_replies_per_rcpt=True), {"rfc2033.bdat-last"}),
    (LmtpFaults(empty_last_refused=True), {"rfc2033.bdat-last-no-rcpt"}),
    (LmtpFaults(drops_pipelined_after_data=True), {"rfc2033.pipelined-after-data"}),
    (LmtpFaults(loses_message=True), {"rfc2033.stored"}),
]


def grade(session: type[Session], store: Path, caps: Capabilities | None = None) -> set[str]:
    """The rfc2033 checks that fail against a broken server with `session`."""
    store.mkdir()
    with BrokenServer(store=store, session=session) as server:
        target = Target(
            "127.0.0.1", server.port, maildir=str(store), timeout=1.0, quiet=0.3, lmtp=True
        )
        results = run_checks(target, select(["rfc2033"]), caps=caps, health=False)
    assert {r.id for r in results if r.verdict is Verdict.SKIP} == set()
    return {r.id for r in results if r.verdict is Verdict.FAIL}


@pytest.mark.parametrize(
    ("faults", "failing"),
    FAULTS,
    ids=["correct", *(next(k for k, v in vars(f).items() if v) for f, _ in FAULTS[1:])],
)
def test_each_lmtp_bug_fails_exactly_its_checks(
    faults: LmtpFaults, failing: set[str], tmp_path: Path
) -> None:
    assert grade(lmtp_session(faults), tmp_path / "store") == failing


@pytest.mark.parametrize(
    ("faults", "failing", "skipped"),
    [
        (LmtpFaults(no_pipelining=True), {"rfc2033.lhlo-pipelining"}, PIPELINED),
        (
            LmtpFaults(no_enhanced_codes=True),
            {"rfc2033.lhlo-enhancedstatuscodes"},
            {"rfc2033.reply-enhanced-codes"},
        ),
    ],
    ids=["no-pipelining", "no-enhanced-codes"],
)
def test_a_missing_extension_fails_its_lhlo_check_and_skips_what_needs_it(
    faults: LmtpFaults, failing: set[str], skipped: set[str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with BrokenServer(store=store, session=lmtp_session(faults)) as server:
        target = Target("127.0.0.1", server.port, maildir=str(store), timeout=1.0, lmtp=True)
        results = run_checks(target, select(["rfc2033"]), health=False)
    assert {r.id for r in results if r.verdict is Verdict.FAIL} == failing
    assert {r.id for r in results if r.verdict is Verdict.SKIP} == skipped


def test_an_smtp_server_graded_as_lmtp_fails_the_greeting_checks(tmp_path: Path) -> None:
    # Its 500 to LHLO leaves nothing to discover: the checks run with no capabilities.
    failed = grade_smtp(tmp_path / "store")
    assert {"rfc2033.lhlo", "rfc2033.ehlo-refused", "rfc2033.helo-refused"} <= failed


def grade_smtp(store: Path) -> set[str]:
    """The rfc2033 checks a plain SMTP broken server fails, its skips allowed."""
    store.mkdir()
    with BrokenServer(store=store) as server:
        target = Target("127.0.0.1", server.port, maildir=str(store), timeout=1.0, lmtp=True)
        results = run_checks(target, select(["rfc2033"]), caps=Capabilities(), health=False)
    return {r.id for r in results if r.verdict is Verdict.FAIL}


def test_without_lmtp_the_group_skips(tmp_path: Path) -> None:
    with BrokenServer(session=lmtp_session(LmtpFaults())) as server:
        target = Target("127.0.0.1", server.port, timeout=1.0)
        results = run_checks(target, select(["rfc2033"]), caps=Capabilities(), health=False)
    assert {(r.verdict, r.reason) for r in results} == {(Verdict.SKIP, "needs --lmtp")}


def test_with_lmtp_a_named_smtp_only_check_skips() -> None:
    with BrokenServer(session=lmtp_session(LmtpFaults())) as server:
        target = Target("127.0.0.1", server.port, timeout=1.0, lmtp=True)
        (result,) = run_checks(target, select(["rfc5321.ehlo"]), health=False)
    assert result.verdict is Verdict.SKIP
    assert result.reason.startswith("SMTP only")
