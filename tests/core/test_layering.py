"""The layering rules, read from the source: smtp_proto does no I/O, keeps no clock or
entropy of its own, and never reaches up into transports or conformance; the protocol
core does not even know the session layer or logging."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

import smtp_proto

PACKAGE: Final = Path(smtp_proto.__file__).parent
FORBIDDEN: Final = frozenset(
    {
        "socket",
        "ssl",
        "select",
        "selectors",
        "threading",
        "asyncio",
        "anyio",
        "trio",
        "gevent",
        "time",
        "random",
        "secrets",
        "transports",
        "conformance",
    }
)
# The session layer (hooks, ctx, logging) sits on the core; the core never imports it.
SESSION_LAYER: Final = frozenset(
    {
        "smtp_proto.session",
        "smtp_proto.handler",
        "smtp_proto.context",
        "smtp_proto.logs",
        "smtp_proto.driver",
    }
)
CORE_FORBIDDEN: Final = FORBIDDEN | SESSION_LAYER | {"logging", "smtp_proto.handlers"}
SESSION_MODULES: Final = frozenset(
    {"session.py", "handler.py", "context.py", "logs.py", "driver.py"}
)


def modules() -> list[Path]:
    """Every module of smtp_proto but the file-touching handlers/."""
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "handlers" not in p.relative_to(PACKAGE).parts
    )


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import, and for __import__/import_module of a literal."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            yield node.lineno, node.args[0].value


def violations(path: Path, forbidden: frozenset[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for line, name in imported(tree):
        parts = name.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if prefixes & forbidden:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    return found


def test_the_walk_sees_the_core() -> None:
    names = {p.name for p in modules()}
    assert {"connection.py", "commands.py", "data.py", "bdat.py", "state.py", "session.py"} <= names
    assert not any(p.parent.name == "handlers" for p in modules())


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_io_clock_entropy_or_upper_layer_imports(path: Path) -> None:
    assert violations(path, FORBIDDEN) == []


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if p.name not in SESSION_MODULES and p.name != "__init__.py"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_protocol_core_does_not_know_the_session_layer_nor_logs(path: Path) -> None:
    assert violations(path, CORE_FORBIDDEN) == []


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import os, ssl",
        "from time import monotonic",
        "from asyncio.tasks import sleep",
        "import gevent.socket",
        "from transports import threaded",
        "importlib.import_module('random')",
        "__import__('secrets')",
    ],
)
def test_the_check_catches_each_form(source: str) -> None:
    names = {name.split(".")[0] for _, name in imported(ast.parse(source))}
    assert names & FORBIDDEN
