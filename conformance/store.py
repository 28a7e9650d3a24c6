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


def stored_since(
    root: Path, before: set[Path], want: int, timeout: float, marker: bytes = b""
) -> list[bytes]:
    """Contents (CRLF turned into LF) of files new since `before` that hold `marker`, waiting
    up to `timeout` seconds for `want` of them. A server may store after its 250, and one that
    queues (Postfix) may still be delivering an earlier check's messages: the marker, unique
    to the message sent, tells them apart."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p.read_bytes().replace(b"\r\n", b"\n") for p in sorted(_files(root) - before)]
        found = [f for f in found if marker in f]
        if len(found) >= want or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)  # polling a directory: there is no event to wait on


def expect_stored(
    root: Path, before: set[Path], want: int, timeout: float, marker: bytes = b""
) -> list[bytes]:
    """Like `stored_since`, failing the check unless exactly `want` messages were stored."""
    found = stored_since(root, before, want, timeout, marker)
    if len(found) != want:
        raise CheckFailed(f"expected {want} stored message(s), found {len(found)}")
    return found
