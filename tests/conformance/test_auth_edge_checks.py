"""The AUTH edge checks against the broken server with AUTH: correct, it passes them all;
each bug fails exactly the checks written for it."""

from __future__ import annotations

import pytest

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_auth_bdat import PASSWORD, USER, AuthBdatFaults, AuthBdatServer

MODULES = ("conformance.checks.rfc4954_edges", "conformance.checks.rfc4954_mail")
EDGES = [c.id for c in select(["rfc4954"]) if c.run.__module__ in MODULES]


def verdicts(flaws: AuthBdatFaults, names: list[str]) -> dict[Verdict, set[str]]:
    """Run the named checks, with credentials, against the server with `flaws`."""
    with AuthBdatServer(flaws) as server:
        target = Target(
            "127.0.0.1",
            server.port,
            user=USER.decode(),
            password=PASSWORD.decode(),
            timeout=2.0,
            quiet=0.5,
        )
        results = run_checks(target, select(names), health=False)
    grouped: dict[Verdict, set[str]] = {v: set() for v in Verdict}
    for result in results:
        grouped[result.verdict].add(result.id)
    return grouped


def test_a_correct_server_passes_every_auth_edge_check() -> None:
    assert len(EDGES) >= 12
    got = verdicts(AuthBdatFaults(), EDGES)
    assert got[Verdict.PASS] == set(EDGES)


@pytest.mark.parametrize(
    ("flaw", "failed"),
    [
        ("waits_after_equals", {"plain-empty-response"}),
        ("malformed_plain_500", {"plain-no-nul"}),
        ("any_authzid", {"plain-authzid-other"}),
        ("refuses_authzid", {"plain-authzid-same"}),
        ("late_cancel_ignored", {"login-cancel-after-user", "success-after-cancel"}),
        (
            "auth_once",
            {"retry-after-failure", "success-after-failure", "success-after-cancel"},
        ),
        ("auth_without_ehlo", {"auth-before-ehlo", "auth-after-helo"}),
        ("mechanism_case", {"mechanism-lower-case"}),
        ("short_auth_lines", {"response-12288"}),
        (
            "bare_codes",
            {
                "enhanced-auth-ok",
                "enhanced-auth-failed",
                "enhanced-bad-base64",
                "enhanced-unknown-mechanism",
            },
        ),
        ("no_mechanism_waits", {"no-mechanism"}),
        (
            "no_mail_auth",
            {"mail-auth-empty", "mail-auth-xtext", "mail-auth-bad-xtext", "mail-auth-long-line"},
        ),
        ("lax_mail_auth", {"mail-auth-bad-xtext"}),
        ("short_mail_line", {"mail-auth-long-line"}),
    ],
)
def test_each_auth_bug_fails_exactly_its_checks(flaw: str, failed: set[str]) -> None:
    got = verdicts(AuthBdatFaults(**{flaw: True}), EDGES)
    assert got[Verdict.FAIL] == {f"rfc4954.{name}" for name in failed}
