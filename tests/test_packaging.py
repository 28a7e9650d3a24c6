"""The package as users install it: type checkers see it, and every extra we tell people to
install exists."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from transports.cli_checks import EXTRAS

ROOT = Path(__file__).resolve().parent.parent
APP = """\
from smtp_proto import Context, Handler, ServerConfig


class App(Handler):
    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        return rcpt_to.lower()


config = ServerConfig(hostname="mx.example.test")
wrong: int = config.hostname
"""


def test_mypy_checks_an_app_outside_the_repo_against_the_installed_package(
    tmp_path: Path,
) -> None:
    """After the README's editable install, `mypy --strict` on an app elsewhere finds
    smtp_proto and its types (the deliberate error below is the only one it reports)."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[lint]')")
    (tmp_path / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if k not in {"MYPYPATH", "PYTHONPATH"}}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout.splitlines() == [
        'app.py:10: error: Incompatible types in assignment (expression has type "str", '
        'variable has type "int")  [assignment]',
        "Found 1 error in 1 file (checked 1 source file)",
    ], done.stdout + done.stderr


def _extras() -> dict[str, list[str]]:
    """pyproject's optional dependencies: extra name to requirements."""
    extras: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    return extras


def _named_extras() -> set[str]:
    """The extras the README, CONTRIBUTING, the docs and the CLI's messages tell people to
    install: `pip install '.[a,b]'`, `smtp-proto[a]`."""
    texts = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    texts += sorted((ROOT / "transports").glob("*.py"))
    named: set[str] = set()
    for path in texts:
        text = path.read_text()
        for group in re.findall(r"pip install [^\n]*?['\"]?(?:\.|smtp-proto)\[([\w,-]+)\]", text):
            named.update(group.split(","))
        for group in re.findall(r"smtp-proto\[([\w,-]+)\]", text):
            named.update(group.split(","))
    return named


def test_every_extra_we_tell_people_to_install_exists() -> None:
    extras = _extras()
    named = _named_extras()
    assert {"test", "dev"} <= named  # the README's and CONTRIBUTING's install commands
    assert named <= set(extras)


def test_the_extras_the_cli_asks_for_exist() -> None:
    """`serve --transport trio` without trio says which extra to install: one that exists."""
    extras = _extras()
    named = {extra for _, extra in EXTRAS.values()}
    assert named
    assert named <= set(extras)


def test_the_test_extra_leaves_the_linters_unpinned() -> None:
    """A user's environment is not forced to one linter release; CI pins them in `lint`."""
    extras = _extras()
    assert not [r for r in extras["test"] if re.match(r"(ruff|mypy)\b", r)]
    assert sorted(r.split("==")[0] for r in extras["lint"]) == ["mypy", "ruff"]
