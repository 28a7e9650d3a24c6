"""Reading the messages a server stored (Maildir or a plain directory), to compare content.

Only reads files; never deletes or changes the store.
"""

from __future__ import annotations

import time
from pathlib import Path

from conformance.verdict import CheckFailed


def _files(root: Path) -> set[Path]:
    """Message files: new/ and cur/ of a Maildir, else every file under `root`."""
    if (root / "new").is_dir() or (root / "cur").is_dir():
        found = [*(root / "new").glob("*"), *(root / "cur").glob("*")]
    else:
        found = list(root.rglob("*"))
    return {p for p in found if p.is_file() and not p.name.startswith(".")}


def snapshot(root: Path) -> set[Path]:
    """The message files present now; raises `CheckFailed` when `root` is not a directory."""
    if not root.is_dir():
        raise CheckFailed(f"--maildir {root} is not a directory")
    return _files(root)


def stored_since(root: Path, before: set[Path], want: int, timeout: float) -> list[bytes]:
    """Contents (CRLF turned into LF) of files new since `before`, waiting up to `timeout`
    seconds for `want` of them; a server may store after its 250."""
    deadline = time.monotonic() + timeout
    while True:
        new = sorted(_files(root) - before)
        if len(new) >= want or time.monotonic() >= deadline:
            break
        time.sleep(0.02)  # polling a directory: there is no event to wait on
    return [p.read_bytes().replace(b"\r\n", b"\n") for p in new]


def expect_stored(root: Path, before: set[Path], want: int, timeout: float) -> list[bytes]:
    """Like `stored_since`, failing the check unless exactly `want` messages were stored."""
    found = stored_since(root, before, want, timeout)
    if len(found) != want:
        raise CheckFailed(f"expected {want} stored message(s), found {len(found)}")
    return found
