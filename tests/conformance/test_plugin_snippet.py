"""The documented way to load the pytest plugin survives `ruff --fix` and runs each check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
RUFF = Path(sys.executable).with_name("ruff")

# The README's snippet, with the broken server standing in for "my server".
DOCUMENTED = """\
from collections.abc import Iterator

import pytest

from conformance.pytest_plugin import Check, Target, assert_check
from tests.conformance.broken_server import BrokenServer

pytest_plugins = ["conformance.pytest_plugin"]

CONFORMANCE_SELECT = ["rfc5321.noop", "rfc5321.rset"]


@pytest.fixture(scope="module")
def conformance_target() -> Iterator[Target]:
    with BrokenServer() as server:
        yield Target("127.0.0.1", server.port, timeout=2.0)


def test_conformance(conformance_target: Target, conformance_check: Check) -> None:
    assert_check(conformance_target, conformance_check)
"""
IMPORTED_HOOK = "from conformance.pytest_plugin import Check, Target, assert_check"


def ruff_fix(path: Path) -> str:
    """Run ruff's unused-import fix on `path` alone; return the file afterwards."""
    subprocess.run(  # noqa: S603 (fixed argv)
        [str(RUFF), "check", "--isolated", "--select", "F401", "--fix", "--quiet", str(path)],
        check=False,
        capture_output=True,
    )
    return path.read_text(encoding="utf-8")


def run_pytest(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "."],
        cwd=directory,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed next to this Python")
def test_ruff_fix_keeps_the_documented_snippet(module_dir: Path) -> None:
    documented = module_dir / "test_documented.py"
    documented.write_text(DOCUMENTED, encoding="utf-8")
    assert ruff_fix(documented) == DOCUMENTED
    # The older way, importing the hook, loses it to the same fix.
    old = module_dir / "test_old.py"
    old.write_text(DOCUMENTED.replace(IMPORTED_HOOK, IMPORTED_HOOK + ", pytest_generate_tests"))
    assert "pytest_generate_tests" not in ruff_fix(old)


def test_the_documented_snippet_runs_one_test_per_check(module_dir: Path) -> None:
    (module_dir / "test_documented.py").write_text(DOCUMENTED, encoding="utf-8")
    result = run_pytest(module_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_plugin_and_imported_hook_together_parametrise_once(module_dir: Path) -> None:
    # One module loads the plugin for the whole session, another imports the hook as well.
    (module_dir / "test_documented.py").write_text(DOCUMENTED, encoding="utf-8")
    both = DOCUMENTED.replace(IMPORTED_HOOK, IMPORTED_HOOK + ", pytest_generate_tests")
    both += '\n\n__all__ = ["pytest_generate_tests"]\n'
    (module_dir / "test_both.py").write_text(both, encoding="utf-8")
    result = run_pytest(module_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
