"""Running checks: discover capabilities, run each check in sequence, health after each group."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from conformance.probe import Capabilities, Probe, expect
from conformance.registry import Check, Speaks
from conformance.target import Target
from conformance.verdict import CheckFailed, CheckResult, CheckSkipped, Level, Verdict

HEALTH_RFC = "RFC 5321 3.3"


def discover(target: Target) -> Capabilities:
    """EHLO (LHLO over LMTP) once in clear text (or implicit TLS), and once more after
    STARTTLS if offered.

    Raises `CheckFailed` when the server cannot be reached or does not greet and EHLO.
    """
    probe = Probe(target, Capabilities())
    try:
        client = probe.greeted()
        plain = probe.ehlo(client)
        secure: dict[str, str] = {}
        if target.tls_implicit:
            plain, secure = {}, plain
        elif "STARTTLS" in plain:
            try:
                secure = probe.starttls(client)
            except CheckFailed:
                secure = {}
        return Capabilities(plain, secure)
    finally:
        probe.close()


def run_check(target: Target, caps: Capabilities, check: Check) -> CheckResult:
    """Run one check in its own probe; any failure or skip becomes the verdict."""
    upgrade = any(k not in caps.plain and k in caps.secure for k in check.needs)
    probe = Probe(target, caps, upgrade=upgrade)
    verdict, reason = Verdict.PASS, ""
    try:
        _require_protocol(target, check)
        probe.require(*check.needs)
        check.run(probe)
    except CheckSkipped as skip:
        verdict, reason = Verdict.SKIP, str(skip)
    except CheckFailed as fail:
        verdict, reason = Verdict.FAIL, str(fail)
    except OSError as err:
        verdict, reason = Verdict.FAIL, f"connection error: {err}"
    finally:
        probe.close()
    rendered = tuple(probe.transcript.render())
    return CheckResult(
        check.id,
        check.group,
        check.rfc,
        check.title,
        verdict,
        reason,
        rendered,
        check.level,
        check.rule,
    )


def _require_protocol(target: Target, check: Check) -> None:
    if check.speaks is Speaks.LMTP and not target.lmtp:
        raise CheckSkipped("needs --lmtp")
    if check.speaks is Speaks.SMTP and target.lmtp:
        raise CheckSkipped("SMTP only (sends HELO/EHLO or expects one reply after the data)")


def _health(probe: Probe) -> None:
    client = probe.rcpt()
    expect(probe.deliver(client), 250, what="end of data")
    probe.quit(client)


def health_check(group: str) -> Check:
    """The check run after each group: the server still completes a whole transaction."""
    return Check(
        f"{group}.health",
        group,
        HEALTH_RFC,
        "server still completes a mail transaction after this group",
        _health,
        Level.MUST,
        "a server keeps accepting mail after the checks of a group (it did not crash or wedge)",
    )


def run_checks(
    target: Target,
    checks: Sequence[Check],
    *,
    caps: Capabilities | None = None,
    health: bool = True,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run `checks` in order; after the last check of each group run its health check."""
    caps = discover(target) if caps is None else caps
    results: list[CheckResult] = []
    for i, check in enumerate(checks):
        todo = [check]
        last_of_group = i + 1 == len(checks) or checks[i + 1].group != check.group
        if health and last_of_group:
            todo.append(health_check(check.group))
        for item in todo:
            result = run_check(target, caps, item)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
