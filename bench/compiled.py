"""Our engines over the compiled core, beside the plain ones in one run: "gevent-compiled".

`tree()` is a directory where `smtp_proto` is a copy of the core compiled with mypyc
(setup.py, SMTP_PROTO_COMPILE=1) and `transports`, `bench` and `conformance` link back to
the repository. A server started there (its working directory, first on its path) runs
the compiled core; it is built again when the core's sources change.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
SUFFIX: Final = "-compiled"
_TREE: Final = ROOT / "build" / "compiled"
_LINKED: Final = ("transports", "bench", "conformance")


def split(engine: str) -> tuple[str, bool]:
    """("gevent", True) for "gevent-compiled"; (engine, False) otherwise."""
    if engine.endswith(SUFFIX):
        return engine.removesuffix(SUFFIX), True
    return engine, False


def missing() -> str | None:
    """Why the compiled core cannot be built here, or None."""
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed (pip install mypy)"
    if shutil.which(os.environ.get("CC", "cc")) is None:
        return "no C compiler (cc)"
    return None


def _sources() -> str:
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "smtp_proto").rglob("*.py")), ROOT / "setup.py"]:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tree() -> Path:
    """The directory to run compiled servers from, built first when out of date."""
    stamp = _TREE / ".sources"
    wanted = _sources()
    if stamp.exists() and stamp.read_text() == wanted:
        return _TREE
    shutil.rmtree(_TREE, ignore_errors=True)
    _TREE.mkdir(parents=True)
    shutil.copytree(ROOT / "smtp_proto", _TREE / "smtp_proto", ignore=_no_caches)
    shutil.copy2(ROOT / "setup.py", _TREE / "setup.py")
    for name in _LINKED:
        (_TREE / name).symlink_to(ROOT / name, target_is_directory=True)
    print("building the compiled core (mypyc), once per version of its sources", flush=True)
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=_TREE,
        env={**os.environ, "SMTP_PROTO_COMPILE": "1"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(wanted)
    return _TREE


def _no_caches(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or name.endswith(".so")]
