"""pytest entry: one parametrised test per conformance check, against a server fixture.

Load it with ``pytest_plugins`` in a test module (or in the root conftest.py)::

    import pytest

    from conformance.pytest_plugin import Check, Target, assert_check

    pytest_plugins = ["conformance.pytest_plugin"]

    CONFORMANCE_SELECT = ["rfc5321", "smuggling"]  # optional; default: every non-slow check

    @pytest.fixture(scope="module")
    def conformance_target() -> Iterator[Target]:
        with start_my_server() as server:
            yield Target("127.0.0.1", server.port, user="u", password="p")

    def test_conformance(conformance_target: Target, conformance_check: Check) -> None:
        assert_check(conformance_target, conformance_check)

Each check becomes a test named by its id; a skipped check is a pytest skip. Importing
`pytest_generate_tests` into the module also works, but a linter that removes unused imports
(ruff --fix, F401) deletes it; ``pytest_plugins`` is a name it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from conformance import deviations
from conformance.registry import Check, select
from conformance.report import failure_details
from conformance.runner import discover, health_check, run_check
from conformance.target import Target
from conformance.verdict import CheckFailed, CheckResult, Verdict

__all__ = [
    "Check",
    "Target",
    "assert_check",
    "known_failures",
    "pytest_generate_tests",
    "selected_checks",
]

FIXTURE = "conformance_check"
KNOWN_DIR = deviations.KNOWN_DIR
# Set once a test function is parametrised: the hook may run twice for one module, as a
# loaded plugin and as a name imported into the module.
_PARAMETRISED = pytest.StashKey[bool]()


def selected_checks(
    names: Iterable[str] = (), *, slow: bool = False, lmtp: bool = False
) -> list[Check]:
    """The checks a module selects (group names, ids, or prefixes ending in "*"); with
    `lmtp`, by default only those valid over LMTP."""
    return select(names, slow=slow, lmtp=lmtp)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `conformance_check` with every selected check, ids as test ids.

    A module may set CONFORMANCE_SELECT (names), CONFORMANCE_SLOW and CONFORMANCE_LMTP
    (bools; the latter for an LMTP server, whose target has `lmtp=True`).
    """
    if FIXTURE not in metafunc.fixturenames or metafunc.definition.stash.get(_PARAMETRISED, False):
        return
    metafunc.definition.stash[_PARAMETRISED] = True
    names = getattr(metafunc.module, "CONFORMANCE_SELECT", ())
    slow = bool(getattr(metafunc.module, "CONFORMANCE_SLOW", False))
    lmtp = bool(getattr(metafunc.module, "CONFORMANCE_LMTP", False))
    checks = selected_checks(names, slow=slow, lmtp=lmtp)
    metafunc.parametrize(FIXTURE, checks, ids=[c.id for c in checks])


def _explain(result: CheckResult) -> str:
    head = f"{result.id} ({result.rfc}): {result.title}"
    return "\n".join([head, *failure_details(result)])


def assert_check(target: Target, check: Check, *, health: bool = True) -> CheckResult:
    """Run one check; pytest-skip on SKIP, pytest-fail with the exchange on FAIL.

    With `health`, the server must then still complete a transaction.
    """
    try:
        caps = discover(target)
    except (CheckFailed, OSError) as err:
        pytest.fail(f"cannot reach {target.host}:{target.port}: {err}")
    result = run_check(target, caps, check)
    if result.verdict is Verdict.FAIL:
        pytest.fail(_explain(result), pytrace=False)
    if health:
        after = run_check(target, caps, health_check(check.group))
        if after.verdict is Verdict.FAIL:
            pytest.fail(f"after {check.id}: " + _explain(after), pytrace=False)
    if result.verdict is Verdict.SKIP:
        pytest.skip(f"{check.id}: {result.reason}")
    return result


def known_failures(name: str, variant: str | None = None) -> frozenset[str]:
    """Check ids in the reviewed list conformance/known/<name>.txt that the server fails
    in configuration `variant` (entries marked "[variant]", and those marked with none)."""
    return deviations.known_failures(name, variant)
