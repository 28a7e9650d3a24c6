"""The suite against a deliberately broken server: each bug fails exactly its checks."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_server import BrokenServer, Faults

CLEAN_GROUPS = ["smuggling", "rfc3207", "rfc5321.dot-transparency"]
REFUSALS = [
    "rfc5321.noop",
    "rfc5321.rcpt-before-mail",
    "rfc5321.mail-nested",
    "rfc5321.ehlo-no-domain",
    "rfc5321.unknown-command",
    "rfc5321.vrfy-no-argument",
    "rfc5321.quit",
]


def verdicts(
    faults: Faults, names: list[str], tls: ssl.SSLContext, store: Path
) -> dict[Verdict, set[str]]:
    """Run the named checks against a broken server; the ids grouped by verdict."""
    store.mkdir()
    with BrokenServer(faults, tls=tls, store=store) as server:
        target = Target("127.0.0.1", server.port, maildir=str(store), timeout=2.0, quiet=0.5)
        results = run_checks(target, select(names), health=False)
    grouped: dict[Verdict, set[str]] = {v: set() for v in Verdict}
    for result in results:
        grouped[result.verdict].add(result.id)
    return grouped


def test_correct_server_passes_smuggling_starttls_and_transparency(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    got = verdicts(Faults(), CLEAN_GROUPS, tls_context, tmp_path / "store")
    assert got[Verdict.FAIL] == set()
    assert got[Verdict.SKIP] == set()
    assert len(got[Verdict.PASS]) == 22


def test_bare_lf_ending_data_fails_exactly_the_lf_dot_variants(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    faults = Faults(bare_lf_ends_data=True)
    got = verdicts(faults, CLEAN_GROUPS, tls_context, tmp_path / "store")
    assert got[Verdict.FAIL] == {
        "smuggling.data-lf-dot-lf",
        "smuggling.data-lf-dot-crlf",
        "smuggling.data-crlf-dot-lf",
    }


def test_plaintext_kept_after_starttls_fails_exactly_the_injection_checks(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    faults = Faults(keeps_plaintext_after_starttls=True)
    got = verdicts(faults, CLEAN_GROUPS, tls_context, tmp_path / "store")
    assert got[Verdict.FAIL] == {"rfc3207.plaintext-injection", "rfc3207.ehlo-injection"}


def test_kept_dot_stuffing_fails_exactly_dot_transparency(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    got = verdicts(Faults(keeps_dot_stuffing=True), CLEAN_GROUPS, tls_context, tmp_path / "st")
    assert got[Verdict.FAIL] == {"rfc5321.dot-transparency"}


@pytest.mark.parametrize("yes", [False, True])
def test_yes_to_everything_fails_every_refusal_check(
    yes: bool, tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    got = verdicts(Faults(yes_to_everything=yes), REFUSALS, tls_context, tmp_path / "store")
    expected = set(REFUSALS) - {"rfc5321.noop", "rfc5321.quit"} if yes else set()
    assert got[Verdict.FAIL] == expected


def test_idle_sessions_closed_with_421_pass_the_slow_group(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with BrokenServer(Faults(idle_timeout=0.2), tls=tls_context, store=store) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0, idle_limit=2.0)
        results = run_checks(target, select(["slow"]), health=False)
    assert [(r.id, r.verdict) for r in results] == [
        ("slow.idle-after-greeting", Verdict.PASS),
        ("slow.idle-in-session", Verdict.PASS),
        ("slow.idle-in-data", Verdict.PASS),
    ]


def test_a_server_that_never_drops_idle_clients_fails_the_slow_group(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    with BrokenServer(tls=tls_context) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0, idle_limit=0.2)
        results = run_checks(target, select(["slow.idle-in-session"]), health=False)
    assert [(r.verdict, r.reason) for r in results] == [
        (Verdict.FAIL, "connection still open after 0.2s")
    ]


def test_a_crash_fails_the_check_and_the_health_check(tls_context: ssl.SSLContext) -> None:
    with BrokenServer(Faults(dies_on_nul=True), tls=tls_context) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0)
        results = run_checks(target, select(["robustness.nul-in-verb"]))
    assert [(r.id, r.verdict) for r in results] == [
        ("robustness.nul-in-verb", Verdict.FAIL),
        ("robustness.health", Verdict.FAIL),
    ]
    assert results[1].reason.startswith("cannot connect")


def test_each_connection_of_a_check_is_labelled_in_the_transcript(
    tls_context: ssl.SSLContext,
) -> None:
    with BrokenServer(tls=tls_context) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0, flood=3)
        (result,) = run_checks(target, select(["robustness.connection-flood"]), health=False)
    assert result.verdict is Verdict.PASS
    assert result.transcript[:3] == (
        f"*: connect 127.0.0.1:{server.port}",
        f"*2: connect 127.0.0.1:{server.port}",
        f"*3: connect 127.0.0.1:{server.port}",
    )
    assert "S3: 220 broken.test ESMTP\\r\\n" in result.transcript
    assert result.transcript[-1] == "*3: connection closed by server"


XCLIENT_CHECKS = ["xclient.greets-again", "xclient.bad-attribute", "xclient.not-in-transaction"]


def test_xclient_checks_skip_where_it_is_not_offered_and_fail_a_lax_one(
    tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    plain = verdicts(Faults(), XCLIENT_CHECKS, tls_context, tmp_path / "plain")
    assert plain[Verdict.SKIP] == set(XCLIENT_CHECKS)
    lax = verdicts(Faults(lax_xclient=True), XCLIENT_CHECKS, tls_context, tmp_path / "lax")
    assert lax[Verdict.FAIL] == set(XCLIENT_CHECKS)  # 250 to each: no greeting, no refusal
