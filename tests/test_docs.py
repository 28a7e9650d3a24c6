"""Every Python example in docs/ runs as written.

A block is executed on its own, in a fresh namespace, and checks itself with `assert`. A
block that opens with a file-name comment such as `# test_signup.py` is a test module for
users' own suites: it is written to that file and run by pytest in a process of its own, with
the plugins the installed package registers (the `smtp_server` fixtures).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TEST_MODULE = re.compile(r"# (test_\w+\.py)\n")


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(DOCS)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_docs_example_runs(where: str, code: str, tmp_path: Path) -> None:
    module = TEST_MODULE.match(code)
    if module is None:
        exec(compile(code, where, "exec"), {"__name__": "docs_example"})  # noqa: S102
        return
    (tmp_path / module.group(1)).write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # A user's own pytest run, outside this repository, warnings as errors as in ours.
    command = [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"]
    done = subprocess.run(  # noqa: S603 (this interpreter, on the file just written)
        [*command, module.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tests = len(re.findall(r"^def test_", code, re.MULTILINE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tests} passed" in done.stdout.splitlines()[-1], done.stdout


def test_every_python_block_in_the_docs_is_one_the_tests_run() -> None:
    """A block fenced as `py` or `python3`, or with a stray space, would escape the tests."""
    opened = sum(len(re.findall(r"^```\s*py", page.read_text(), re.MULTILINE)) for page in PAGES)
    assert opened == len(BLOCKS)
    assert len(BLOCKS) >= 8  # the three uses on the index, the cookbook's recipes
